"""Dependencies that authenticate the caller and check the route is for their role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from app.auth.principal import ADMIN_ROLES, STAFF_ROLES, Grant, Principal
from app.core.db import Database, SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.rawsql import attach, select_list, standalone, values
from app.core.security import decode_token
from app.core.settings import Settings
from app.org.models import Region
from app.users.models import Membership, User

_bearer = HTTPBearer(auto_error=False, description="登录接口返回的 access_token")
API_KEY_HEADER = "X-API-Key"
# Declared only on the routes that accept keys, so the OpenAPI file says which those are.
_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="第三方接入方的 API Key（管理端 POST /admin/api-clients 创建，只显示一次）",
)


async def get_app_settings(request: Request) -> Settings:
    # ``async``: FastAPI runs a plain ``def`` dependency in a worker thread, a
    # thread hop on every authenticated request for one attribute read.
    return request.app.state.settings  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


def _grant(m: Membership, path: str, level: str, name: str) -> Grant:
    return Grant(
        membership_id=m.id,
        role=m.role,
        region_id=m.region_id,
        region_path=path,
        region_level=level,
        region_name=name,
        department_id=m.department_id,
    )


async def load_grants(session: AsyncSession, user_id: int) -> list[Grant]:
    rows = await session.execute(
        select(Membership, Region.path, Region.level, Region.name)
        .outerjoin(Region, Region.id == Membership.region_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.id)
    )
    return [_grant(m, path, level, name) for m, path, level, name in rows]


async def load_principal(session: AsyncSession, user: User) -> Principal:
    return Principal(user=user, grants=await load_grants(session, user.id))


# A user's grants as columns of a row that joins ``user_account u`` to
# ``membership m`` and ``region r`` (read back with ``grant_of_row``).
GRANT_COLUMNS = (
    "m.id AS m_id, m.role AS m_role, m.region_id AS m_region_id,"
    " m.department_id AS m_department_id,"
    " r.path AS r_path, r.level AS r_level, r.name AS r_name"
)
GRANT_JOINS = (
    "user_account u LEFT JOIN membership m ON m.user_id = u.id"
    " LEFT JOIN region r ON r.id = m.region_id"
)


def grant_of_row(row: Any) -> Grant | None:
    """The grant of a row selected with ``GRANT_COLUMNS``; None for a user with none."""
    if row["m_id"] is None:
        return None
    return Grant(
        membership_id=row["m_id"],
        role=row["m_role"],
        region_id=row["m_region_id"],
        region_path=row["r_path"] or "",
        region_level=row["r_level"] or "",
        region_name=row["r_name"] or "",
        department_id=row["m_department_id"],
    )


# The caller and their grants, in one statement (see ``_load_caller``).
_CALLER = (
    f"SELECT {select_list(User, 'u')}, {GRANT_COLUMNS}"
    f" FROM {GRANT_JOINS} WHERE u.id = $1 ORDER BY m.id"
)


async def _load_caller(db: Database, session: AsyncSession, user_id: int) -> Principal | None:
    """The user and their grants, read on every request (roles are never taken
    from the token). One statement outside the request's transaction
    (``rawsql.standalone``: no session, BEGIN or COMMIT, which cost more than
    the query); the user is then attached to ``session`` as if the ORM had
    loaded it, so handlers change it as usual. ``None``: no such user."""
    async with standalone(db, write=False) as raw:
        rows = await raw.fetch(_CALLER, user_id)
    user_values = values(User, rows[0], "u") if rows else None
    if user_values is None:
        return None
    grants = [grant for grant in map(grant_of_row, rows) if grant is not None]
    return Principal(user=attach(session, User, user_values), grants=grants)


async def _resolve(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    credentials: HTTPAuthorizationCredentials | None,
    scope: str | None,
) -> Principal | None:
    """The caller: a user by bearer token, else a third party by ``X-API-Key``.

    A key is honoured only where the route names the scope it needs (``scope``);
    anywhere else it is 403 ``api_key.route_not_allowed``, so a route accepts
    keys only by saying so.
    """
    if credentials is None:
        key = request.headers.get(API_KEY_HEADER)
        if not key:
            return None
        # Imported here: the integrations domain builds on this module.
        from app.integrations import service as integrations

        principal = await integrations.authenticate(request, session, settings, key)
        if scope is None:
            raise Forbidden("api_key.route_not_allowed", "该接口不接受 API Key 调用")
        if not principal.has_scope(scope):
            raise Forbidden(
                "api_key.scope_missing",
                f"API Key 没有 {scope} 权限",
                details={"required_scope": scope},
            )
        await session.commit()
        request.state.principal = principal
        return principal
    claims = decode_token(settings, credentials.credentials, expected="access")
    caller = await _load_caller(request.app.state.db, session, claims.user_id)
    if caller is None or caller.user.deleted_at is not None:
        raise Unauthorized(*INVALID_TOKEN)
    if caller.user.disabled:
        raise Unauthorized("auth.account_disabled", "账号已停用，请联系管理员")
    if caller.user.token_version != claims.version:
        raise Unauthorized("auth.token_revoked", "登录已失效，请重新登录")
    # No transaction was opened: the handler's own starts at its first statement,
    # after any rate-limit or idempotency side statement and any network call.
    if caller.user.kind == "resident" and request.method not in READ_METHODS:
        session.info[_RESIDENT_WRITER] = caller.user.id
    request.state.principal = caller
    return caller


# A resident's write request, and the account it writes for (``_resolve``).
_RESIDENT_WRITER = "ejiaren_resident_writer"
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
INVALID_TOKEN = ("auth.invalid_token", "登录凭证无效，请重新登录")


def release_resident_writer(session: AsyncSession) -> None:
    """For the one write that must not wait on its own account: its deletion,
    which locks the account row itself (``privacy.service.erase``)."""
    session.info.pop(_RESIDENT_WRITER, None)


@event.listens_for(Session, "after_begin")
def _resident_still_there(
    session: Session, _transaction: SessionTransaction, connection: Connection
) -> None:
    """A resident's write transaction first reads their account ``FOR KEY
    SHARE`` (PostgreSQL; on SQLite writers take turns for the whole database).
    The request was authenticated before its transaction began, so an account
    deletion may have committed since, or be under way: it holds the row ``FOR
    UPDATE``, so this waits for it, reads it deleted and answers 401, writing
    nothing. A deletion that starts later waits for this transaction and then
    erases what it wrote. Without this, a case, rating, booking, follow or
    photo sent at the moment of deletion was kept, unmasked, after it."""
    uid = session.info.get(_RESIDENT_WRITER)
    if uid is None or _transaction.nested:
        return  # a savepoint is inside a transaction that already checked
    row = connection.execute(
        select(User.deleted_at).where(User.id == uid).with_for_update(read=True, key_share=True)
    ).first()
    if row is None or row[0] is not None:
        raise Unauthorized(*INVALID_TOKEN)


async def optional_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    return await _resolve(request, session, settings, credentials, None)


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    if principal is None:
        raise Unauthorized()
    return principal


async def current_staff(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.grants or not principal.roles & STAFF_ROLES:
        raise Forbidden("auth.staff_only", "仅限工作人员使用")
    return principal


async def current_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.roles & ADMIN_ROLES:
        raise Forbidden("auth.admin_only", "仅限管理员使用")
    return principal


async def current_superadmin(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.is_superadmin:
        raise Forbidden("auth.superadmin_only", "仅限系统管理员使用")
    return principal


OptionalUser = Annotated[Principal | None, Depends(optional_principal)]
CurrentUser = Annotated[Principal, Depends(current_principal)]
CurrentStaff = Annotated[Principal, Depends(current_staff)]
CurrentAdmin = Annotated[Principal, Depends(current_admin)]
CurrentSuperadmin = Annotated[Principal, Depends(current_superadmin)]


# ------------------------------------------------------------ routes open to API keys

Dependency = Callable[..., Awaitable[Principal | None]]


def principal_or_key(scope: str, *, required: bool = True, role: str | None = None) -> Dependency:
    """A user (checked as ``role``: ``staff`` or ``admin``, any user when None),
    or an API key holding ``scope``. ``required=False`` lets anonymous callers
    through (public routes), while a key given there is still checked."""

    async def dependency(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        _key: Annotated[str | None, Depends(_api_key)],
    ) -> Principal | None:
        principal = await _resolve(request, session, settings, credentials, scope)
        if principal is None:
            if required:
                raise Unauthorized()
            return None
        if principal.api_client is None:
            if role == "staff":
                await current_staff(principal)
            elif role == "admin":
                await current_admin(principal)
        return principal

    dependency.__name__ = f"principal_or_key_{scope.replace(':', '_')}_{role or 'user'}"
    return dependency


def key_if_given(scope: str) -> Dependency:
    """For routes open to everyone: no user is read, but a key given is checked
    (and counted against its rate limit)."""

    async def dependency(
        request: Request,
        session: SessionDep,
        settings: SettingsDep,
        _key: Annotated[str | None, Depends(_api_key)],
    ) -> Principal | None:
        return await _resolve(request, session, settings, None, scope)

    dependency.__name__ = f"key_if_given_{scope.replace(':', '_')}"
    return dependency


_reports_reader = principal_or_key("reports:read")
_reports_writer = principal_or_key("reports:write")
_reports_admin_reader = principal_or_key("reports:read", role="admin")
_stats_reader = principal_or_key("stats:read", role="staff")
_policies_reader = principal_or_key("policies:read", required=False)
_services_reader = key_if_given("services:read")

UserOrReportsReadKey = Annotated[Principal, Depends(_reports_reader)]
UserOrReportsWriteKey = Annotated[Principal, Depends(_reports_writer)]
AdminOrReportsReadKey = Annotated[Principal, Depends(_reports_admin_reader)]
StaffOrStatsKey = Annotated[Principal, Depends(_stats_reader)]
OptionalUserOrPoliciesKey = Annotated[Principal | None, Depends(_policies_reader)]
OptionalServicesKey = Annotated[Principal | None, Depends(_services_reader)]
