"""Staff management (/admin/staff): accounts, roles, on-duty status.

Only admins (community, street, district admins and superadmin) use these
routes, each within the region subtrees they administer; a staff member or a
region outside that scope is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import CurrentAdmin, SettingsDep
from app.core.db import SessionDep
from app.core.errors import errors
from app.core.idempotency import IdempotencyKey, run_idempotent
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.pagination import Cursor, Limit, Page, cursor_id, encode_cursor
from app.core.ratelimit import Rate
from app.users import service
from app.users.schemas import (
    RoleGrantCreate,
    StaffCreate,
    StaffRead,
    StaffRoleFilter,
    StaffUpdate,
)

router = APIRouter(prefix="/admin/staff", tags=["staff"])

# Ids are 64-bit in both databases: a larger one is a 422 here, not a driver error.
UserId = Annotated[int, PLAIN_DIGITS, id_path("工作人员 id")]
RoleId = Annotated[int, PLAIN_DIGITS, id_path("角色（授权记录）id")]


@router.post(
    "",
    status_code=201,
    summary="新建工作人员账号",
    response_model=StaffRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def create_staff(
    request: Request,
    body: StaffCreate,
    principal: CurrentAdmin,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> StaffRead:
    """新建工作人员（账号密码登录控制台或网格员端）并授予第一个角色。

    - 区划不在调用者管辖范围内：404 `region.not_found`
    - 角色不低于调用者在该区划的级别：403 `staff.role_too_high`
    - 角色与区划层级不符：422 `staff.role_level_mismatch`
    - `department_staff` 缺少或给错部门：422 `staff.department_required` / 404 `department.not_found`
    - 登录账号已被使用：409 `staff.username_taken`
    """

    async def work() -> StaffRead:
        user = await service.create_staff(
            session,
            principal=principal,
            username=body.username,
            password=body.password,
            name=body.name,
            phone=body.phone,
            role=body.role,
            region_id=body.region_id,
            department_id=body.department_id,
        )
        return await service.read_staff(session, principal, user)

    return await run_idempotent(
        request, session, owner=f"user:{principal.id}", key=key, status_code=201, work=work
    )


@router.get(
    "",
    summary="工作人员列表",
    response_model=Page[StaffRead],
    responses=errors(401, 403, 404, 422),
)
async def list_staff(
    principal: CurrentAdmin,
    session: SessionDep,
    region_id: Annotated[
        int | None, Query(description="只列出在该区划及其下级区划持有角色的工作人员")
    ] = None,
    role: Annotated[
        StaffRoleFilter | None,
        Query(description="只列出持有该角色的工作人员；与 region_id 同用时指在该区划内持有该角色"),
    ] = None,
    q: Annotated[
        str | None, Query(max_length=64, description="按姓名、登录账号或手机号模糊查找")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[StaffRead]:
    """按创建时间倒序列出调用者可见的工作人员（至少有一个角色在其管辖范围内；
    系统管理员可见全部，包括已无角色的账号）。`region_id` 不在管辖范围内时返回 404。"""
    items, more = await service.list_staff(
        session,
        principal=principal,
        region_id=region_id,
        role=role,
        q=q.strip() if q else None,
        after_id=cursor_id(cursor),
        limit=limit,
    )
    return Page[StaffRead](
        items=items, next_cursor=encode_cursor({"id": items[-1].id}) if more else None
    )


@router.get(
    "/{user_id}",
    summary="工作人员详情",
    response_model=StaffRead,
    responses=errors(401, 403, 404),
)
async def get_staff(user_id: UserId, principal: CurrentAdmin, session: SessionDep) -> StaffRead:
    """工作人员不存在或不在调用者管辖范围内时返回 404 `staff.not_found`。"""
    return await service.get_staff(session, principal=principal, user_id=user_id)


@router.patch(
    "/{user_id}",
    summary="修改工作人员：在岗、停用、重置密码、姓名、手机号",
    response_model=StaffRead,
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def update_staff(
    request: Request,
    user_id: UserId,
    body: StaffUpdate,
    principal: CurrentAdmin,
    session: SessionDep,
    settings: SettingsDep,
) -> StaffRead:
    """只修改请求中出现的字段。停用账号或重置密码会使该账号在所有设备上的登录立即失效。

    - 只能修改所持角色全部低于自己级别的工作人员，否则 403 `staff.role_too_high`
      （修改自己的账号除外）
    - 不能停用自己：409 `staff.cannot_disable_self`
    - 修改自己的密码须带 `current_password`（当前密码），缺少或不正确时 403
      `staff.current_password_wrong`；与密码登录同一频率限制（429
      `auth.login_rate_limited`），不能借此猜密码
    """
    if user_id == principal.id and body.password is not None:
        # Each try checks the current password: limited like a login attempt.
        await request.app.state.limiter.hit(
            f"password:user:{principal.id}",
            Rate.parse(settings.rate_limit_login),
            code="auth.login_rate_limited",
            message="尝试次数过多，请稍后再试",
        )
    user = await service.update_staff(
        session,
        principal=principal,
        user_id=user_id,
        changes=body.model_dump(exclude_unset=True),
    )
    return await service.read_staff(session, principal, user)


@router.post(
    "/{user_id}/roles",
    status_code=201,
    summary="为工作人员增加角色",
    response_model=StaffRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def grant_role(
    user_id: UserId, body: RoleGrantCreate, principal: CurrentAdmin, session: SessionDep
) -> StaffRead:
    """授予一个新角色，返回该工作人员的完整信息（新角色在 `roles` 中）。

    规则同新建账号；同一区划已持有该角色时返回 409 `staff.role_exists`。
    """
    user = await service.grant_role(
        session,
        principal=principal,
        user_id=user_id,
        role=body.role,
        region_id=body.region_id,
        department_id=body.department_id,
    )
    return await service.read_staff(session, principal, user)


@router.delete(
    "/{user_id}/roles/{role_id}",
    status_code=204,
    summary="撤销工作人员的角色",
    response_class=Response,
    responses=errors(401, 403, 404, 409),
)
async def revoke_role(
    user_id: UserId, role_id: RoleId, principal: CurrentAdmin, session: SessionDep
) -> Response:
    """`role_id` 为 `roles[].id`。撤销立即生效：该工作人员的下一次请求即按新角色判断权限。

    - 只能撤销低于自己级别的角色：403 `staff.role_too_high`
    - 不能撤销自己仅有的管理员角色：409 `staff.cannot_remove_own_admin`
    - 不能撤销他人仅有的角色（撤销后无人能管理该账号，离岗请停用账号）：409 `staff.last_role`；
      系统管理员不受此限
    """
    await service.revoke_role(session, principal=principal, user_id=user_id, membership_id=role_id)
    return Response(status_code=204)
