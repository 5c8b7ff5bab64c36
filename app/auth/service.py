"""Login, tokens and the caller's own profile.

Rules: a WeChat user unknown to us becomes a resident on first login; a staff
member who bound WeChat logs in as themselves. A token carries only the user id
and the user's token version, so bumping the version (logout, password change)
kills every token of that user at once. Functions here flush, never commit.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from app.auth.models import UsedRefreshToken
from app.auth.principal import Principal
from app.auth.schemas import MePatch, RoleRead, TokenPair, UserRead
from app.core import clock
from app.core.errors import Conflict, Forbidden, Invalid, Unauthorized
from app.core.masking import mask_phone
from app.core.security import decode_token, issue_token, verify_password
from app.core.settings import Settings
from app.org.models import Region
from app.users.models import User
from app.wechat.client import WeChatIdentity

log = logging.getLogger("ejiaren.auth")

DEFAULT_NICKNAME = "微信用户"


class AccountDisabled(Forbidden):
    code = "auth.account_disabled"
    message = "账号已停用，请联系管理员"


class BadCredentials(Unauthorized):
    code = "auth.bad_credentials"
    message = "账号或密码错误"


class WechatAlreadyBound(Conflict):
    code = "auth.wechat_already_bound"
    message = "该微信已绑定其他账号，请换一个微信或联系管理员"


class InvalidHomeGrid(Invalid):
    code = "me.invalid_home_grid"
    message = "所选网格不存在，请重新选择"


class StaffOnly(Forbidden):
    code = "auth.staff_only"
    message = "仅工作人员可绑定微信登录"


# -- tokens ------------------------------------------------------------------


def issue_pair(settings: Settings, principal: Principal) -> TokenPair:
    user = principal.user
    return TokenPair(
        access_token=issue_token(
            settings, user_id=user.id, version=user.token_version, type="access"
        ),
        refresh_token=issue_token(
            settings, user_id=user.id, version=user.token_version, type="refresh"
        ),
        token_type="bearer",
        expires_in=settings.access_token_ttl_seconds,
        refresh_expires_in=settings.refresh_token_ttl_seconds,
        user=user_read(principal),
    )


def user_read(principal: Principal) -> UserRead:
    user = principal.user
    return UserRead(
        id=user.id,
        kind=user.kind,
        nickname=user.nickname,
        name=user.name,
        username=user.username,
        roles=[
            RoleRead(
                id=g.membership_id,
                role=g.role,
                region_id=g.region_id,
                region_name=g.region_name,
                region_level=g.region_level,
                department_id=g.department_id,
            )
            for g in principal.grants
        ],
        home_grid_id=user.home_grid_id,
        address=user.address,
        phone_masked=mask_phone(user.phone),
        has_wechat=user.openid is not None,
        on_duty=user.on_duty if user.kind == "staff" else None,
    )


# -- login -------------------------------------------------------------------


async def _user_by_openid(session: AsyncSession, openid: str) -> User | None:
    result = await session.execute(select(User).where(User.openid == openid))
    return result.scalar_one_or_none()


async def _release_openid_of_deleted(session: AsyncSession, user: User) -> None:
    """A deleted (anonymised) account gives up its WeChat, so that WeChat can
    register afresh instead of being locked out for good."""
    user.openid = None
    user.unionid = None
    await session.flush()


async def _create_resident(session: AsyncSession, identity: WeChatIdentity) -> User:
    try:
        async with session.begin_nested():
            user = User(
                kind="resident",
                openid=identity.openid,
                unionid=identity.unionid,
                nickname=DEFAULT_NICKNAME,
            )
            session.add(user)
    except IntegrityError:
        # Two first logins of the same WeChat user at once: the other one won.
        existing = await _user_by_openid(session, identity.openid)
        if existing is None:
            raise
        return existing
    return user


def _ensure_enabled(user: User) -> None:
    if user.disabled:
        raise AccountDisabled()


async def login_wechat(session: AsyncSession, *, identity: WeChatIdentity) -> User:
    """The account behind ``identity.openid``; an unknown openid becomes a new resident."""
    user = await _user_by_openid(session, identity.openid)
    if user is not None and user.deleted_at is not None:
        await _release_openid_of_deleted(session, user)
        user = None
    if user is None:
        user = await _create_resident(session, identity)
    _ensure_enabled(user)
    if identity.unionid and user.unionid != identity.unionid:
        user.unionid = identity.unionid
    user.last_login_at = clock.now()
    await session.flush()
    log.info("login user=%s via=wechat", user.id)
    return user


async def login_password(session: AsyncSession, *, username: str, password: str) -> User:
    """Staff login. An unknown username and a wrong password get the same answer
    and cost the same time (the hash is checked against a dummy)."""
    # Accounts are unique whatever the case (``users.service``), so the case
    # typed does not matter. Both sides go through the database's ``lower``
    # (SQLite's folds ASCII only): a name Python would fold differently, as
    # one made by ``ejiaren create-admin`` may be, still finds its account.
    result = await session.execute(
        select(User).where(func.lower(User.username) == func.lower(username))
    )
    user = result.scalar_one_or_none()
    usable = user is not None and user.deleted_at is None
    password_hash = user.password_hash if usable and user is not None else None
    # argon2 is deliberately slow: keep it off the event loop.
    if not await run_in_threadpool(verify_password, password, password_hash):
        raise BadCredentials()
    assert user is not None
    _ensure_enabled(user)
    user.last_login_at = clock.now()
    await session.flush()
    log.info("login user=%s via=password", user.id)
    return user


# A refresh token presented again this soon after its exchange is a client's
# concurrent refresh, not a stolen copy (``refresh``). Short, so a copy used
# later still revokes everything.
REFRESH_REUSE_GRACE = timedelta(seconds=10)


async def refresh(session: AsyncSession, settings: Settings, *, refresh_token: str) -> User:
    """The user behind a refresh token still valid for the user's token version.

    A refresh token is exchanged once (rotation): its id is recorded, and a
    second exchange of the same token means it was copied — the holder of a
    stolen token and the user cannot be told apart, so every token of the user
    is revoked (as by logout) and both must log in again (OAuth 2.0 Security
    BCP, refresh token reuse detection) — unless the second exchange comes
    within ``REFRESH_REUSE_GRACE`` of the first (401 ``auth.refresh_superseded``).
    """
    claims = decode_token(settings, refresh_token, expected="refresh")
    user = await session.get(User, claims.user_id)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("auth.invalid_token", "登录凭证无效，请重新登录")
    if user.disabled:
        # A token, not credentials, was presented: a token that no longer works
        # is 401, as an access token of a disabled account is (auth.dependencies).
        raise Unauthorized(AccountDisabled.code, AccountDisabled.message)
    if user.token_version != claims.version:
        raise Unauthorized("auth.token_revoked", "登录已失效，请重新登录")
    if not claims.jti:
        raise Unauthorized("auth.invalid_token", "登录凭证无效，请重新登录")
    try:
        async with session.begin_nested():
            session.add(
                UsedRefreshToken(
                    jti=claims.jti,
                    user_id=user.id,
                    used_at=clock.now(),
                    expires_at=datetime.fromtimestamp(claims.expires_at, UTC),
                )
            )
    except IntegrityError:
        used_at = await session.scalar(
            select(UsedRefreshToken.used_at).where(UsedRefreshToken.jti == claims.jti)
        )
        if used_at is not None and clock.now() - used_at <= REFRESH_REUSE_GRACE:
            # The same token sent again within seconds: a client's concurrent
            # refreshes (several requests finding the access token expired at
            # once), not a copy. Refused, and nothing revoked: the exchange
            # that won stays valid and the client goes on with its tokens.
            raise Unauthorized(
                "auth.refresh_superseded", "登录凭证刚刚已更新，请使用最新的登录凭证"
            ) from None
        await logout(session, user=user)
        # Committed before the refusal: the revocation must outlive the error.
        await session.commit()
        log.warning("refresh token reused; all tokens revoked user=%s", user.id)
        raise Unauthorized(
            "auth.refresh_reused", "登录凭证已被使用过，为安全起见已退出所有设备，请重新登录"
        ) from None
    return user


async def purge_used_refresh_tokens(session: AsyncSession) -> int:
    """Forget exchanged refresh tokens past their expiry (background pass)."""
    result = await session.execute(
        delete(UsedRefreshToken).where(UsedRefreshToken.expires_at < clock.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def logout(session: AsyncSession, *, user: User) -> None:
    """Every token issued to ``user`` so far stops working."""
    await session.execute(
        update(User).where(User.id == user.id).values(token_version=User.token_version + 1)
    )
    await session.flush()


# -- me ----------------------------------------------------------------------


async def update_me(session: AsyncSession, *, user: User, changes: MePatch) -> User:
    sent = changes.model_fields_set
    if "nickname" in sent and changes.nickname is not None:
        user.nickname = changes.nickname
    if "home_grid_id" in sent:
        if changes.home_grid_id is not None:
            grid = await session.get(Region, changes.home_grid_id)
            if grid is None or grid.level != "grid":
                raise InvalidHomeGrid(details={"field": "home_grid_id"})
        user.home_grid_id = changes.home_grid_id
    if "address" in sent:
        user.address = changes.address
    if "on_duty" in sent:
        # A worker on leave takes themselves out of automatic dispatch (DESIGN §5:
        # on-duty workers first); their open cases stay theirs.
        if user.kind != "staff":
            raise StaffOnly(message="仅工作人员可设置在岗状态")
        user.on_duty = bool(changes.on_duty)
    await session.flush()
    return user


def ensure_can_bind_wechat(user: User) -> None:
    """Residents are their WeChat account; only staff bind one to a password account."""
    if user.kind != "staff":
        raise StaffOnly()


async def bind_wechat(session: AsyncSession, *, user: User, identity: WeChatIdentity) -> User:
    """Bind a staff account to a WeChat user so the worker app can log in with
    ``wx.login`` alone. A new binding replaces the old one."""
    ensure_can_bind_wechat(user)
    holder = await _user_by_openid(session, identity.openid)
    if holder is not None and holder.id != user.id:
        if holder.deleted_at is None:
            raise WechatAlreadyBound()
        await _release_openid_of_deleted(session, holder)
    try:
        async with session.begin_nested():
            user.openid = identity.openid
            if identity.unionid:
                user.unionid = identity.unionid
    except IntegrityError:
        # Bound to another account by a concurrent request since the check above.
        raise WechatAlreadyBound() from None
    return user


async def bind_phone(session: AsyncSession, *, user: User, phone: str) -> User:
    user.phone = phone
    await session.flush()
    return user
