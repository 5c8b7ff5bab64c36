"""A small world for convenience-service tests: regions, staff, residents,
services, points and slots, flushed through the test's session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from app.org.models import Region
from app.users.models import User
from tests.factories import Tree, auth, make_staff, make_tree, make_user

# Near 沁阳, in WGS-84; tree.grid is the square 112.90..112.91 E, 35.00..35.01 N.
HERE = (112.905, 35.005)

WEEKDAYS_9_TO_5 = [{"weekday": d, "open": "09:00", "close": "17:00"} for d in range(1, 6)]


def sh(text: str) -> datetime:
    """A Shanghai wall-clock time as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def wgs(lng: float, lat: float) -> dict[str, Any]:
    return {"lat": lat, "lng": lng, "coord": "wgs84"}


def east_of(point: tuple[float, float], metres: float) -> tuple[float, float]:
    """The point ``metres`` due east (good to a few centimetres at this scale)."""
    import math

    lng, lat = point
    return lng + metres / (111_194.93 * math.cos(math.radians(lat))), lat


@dataclass
class World:
    settings: Settings
    tree: Tree
    superadmin: User
    street_admin: User
    community_admin: User
    other_community_admin: User
    worker: User
    far_worker: User
    resident: User
    other_resident: User

    def h(self, user: User) -> dict[str, str]:
        return auth(self.settings, user)


async def make_world(session: AsyncSession, settings: Settings) -> World:
    tree = await make_tree(session)
    return World(
        settings=settings,
        tree=tree,
        superadmin=await make_staff(session, "superadmin", tree.district, name="系统管理员"),
        street_admin=await make_staff(session, "street_admin", tree.street, name="街道管理员"),
        community_admin=await make_staff(
            session, "community_admin", tree.community, name="社区管理员"
        ),
        other_community_admin=await make_staff(
            session, "community_admin", tree.other_community, name="另一社区管理员"
        ),
        worker=await make_staff(session, "grid_worker", tree.grid, name="王网格"),
        far_worker=await make_staff(session, "grid_worker", tree.far_grid, name="赵网格"),
        resident=await make_user(session, name="张居民", phone="13912345678"),
        other_resident=await make_user(session, name="李居民", phone="13987654321"),
    )


async def make_service(
    session: AsyncSession,
    region: Region | None,
    *,
    name: str = "养老保险资格认证",
    category: str = "社会保障",
    description: str = "领取养老金的老人每年认证一次",
    bookable: bool = True,
    errand: bool = False,
    active: bool = True,
) -> Service:
    service = Service(
        name=name,
        category=category,
        description=description,
        materials=["身份证"],
        where_text="党群服务中心",
        hours="工作日",
        bookable=bookable,
        errand=errand,
        active=active,
        region_id=region.id if region else None,
        region_path=region.path if region else "",
    )
    session.add(service)
    await session.flush()
    return service


async def make_point(
    session: AsyncSession,
    region: Region | None,
    *,
    at: tuple[float, float] = HERE,
    name: str = "玉溪苑便民服务站",
    type: str = "便民服务站",
    opening_hours: list[dict[str, Any]] | None = None,
    open_on_holidays: bool = False,
    active: bool = True,
) -> ServicePoint:
    point = ServicePoint(
        name=name,
        type=type,
        lng=at[0],
        lat=at[1],
        coord_in="wgs84",
        address="玉溪苑小区南门",
        opening_hours=WEEKDAYS_9_TO_5 if opening_hours is None else opening_hours,
        open_on_holidays=open_on_holidays,
        active=active,
        region_id=region.id if region else None,
        region_path=region.path if region else "",
    )
    session.add(point)
    await session.flush()
    return point


async def make_slot(
    session: AsyncSession,
    service: Service,
    point: ServicePoint,
    *,
    start: datetime | None = None,
    minutes: int = 30,
    capacity: int = 10,
) -> ServiceSlot:
    start = start or clock.now() + timedelta(days=1)
    slot = ServiceSlot(
        service_id=service.id,
        point_id=point.id,
        start_at=start,
        end_at=start + timedelta(minutes=minutes),
        capacity=capacity,
        booked=0,
    )
    session.add(slot)
    await session.flush()
    return slot
