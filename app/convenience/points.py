"""Service points: the admins' create and edit, and "nearest points, open now?"."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.convenience import hours, scope
from app.convenience.exceptions import OutsideChina, PointNotFound
from app.convenience.models import ServicePoint
from app.convenience.schemas import (
    HoursRead,
    Location,
    NearbyPoint,
    OpeningInterval,
    PointCreate,
    PointRead,
    PointUpdate,
)
from app.core import clock
from app.org import department_service, geo
from app.reports.calendar import WorkCalendar, load_calendar

# Metres per degree of latitude, rounded down, so the box is never too small.
_METRES_PER_DEGREE = 110_000.0


def wgs84_of(location: Location) -> tuple[float, float]:
    """(lng, lat) in WGS-84; 422 ``geo.outside_china`` for a point outside China."""
    if not geo.in_china(location.lng, location.lat):
        raise OutsideChina(details={"lat": location.lat, "lng": location.lng})
    return geo.to_wgs84(location.lng, location.lat, location.coord)


def point_read(point: ServicePoint) -> PointRead:
    return PointRead(**_fields(point))


def _fields(point: ServicePoint) -> dict[str, Any]:
    g_lng, g_lat = geo.wgs84_to_gcj02(point.lng, point.lat)
    return {
        "id": point.id,
        "name": point.name,
        "type": point.type,
        "location": Location(lat=point.lat, lng=point.lng, coord="wgs84"),
        "location_gcj02": Location(lat=g_lat, lng=g_lng, coord="gcj02"),
        "address": point.address,
        "phone": point.phone,
        "opening_hours": [OpeningInterval.model_validate(i) for i in point.opening_hours or []],
        "open_on_holidays": point.open_on_holidays,
        "region_id": point.region_id,
        "active": point.active,
    }


def nearby_read(
    point: ServicePoint, distance: float, *, calendar: WorkCalendar, at: datetime
) -> NearbyPoint:
    local = clock.to_shanghai(at)
    holiday = hours.is_official_holiday(calendar, local.date())
    intervals = point.opening_hours or []
    return NearbyPoint(
        **_fields(point),
        distance_m=round(distance, 1),
        open_now=hours.is_open(
            intervals, at=at, holiday=holiday, open_on_holidays=point.open_on_holidays
        ),
        holiday_today=holiday,
        today_hours=[HoursRead(**h) for h in hours.day_hours(intervals, local.isoweekday())],
    )


async def get_managed_point(
    session: AsyncSession, principal: Principal, point_id: int
) -> ServicePoint:
    point = await session.get(ServicePoint, point_id)
    if point is None or not scope.manages(principal, point.region_path):
        raise PointNotFound(details={"point_id": point_id})
    return point


async def get_served_point(
    session: AsyncSession, principal: Principal, point_id: int
) -> ServicePoint:
    """A point where the caller works (``scope.serves``); 404 otherwise."""
    point = await session.get(ServicePoint, point_id)
    if point is None or not scope.serves(principal, point.region_path):
        raise PointNotFound(details={"point_id": point_id})
    return point


async def create_point(
    session: AsyncSession, *, principal: Principal, body: PointCreate
) -> ServicePoint:
    lng, lat = wgs84_of(body.location)
    region = await scope.region_for_new(session, principal, body.region_id)
    point = ServicePoint(
        name=body.name,
        type=body.type,
        lat=lat,
        lng=lng,
        coord_in=body.location.coord,
        address=body.address,
        phone=body.phone,
        opening_hours=[i.model_dump() for i in body.opening_hours],
        open_on_holidays=body.open_on_holidays,
        region_id=region.id if region else None,
        region_path=region.path if region else "",
        active=True,
        created_by=principal.id,
    )
    session.add(point)
    await session.flush()
    return point


async def update_point(
    session: AsyncSession, *, principal: Principal, point_id: int, body: PointUpdate
) -> ServicePoint:
    point = await get_managed_point(session, principal, point_id)
    sent = body.model_fields_set
    if "location" in sent and body.location is not None:
        point.lng, point.lat = wgs84_of(body.location)
        point.coord_in = body.location.coord
    if "region_id" in sent and body.region_id is not None:
        region = await department_service.region_in_scope(session, principal, body.region_id)
        point.region_id, point.region_path = region.id, region.path
    if "opening_hours" in sent and body.opening_hours is not None:
        point.opening_hours = [i.model_dump() for i in body.opening_hours]
    for field in ("name", "type", "address", "phone", "open_on_holidays", "active"):
        if field in sent:
            setattr(point, field, getattr(body, field))
    point.updated_at = clock.now()
    await session.flush()
    return point


async def nearby(
    session: AsyncSession,
    *,
    lng: float,
    lat: float,
    radius_m: float,
    type: str | None = None,
    limit: int = 20,
) -> list[tuple[ServicePoint, float]]:
    """Active points within ``radius_m`` of a WGS-84 point, nearest first (ties by id).

    The database narrows to a bounding box (an indexed range on lat and lng),
    a little larger than the circle; the exact great-circle distance is then
    computed here and points outside the circle dropped.
    """
    d_lat = radius_m / _METRES_PER_DEGREE
    # Longitude degrees shrink with latitude; use the box's edge nearer the pole.
    edge = min(89.0, abs(lat) + d_lat)
    d_lng = radius_m / (_METRES_PER_DEGREE * math.cos(math.radians(edge)))
    stmt = select(ServicePoint).where(
        ServicePoint.active.is_(True),
        ServicePoint.lat.between(lat - d_lat, lat + d_lat),
        ServicePoint.lng.between(lng - d_lng, lng + d_lng),
    )
    if type:
        stmt = stmt.where(ServicePoint.type == type.strip())
    found = []
    for point in await session.scalars(stmt):
        distance = geo.distance_m(lng, lat, point.lng, point.lat)
        if distance <= radius_m:
            found.append((point, distance))
    found.sort(key=lambda pair: (pair[1], pair[0].id))
    return found[:limit]


async def nearby_items(
    session: AsyncSession, found: list[tuple[ServicePoint, float]], *, at: datetime
) -> list[NearbyPoint]:
    calendar = await load_calendar(session)
    return [nearby_read(p, d, calendar=calendar, at=at) for p, d in found]
