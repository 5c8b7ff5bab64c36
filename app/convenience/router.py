"""便民服务 routes: the catalogue, service points, slots and bookings (API.md
"Policies and services")."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import (
    CurrentAdmin,
    CurrentStaff,
    CurrentUser,
    OptionalServicesKey,
    SettingsDep,
)
from app.convenience import bookings, catalogue, points
from app.convenience.schemas import (
    BookingCreate,
    BookingRead,
    BookingStatus,
    Location,
    NearbyPoint,
    PointCreate,
    PointRead,
    PointUpdate,
    ServiceCategoryRead,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
    SlotCreate,
    SlotRead,
    StaffBookingRead,
)
from app.core import clock
from app.core.db import SessionDep, writes
from app.core.errors import errors
from app.core.idempotency import IdempotencyKey, run_idempotent
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.pagination import Cursor, Limit, Page, cursor_id, encode_cursor
from app.core.timewin import check_day
from app.privacy import service as privacy
from app.reports.schemas import Coord

router = APIRouter(tags=["services"])

ServiceId = Annotated[int, PLAIN_DIGITS, id_path("事项 id")]
PointId = Annotated[int, PLAIN_DIGITS, id_path("服务点 id")]
SlotId = Annotated[int, PLAIN_DIGITS, id_path("时段 id")]
BookingId = Annotated[int, PLAIN_DIGITS, id_path("预约 id")]
Q = Annotated[
    str | None,
    Query(
        max_length=100,
        description="关键词：在名称、说明、分类中查找，多个词用空格分开（须全部命中）",
    ),
]
CategoryFilter = Annotated[
    str | None, Query(max_length=32, description="按事项分类筛选（完全一致）")
]
StatusFilter = Annotated[BookingStatus | None, Query(description="按预约状态筛选")]

DEFAULT_RADIUS_M = 3000
MAX_RADIUS_M = 50_000


def _next(items: list[int], more: bool) -> str | None:
    return encode_cursor({"id": items[-1]}) if more and items else None


# ---------------------------------------------------------------- catalogue (public)


@router.get(
    "/services",
    summary="便民服务事项列表与搜索（无需登录）",
    response_model=Page[ServiceRead],
    responses=errors(401, 403, 404, 422, 429),
)
async def list_services(
    session: SessionDep,
    _client: OptionalServicesKey,
    q: Q = None,
    category: CategoryFilter = None,
    region_id: Annotated[
        int | None, Query(description="只列出在该区划适用的事项（全域事项与其上级区划的事项）")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[ServiceRead]:
    """上架中的事项，按创建时间倒序。`q` 对名称、办理说明和分类做包含匹配（全角字符按半角处理），
    多个词须全部命中；未知的 `region_id` 返回 404 `region.not_found`。"""
    path = await catalogue.region_path_of(session, region_id) if region_id is not None else None
    rows, more = await catalogue.search(
        session,
        q=q,
        category=category,
        region_path=path,
        after_id=cursor_id(cursor),
        limit=limit,
    )
    return Page(
        items=[catalogue.service_read(s) for s in rows],
        next_cursor=_next([s.id for s in rows], more),
    )


@router.get(
    "/services/categories",
    summary="便民服务事项分类（无需登录）",
    response_model=Page[ServiceCategoryRead],
    responses=errors(401, 403, 429),
)
async def service_categories(
    session: SessionDep, _client: OptionalServicesKey
) -> Page[ServiceCategoryRead]:
    """上架事项用到的分类及各分类的事项数，事项多的在前；不分页，`next_cursor` 恒为 null。"""
    rows = await catalogue.categories(session)
    return Page(items=[ServiceCategoryRead(category=c, count=n) for c, n in rows], next_cursor=None)


@router.get(
    "/services/{service_id}",
    summary="便民服务事项详情（无需登录）",
    response_model=ServiceRead,
    responses=errors(401, 403, 404, 422, 429),
)
async def get_service(
    service_id: ServiceId, session: SessionDep, _client: OptionalServicesKey
) -> ServiceRead:
    """所需材料、办理地点、时间和电话。已下架或不存在的事项返回 404 `service.not_found`。"""
    return catalogue.service_read(await catalogue.get_public_service(session, service_id))


@router.get(
    "/services/{service_id}/slots",
    summary="事项某一天的预约时段（无需登录）",
    response_model=Page[SlotRead],
    responses=errors(401, 403, 404, 422, 429),
)
async def list_slots(
    service_id: ServiceId,
    session: SessionDep,
    _client: OptionalServicesKey,
    day: Annotated[
        date | None,
        Query(alias="date", description="日期（北京时间）YYYY-MM-DD，默认今天"),
    ] = None,
    point_id: Annotated[int | None, Query(description="只看该服务点的时段")] = None,
) -> Page[SlotRead]:
    """当天开始的全部时段，按开始时间排列，含名额、已约人数与剩余名额；`available`
    表示此刻能否预约。不分页，`next_cursor` 恒为 null。"""
    day = check_day(day, "date") if day else clock.to_shanghai(clock.now()).date()
    items = await bookings.list_slots(session, service_id=service_id, day=day, point_id=point_id)
    return Page(items=items, next_cursor=None)


# ---------------------------------------------------------------- catalogue (admin)


@router.get(
    "/admin/services",
    summary="管理范围内的事项（含已下架）",
    response_model=Page[ServiceRead],
    responses=errors(401, 403, 422),
)
async def admin_list_services(
    principal: CurrentAdmin,
    session: SessionDep,
    q: Q = None,
    category: CategoryFilter = None,
    active: Annotated[bool | None, Query(description="只看上架（true）或已下架（false）")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[ServiceRead]:
    """调用者所管理区划内的事项（系统管理员：全部，含全域事项），按创建时间倒序。"""
    rows, more = await catalogue.search(
        session,
        q=q,
        category=category,
        principal=principal,
        active=active,
        after_id=cursor_id(cursor),
        limit=limit,
    )
    return Page(
        items=[catalogue.service_read(s) for s in rows],
        next_cursor=_next([s.id for s in rows], more),
    )


@router.post(
    "/admin/services",
    status_code=201,
    summary="新建便民服务事项",
    response_model=ServiceRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def create_service(
    request: Request,
    body: ServiceCreate,
    principal: CurrentAdmin,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> ServiceRead | Response:
    """管理员新建事项。`region_id` 须在调用者管辖范围内（否则 404 `region.not_found`）；
    不传时为调用者所管理的区划，管理多个互不包含的区划时须指明（422 `region.required`）。
    支持 `Idempotency-Key`。"""

    async def work() -> ServiceRead:
        service = await catalogue.create_service(session, principal=principal, body=body)
        return catalogue.service_read(service)

    return await run_idempotent(
        request, session, owner=f"user:{principal.id}", key=key, status_code=201, work=work
    )


@router.patch(
    "/admin/services/{service_id}",
    summary="修改便民服务事项（含上架、下架）",
    response_model=ServiceRead,
    responses=errors(401, 403, 404, 422),
)
async def update_service(
    service_id: ServiceId, body: ServiceUpdate, principal: CurrentAdmin, session: SessionDep
) -> ServiceRead:
    """只修改请求中给出的字段；`phone` 可传 null 清除，其余字段不能为 null。
    管辖范围外的事项返回 404 `service.not_found`。"""
    service = await catalogue.update_service(
        session, principal=principal, service_id=service_id, body=body
    )
    return catalogue.service_read(service)


# ---------------------------------------------------------------- service points


@router.get(
    "/service-points/nearby",
    summary="附近的服务点（无需登录）",
    response_model=Page[NearbyPoint],
    responses=errors(401, 403, 422, 429),
)
async def nearby_points(
    session: SessionDep,
    _client: OptionalServicesKey,
    lat: Annotated[float, Query(ge=-90, le=90, description="纬度")],
    lng: Annotated[float, Query(ge=-180, le=180, description="经度")],
    coord: Annotated[Coord, Query(description="坐标系，默认 gcj02（微信地图组件）")] = "gcj02",
    type: Annotated[
        str | None, Query(max_length=32, description="服务点类型，如 暖心驿站（完全一致）")
    ] = None,
    radius: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_RADIUS_M,
            description=f"半径（米），默认 {DEFAULT_RADIUS_M}，最大 {MAX_RADIUS_M}",
        ),
    ] = DEFAULT_RADIUS_M,
    limit: Limit = 20,
) -> Page[NearbyPoint]:
    """半径内启用中的服务点，由近到远（距离相同按 id），含 `distance_m` 与 `open_now`。
    `open_now` 按北京时间和每周营业时间计算；法定节假日（含管理员调整的节假日）
    除 `open_on_holidays` 的服务点外均闭馆；调休上班的周末仍按该星期几的营业时间。
    不分页，`next_cursor` 恒为 null；境外坐标返回 422 `geo.outside_china`。"""
    w_lng, w_lat = points.wgs84_of(Location(lat=lat, lng=lng, coord=coord))
    found = await points.nearby(
        session, lng=w_lng, lat=w_lat, radius_m=radius, type=type, limit=limit
    )
    items = await points.nearby_items(session, found, at=clock.now())
    return Page(items=items, next_cursor=None)


@router.post(
    "/admin/service-points",
    status_code=201,
    summary="新建服务点（党群服务中心、便民服务站、暖心驿站 …）",
    response_model=PointRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def create_point(
    request: Request,
    body: PointCreate,
    principal: CurrentAdmin,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> PointRead | Response:
    """位置可用 gcj02 或 wgs84，统一存为 WGS-84。营业时间：`weekday` 1–7（1 为周一），
    `open`/`close` 为 HH:MM（`close` 可为 24:00），开门早于关门，同一天多段不得重叠；
    跨午夜请拆成两天。`region_id` 规则同新建事项。支持 `Idempotency-Key`。"""

    async def work() -> PointRead:
        point = await points.create_point(session, principal=principal, body=body)
        return points.point_read(point)

    return await run_idempotent(
        request, session, owner=f"user:{principal.id}", key=key, status_code=201, work=work
    )


@router.patch(
    "/admin/service-points/{point_id}",
    summary="修改服务点（含营业时间、启用、停用）",
    response_model=PointRead,
    responses=errors(401, 403, 404, 422),
)
async def update_point(
    point_id: PointId, body: PointUpdate, principal: CurrentAdmin, session: SessionDep
) -> PointRead:
    """只修改请求中给出的字段；`opening_hours` 整体替换。管辖范围外的服务点返回 404
    `service_point.not_found`。"""
    point = await points.update_point(session, principal=principal, point_id=point_id, body=body)
    return points.point_read(point)


# ---------------------------------------------------------------- slots


@router.post(
    "/admin/services/{service_id}/slots",
    status_code=201,
    summary="发布预约时段",
    response_model=SlotRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def create_slot(
    request: Request,
    service_id: ServiceId,
    body: SlotCreate,
    principal: CurrentStaff,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> SlotRead | Response:
    """服务点所在区划的网格员和管理员为可预约事项发布时段（职能部门工作人员不管理服务点）。
    服务点不在调用者范围内返回 404 `service_point.not_found`；事项不可预约 422
    `service.not_bookable`；服务点不在事项适用区划内 422 `slot.point_outside_service_region`；
    开始时间已过 422 `slot.in_past`；超过一年之后 422 `slot.too_far_ahead`。服务点公布了营业
    时间时，时段须落在当天的某段营业时间内、且不在服务点闭馆的节假日，否则 422
    `slot.outside_opening_hours`（营业时间外的专场请设 `outside_hours: true`）。
    时间须在 1970–2199 年之间。支持 `Idempotency-Key`。"""

    async def work() -> SlotRead:
        return await bookings.create_slot(
            session, principal=principal, service_id=service_id, body=body
        )

    return await run_idempotent(
        request, session, owner=f"user:{principal.id}", key=key, status_code=201, work=work
    )


@router.get(
    "/admin/slots/{slot_id}/bookings",
    summary="时段的预约名单（签到用）",
    response_model=Page[StaffBookingRead],
    responses=errors(401, 403, 404, 422),
)
@writes  # the audit entries
async def slot_bookings(
    request: Request,
    slot_id: SlotId,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[StaffBookingRead]:
    """服务点所在区划的网格员和管理员查看预约名单，按预约先后排列；手机号脱敏。
    名单上的居民姓名每次被查看都记入个人信息审计日志。范围外的时段返回 404 `slot.not_found`。"""
    items, more, region_path = await bookings.slot_bookings(
        session,
        principal=principal,
        slot_id=slot_id,
        status=status,
        after_id=cursor_id(cursor),
        limit=limit,
    )
    # The booker's name is a resident's personal data read by staff (PIPL).
    for booker_id in dict.fromkeys(b.booker.id for b in items):
        await privacy.record(
            session,
            request,
            settings,
            actor=principal,
            subject_id=booker_id,
            action="booking.booker",
            resource=f"slot:{slot_id}",
            region_path=region_path,
        )
    return Page(items=items, next_cursor=_next([b.id for b in items], more))


# ---------------------------------------------------------------- bookings


@router.post(
    "/bookings",
    status_code=201,
    summary="预约时段",
    response_model=BookingRead,
    responses=errors(401, 404, 409, 422),
)
async def create_booking(
    request: Request,
    body: BookingCreate,
    user: CurrentUser,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> BookingRead | Response:
    """占用一个名额，并发预约也绝不超额。已约满 409 `booking.full`；时段已开始 409
    `booking.slot_started`；同一时段已有有效预约 409 `booking.duplicate`；事项暂停预约 409
    `booking.service_unavailable`；服务点已停用 409 `booking.point_inactive`；时段不存在 404
    `slot.not_found`。支持 `Idempotency-Key`：同一个键重试返回同一条预约。"""

    async def work() -> BookingRead:
        return await bookings.book(session, principal=user, slot_id=body.slot_id)

    return await run_idempotent(
        request, session, owner=f"user:{user.id}", key=key, status_code=201, work=work
    )


@router.get(
    "/bookings/mine",
    summary="我的预约",
    response_model=Page[BookingRead],
    responses=errors(401, 422),
)
async def my_bookings(
    user: CurrentUser,
    session: SessionDep,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[BookingRead]:
    """按预约时间倒序。"""
    items, more = await bookings.my_bookings(
        session, principal=user, status=status, after_id=cursor_id(cursor), limit=limit
    )
    return Page(items=items, next_cursor=_next([b.id for b in items], more))


@router.post(
    "/bookings/{booking_id}/cancel",
    summary="取消预约（时段开始前）",
    response_model=BookingRead,
    responses=errors(401, 404, 409),
)
async def cancel_booking(
    booking_id: BookingId, user: CurrentUser, session: SessionDep
) -> BookingRead:
    """仅预约本人可取消（他人的预约返回 404 `booking.not_found`），名额立即释放。
    时段已开始 409 `booking.slot_started`；已取消 409 `booking.already_cancelled`；
    已签到 409 `booking.already_checked_in`。"""
    return await bookings.cancel(session, principal=user, booking_id=booking_id)


@router.post(
    "/bookings/{booking_id}/check-in",
    summary="预约签到（工作人员）",
    response_model=StaffBookingRead,
    responses=errors(401, 403, 404, 409),
)
async def check_in_booking(
    request: Request,
    booking_id: BookingId,
    principal: CurrentStaff,
    session: SessionDep,
    settings: SettingsDep,
) -> StaffBookingRead:
    """服务点所在区划的网格员和管理员为居民签到，时段开始前 1 小时至当天结束（北京时间）可签到，
    否则 409 `booking.check_in_not_open`。范围外的预约返回 404 `booking.not_found`；
    已取消 409 `booking.already_cancelled`；重复签到 409 `booking.already_checked_in`。
    返回的居民姓名记入个人信息审计日志。"""
    read, region_path = await bookings.check_in(session, principal=principal, booking_id=booking_id)
    await privacy.record(
        session,
        request,
        settings,
        actor=principal,
        subject_id=read.booker.id,
        action="booking.booker",
        resource=f"booking:{booking_id}",
        region_path=region_path,
    )
    return read
