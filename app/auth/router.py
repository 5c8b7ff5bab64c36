"""Login, token refresh, logout and the caller's own profile (/auth, /me).

Calls to WeChat and rate-limit counting run in dependencies declared before the
handler's session is used: FastAPI solves dependencies in order, and
authentication ends its own read transaction, so no transaction of the request
is open meanwhile. A slow WeChat then holds no database connection, and on
SQLite the limiter's short write transaction never queues behind our own
``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from app.auth import service
from app.auth.dependencies import CurrentUser, SettingsDep, load_principal
from app.auth.schemas import (
    MePatch,
    PasswordLoginIn,
    PhoneBindIn,
    RefreshIn,
    TokenPair,
    UserRead,
    WechatBindIn,
    WechatLoginIn,
)
from app.core.db import SessionDep
from app.core.errors import ErrorEnvelope, errors
from app.core.net import client_ip, limit_key
from app.core.ratelimit import Rate
from app.core.settings import Settings
from app.wechat.client import WeChatClient, WeChatIdentity

router = APIRouter()

LOGIN_LIMIT_CODE = "auth.login_rate_limited"
LOGIN_LIMIT_MESSAGE = "登录尝试过于频繁，请稍后再试"
WECHAT_LIMIT_CODE = "auth.wechat_rate_limited"
WECHAT_LIMIT_MESSAGE = "操作过于频繁，请稍后再试"


def _wechat_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that calls WeChat: bad code (400), high-risk
    user (403), quota (429), WeChat busy (503), failing (502) or slow (504)."""
    responses = errors(400, 403, 429, 503, *statuses)
    responses[502] = {"model": ErrorEnvelope, "description": "微信服务出错或无法连接"}
    responses[504] = {"model": ErrorEnvelope, "description": "微信服务响应超时"}
    return responses


# -- dependencies that run before the transaction ----------------------------


async def _hit(request: Request, settings: Settings, key: str, code: str, message: str) -> None:
    await request.app.state.limiter.hit(
        key, Rate.parse(settings.rate_limit_login), code=code, message=message
    )


def _wechat(request: Request) -> WeChatClient:
    return request.app.state.wechat  # type: ignore[no-any-return]


async def _wechat_login_identity(
    request: Request, body: WechatLoginIn, settings: SettingsDep
) -> WeChatIdentity:
    """Per-address limit, then the code exchange, then the per-WeChat-user limit
    (the openid is only known after the exchange)."""
    address = limit_key(client_ip(request, settings.trusted_proxies))
    await _hit(request, settings, f"login:ip:{address}", LOGIN_LIMIT_CODE, LOGIN_LIMIT_MESSAGE)
    identity = await _wechat(request).code2session(body.code)
    await _hit(
        request, settings, f"login:openid:{identity.openid}", LOGIN_LIMIT_CODE, LOGIN_LIMIT_MESSAGE
    )
    return identity


async def _password_login_body(
    request: Request, body: PasswordLoginIn, settings: SettingsDep
) -> PasswordLoginIn:
    """Per-address and per-username limits: guessing one account's password
    from many addresses is slowed down as much as guessing from one."""
    address = limit_key(client_ip(request, settings.trusted_proxies))
    await _hit(request, settings, f"login:ip:{address}", LOGIN_LIMIT_CODE, LOGIN_LIMIT_MESSAGE)
    await _hit(
        # Every spelling of one account counts as that account.
        request,
        settings,
        f"login:user:{body.username.lower()}",
        LOGIN_LIMIT_CODE,
        LOGIN_LIMIT_MESSAGE,
    )
    return body


async def _bind_identity(
    request: Request, body: WechatBindIn, principal: CurrentUser, settings: SettingsDep
) -> WeChatIdentity:
    """Authentication (which ends its own read transaction) and the staff check
    come first, so nobody else can make us spend WeChat calls."""
    service.ensure_can_bind_wechat(principal.user)
    await _hit(
        request, settings, f"wechat:user:{principal.id}", WECHAT_LIMIT_CODE, WECHAT_LIMIT_MESSAGE
    )
    return await _wechat(request).code2session(body.code)


async def _bound_phone(
    request: Request, body: PhoneBindIn, principal: CurrentUser, settings: SettingsDep
) -> str:
    await _hit(
        request, settings, f"wechat:user:{principal.id}", WECHAT_LIMIT_CODE, WECHAT_LIMIT_MESSAGE
    )
    return await _wechat(request).get_phone_number(body.code)


# -- auth --------------------------------------------------------------------


@router.post(
    "/auth/wechat/login",
    tags=["auth"],
    summary="微信登录：用 wx.login 的 code 换取令牌（新用户自动注册为居民）",
    response_model=TokenPair,
    responses=_wechat_errors(422),
)
async def wechat_login(
    identity: Annotated[WeChatIdentity, Depends(_wechat_login_identity)],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    """小程序启动时调用 `wx.login()` 取得 code 后提交。

    - 未注册的微信用户自动注册为居民；已绑定微信的工作人员以本人身份登录。
    - 错误码：`wechat.invalid_code`（400，code 无效或过期，请重新 wx.login）、
      `wechat.high_risk_user`（403）、`auth.account_disabled`（403）、
      `wechat.rate_limited` / `auth.login_rate_limited`（429，见 `Retry-After`）、
      `wechat.busy`（503）、`wechat.unavailable` / `wechat.error`（502）、
      `wechat.timeout`（504）。
    """
    user = await service.login_wechat(session, identity=identity)
    return service.issue_pair(settings, await load_principal(session, user))


@router.post(
    "/auth/password/login",
    tags=["auth"],
    summary="工作人员账号密码登录",
    response_model=TokenPair,
    responses=errors(401, 403, 422, 429),
)
async def password_login(
    body: Annotated[PasswordLoginIn, Depends(_password_login_body)],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPair:
    """账号不存在与密码错误返回同一个错误 `auth.bad_credentials`（401）；
    账号停用为 `auth.account_disabled`（403）；按来源地址和账号限流（429）。"""
    user = await service.login_password(session, username=body.username, password=body.password)
    return service.issue_pair(settings, await load_principal(session, user))


@router.post(
    "/auth/refresh",
    tags=["auth"],
    summary="用 refresh_token 换取新的令牌",
    response_model=TokenPair,
    responses=errors(401, 422),
)
async def refresh(body: RefreshIn, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """返回一对新令牌。每个 refresh_token 只能用一次：用过的再次提交说明它已泄露，
    该用户的全部令牌立即失效（`auth.refresh_reused`，401），需重新登录；但在上次使用后 10 秒内
    再次提交（同一客户端的并发刷新）只拒绝这一次（`auth.refresh_superseded`，401），不吊销任何令牌，
    客户端改用刚拿到的新令牌即可。
    退出登录或修改密码之前签发的 refresh_token 一律失效（`auth.token_revoked`，401）；
    过期为 `auth.token_expired`；把 access_token 当作 refresh_token 提交为 `auth.invalid_token`；
    账号已停用为 `auth.account_disabled`（401）。"""
    user = await service.refresh(session, settings, refresh_token=body.refresh_token)
    return service.issue_pair(settings, await load_principal(session, user))


@router.post(
    "/auth/logout",
    tags=["auth"],
    summary="退出登录：当前用户的全部令牌立即失效",
    status_code=204,
    response_class=Response,
    response_model=None,
    responses={204: {"description": "已退出（无响应体）"}, **errors(401)},
)
async def logout(principal: CurrentUser, session: SessionDep) -> Response:
    """成功返回 204（无响应体）。会使该用户在所有设备上的 access_token 和
    refresh_token 同时失效，需要重新登录。"""
    await service.logout(session, user=principal.user)
    return Response(status_code=204)


# -- me ----------------------------------------------------------------------


@router.get(
    "/me",
    tags=["me"],
    summary="当前用户资料与角色",
    response_model=UserRead,
    responses=errors(401),
)
async def get_me(principal: CurrentUser) -> UserRead:
    """角色每次请求都从数据库读取，撤销的角色立即消失。手机号只返回脱敏值。"""
    return service.user_read(principal)


@router.patch(
    "/me",
    tags=["me"],
    summary="修改昵称、所在网格、住址；工作人员设置在岗",
    response_model=UserRead,
    responses=errors(401, 403, 422),
)
async def patch_me(body: MePatch, principal: CurrentUser, session: SessionDep) -> UserRead:
    """只修改提交了的字段。`home_grid_id` 必须是网格级区划，否则为
    `me.invalid_home_grid`（422）；昵称去掉首尾空格后 1–32 个字符。`on_duty` 只有工作人员
    可以设置（居民 403 `auth.staff_only`）：请假时设为 false，自动派单改派给网格长等
    （DESIGN §5），已派给本人的诉求不变。"""
    await service.update_me(session, user=principal.user, changes=body)
    return service.user_read(principal)


@router.post(
    "/me/wechat",
    tags=["me"],
    summary="工作人员绑定微信（之后工作端可直接微信登录）",
    response_model=UserRead,
    responses=_wechat_errors(401, 409, 422),
)
async def bind_wechat(
    identity: Annotated[WeChatIdentity, Depends(_bind_identity)],
    principal: CurrentUser,
    session: SessionDep,
) -> UserRead:
    """工作人员用账号密码登录后，在工作端小程序中调用 `wx.login()` 并提交 code。
    该微信已绑定其他账号为 `auth.wechat_already_bound`（409）；居民调用为
    `auth.staff_only`（403）。重复绑定同一微信无副作用；绑定新微信会替换旧的。"""
    await service.bind_wechat(session, user=principal.user, identity=identity)
    return service.user_read(principal)


@router.post(
    "/me/phone",
    tags=["me"],
    summary="绑定手机号（微信手机号快速验证）",
    response_model=UserRead,
    responses=_wechat_errors(401, 422),
)
async def bind_phone(
    phone: Annotated[str, Depends(_bound_phone)],
    principal: CurrentUser,
    session: SessionDep,
) -> UserRead:
    """提交手机号快速验证组件返回的 code；服务端向微信换取手机号并保存，
    响应中只返回脱敏手机号 `phone_masked`。"""
    await service.bind_phone(session, user=principal.user, phone=phone)
    return service.user_read(principal)
