"""Dependencies that authenticate the caller and check the route is for their role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, STAFF_ROLES, Grant, Principal
from app.core.db import SessionDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import decode_token
from app.core.settings import Settings
from app.org.models import Region
from app.users.models import Membership, User

_bearer = HTTPBearer(auto_error=False, description="登录接口返回的 access_token")


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_app_settings)]


async def load_grants(session: AsyncSession, user_id: int) -> list[Grant]:
    rows = await session.execute(
        select(Membership, Region.path, Region.level, Region.name)
        .outerjoin(Region, Region.id == Membership.region_id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.id)
    )
    return [
        Grant(
            membership_id=m.id,
            role=m.role,
            region_id=m.region_id,
            region_path=path,
            region_level=level,
            region_name=name,
            department_id=m.department_id,
        )
        for m, path, level, name in rows
    ]


async def load_principal(session: AsyncSession, user: User) -> Principal:
    return Principal(user=user, grants=await load_grants(session, user.id))


async def optional_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal | None:
    if credentials is None:
        return None
    claims = decode_token(settings, credentials.credentials, expected="access")
    user = await session.get(User, claims.user_id)
    if user is None or user.deleted_at is not None:
        raise Unauthorized("auth.invalid_token", "登录凭证无效，请重新登录")
    if user.disabled:
        raise Unauthorized("auth.account_disabled", "账号已停用，请联系管理员")
    if user.token_version != claims.version:
        raise Unauthorized("auth.token_revoked", "登录已失效，请重新登录")
    principal = await load_principal(session, user)
    # End the read transaction of authentication: the handler's own transaction
    # then starts at its first statement, after any rate-limit or idempotency side
    # transaction and any network call it makes first. Objects stay attached.
    await session.commit()
    request.state.principal = principal
    return principal


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
