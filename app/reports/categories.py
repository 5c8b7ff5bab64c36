"""Categories (/categories, /admin/categories) and the holiday table (/admin/holidays).

Both are global configuration that changes every deadline in every region, so
changing them is for those whose scope is every region: superadmins, and a
district admin when their district is the only one (where several districts
share one service, one district's admin would change the others' routing and
deadlines). Any admin may read them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select

from app.auth.dependencies import CurrentAdmin, CurrentUser
from app.auth.principal import Principal
from app.core import clock
from app.core.db import SessionDep
from app.core.errors import Forbidden, errors
from app.core.idempotency import IdempotencyKey, run_idempotent
from app.core.pagination import Page
from app.org.models import Region
from app.reports import calendar as work_calendar
from app.reports import category_service
from app.reports.category_schemas import (
    MAX_YEAR,
    MIN_YEAR,
    CategoryCreate,
    CategoryRead,
    CategoryUpdate,
    HolidayDate,
    HolidayPage,
    HolidayPut,
    HolidayRead,
)

router = APIRouter(tags=["categories"])

CONFIG_ROLES = frozenset({"superadmin", "district_admin"})


async def current_config_admin(principal: CurrentUser, session: SessionDep) -> Principal:
    if principal.is_superadmin:
        return principal
    if principal.roles & CONFIG_ROLES:
        roots = list(await session.scalars(select(Region.path).where(Region.parent_id.is_(None))))
        if roots and all(principal.covers(path, roles=CONFIG_ROLES) for path in roots):
            return principal
    raise Forbidden(
        "auth.config_admin_only",
        "仅限系统管理员（或唯一一个区的区级管理员）修改全局配置",
    )


ConfigAdmin = Annotated[Principal, Depends(current_config_admin)]
CodePath = Annotated[str, Path(description="类别代码", examples=["fume_noise"])]
DatePath = Annotated[
    HolidayDate, Path(description="日期（北京时间），YYYY-MM-DD", examples=["2026-10-01"])
]


@router.get(
    "/categories",
    summary="诉求类别列表（无需登录）",
    response_model=Page[CategoryRead],
)
async def list_categories(session: SessionDep) -> Page[CategoryRead]:
    """启用中的全部类别，按 `sort_order` 排列，含响应时限与各复杂度的办结时限。
    列表不分页，`next_cursor` 恒为 null。"""
    rows = await category_service.list_categories(session)
    return Page[CategoryRead](items=[category_service.category_read(c) for c in rows])


@router.get(
    "/admin/categories",
    summary="全部诉求类别（含已停用）",
    response_model=Page[CategoryRead],
    responses=errors(401, 403),
)
async def list_all_categories(_: CurrentAdmin, session: SessionDep) -> Page[CategoryRead]:
    """管理端用：含已停用（`active` 为 false）的类别，按 `sort_order` 排列；不分页。"""
    rows = await category_service.list_categories(session, include_inactive=True)
    return Page[CategoryRead](items=[category_service.category_read(c) for c in rows])


@router.post(
    "/admin/categories",
    status_code=201,
    summary="新建诉求类别",
    response_model=CategoryRead,
    responses=errors(401, 403, 409, 422),
)
async def create_category(
    request: Request,
    body: CategoryCreate,
    principal: ConfigAdmin,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> CategoryRead:
    """仅限系统管理员与区级管理员（服务中只有一个区时；多个区共用本服务时仅限系统管理员）。代码已被使用（含已停用的类别）时返回 409
    `category.code_taken`；`routing` 为 department 却未指定部门返回 422
    `category.department_required`，部门不存在或不在调用者管辖范围内返回 422
    `category.department_not_found`。按类别直接派给部门时，只派往管辖范围包含诉求所在网格的
    部门；不包含时按网格正常派单。"""

    async def work() -> CategoryRead:
        category = await category_service.create_category(session, principal, body=body)
        return category_service.category_read(category)

    return await run_idempotent(
        request, session, owner=f"user:{principal.id}", key=key, status_code=201, work=work
    )


@router.patch(
    "/admin/categories/{code}",
    summary="修改或停用诉求类别",
    response_model=CategoryRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def update_category(
    code: CodePath, body: CategoryUpdate, principal: ConfigAdmin, session: SessionDep
) -> CategoryRead:
    """仅限系统管理员与区级管理员（服务中只有一个区时；多个区共用本服务时仅限系统管理员）。只修改给出的字段；`active: false` 停用该类别
    （已有诉求不受影响，新诉求不能再选）。新的时限只用于此后计算的期限。
    类别不存在返回 404 `category.not_found`；已有诉求的类别不能改 `kind`（409 `category.kind_in_use`）。"""
    category = await category_service.update_category(session, principal, code=code, body=body)
    return category_service.category_read(category)


def _holiday_read(day: work_calendar.CalendarDay) -> HolidayRead:
    return HolidayRead(date=day.day, is_workday=day.is_workday, name=day.name, source=day.source)


@router.get(
    "/admin/holidays",
    summary="某年的节假日与调休安排",
    response_model=HolidayPage,
    responses=errors(401, 403, 422),
)
async def list_holidays(
    _: CurrentAdmin,
    session: SessionDep,
    year: Annotated[
        int | None,
        Query(ge=MIN_YEAR, le=MAX_YEAR, description="年份，默认今年（北京时间）"),
    ] = None,
) -> HolidayPage:
    """按日期列出该年与普通周历不同的日子：内置的法定节假日（含假期中的周末）与调休上班日，
    以及管理员的调整（同一天以管理员调整为准，`source` 为 override）。不分页。"""
    if year is None:
        year = clock.to_shanghai(clock.now()).year
    days = await work_calendar.list_year(session, year=year)
    return HolidayPage(
        items=[_holiday_read(d) for d in days],
        builtin_available=work_calendar.builtin_knows(year),
    )


@router.put(
    "/admin/holidays/{date}",
    summary="设置某天放假或上班",
    response_model=HolidayRead,
    responses=errors(401, 403, 422),
)
async def put_holiday(
    date: DatePath, body: HolidayPut, principal: ConfigAdmin, session: SessionDep
) -> HolidayRead:
    """仅限系统管理员与区级管理员（服务中只有一个区时；多个区共用本服务时仅限系统管理员）。新增或覆盖该日的调整，优先于内置日历；
    此后按工作日计算的办结期限随之改变（已算出的期限不变）。"""
    day = await work_calendar.put_override(
        session, day=date, is_workday=body.is_workday, name=body.name, actor_id=principal.id
    )
    return _holiday_read(day)


@router.delete(
    "/admin/holidays/{date}",
    status_code=204,
    summary="撤销某天的调整",
    response_class=Response,
    responses=errors(401, 403, 404, 422),
)
async def delete_holiday(date: DatePath, _: ConfigAdmin, session: SessionDep) -> Response:
    """仅限系统管理员与区级管理员（服务中只有一个区时；多个区共用本服务时仅限系统管理员）。撤销后该日回到内置日历；该日没有调整时返回 404
    `holiday.not_found`。"""
    await work_calendar.delete_override(session, day=date)
    return Response(status_code=204)
