"""Demo 便民服务: service points in the demo street, the services residents can
book or hand to their grid worker (代办), and booking slots for the coming week.

Everything goes through the same functions as the admin API (so the same
validation applies), acting as the demo street admin. Points and services are
found by name, slots by (service, point, start), so a second run adds only the
slots of days that have come into the window since the first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import load_principal
from app.auth.principal import Principal
from app.convenience import bookings, catalogue, hours
from app.convenience import points as points_service
from app.convenience.models import Service, ServicePoint, ServiceSlot
from app.convenience.schemas import PointCreate, ServiceCreate, SlotCreate
from app.core import clock
from app.core.clock import SHANGHAI
from app.demo import COMMUNITIES, STREET, grid_centre
from app.org.models import Region
from app.reports.calendar import load_calendar
from app.users.models import User

SLOT_DAYS = 7  # today and the six days after it, in Asia/Shanghai


def _weekly(days: range, *intervals: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"weekday": d, "open": o, "close": c} for d in days for o, c in intervals]


WEEKDAYS = range(1, 6)
MON_TO_SAT = range(1, 7)
EVERY_DAY = range(1, 8)
OFFICE_HOURS = (("08:30", "12:00"), ("14:30", "17:30"))


@dataclass(frozen=True)
class DemoPoint:
    name: str
    type: str
    community: str | None  # None: the street itself
    grid: str  # the demo grid the point stands in
    offset: tuple[float, float]  # (lng, lat) from the grid's centre, degrees
    address: str
    phone: str
    opening_hours: list[dict[str, Any]]
    open_on_holidays: bool = False


@dataclass(frozen=True)
class DemoService:
    name: str
    category: str
    description: str
    materials: list[str]
    where: str
    hours: str
    phone: str | None
    bookable: bool
    errand: bool


@dataclass(frozen=True)
class DemoSlots:
    """Daily slots of one service at one point: ``(start, end)`` Shanghai times.
    A slot is published only on days the point is open for all of it."""

    service: str
    point: str
    times: tuple[tuple[str, str], ...]
    capacity: int


STREET_CENTRE = "太行怀庆街道党群服务中心"
YUXIYUAN_CENTRE = "玉溪苑社区党群服务中心"
QINHUAI_STATION = "覃怀社区便民服务站"
TAIHANG_CANTEEN = "太行社区暖心驿站（长者食堂）"
HUAIQING_CLINIC = "怀庆社区卫生服务站"

POINTS = [
    DemoPoint(
        name=STREET_CENTRE,
        type="党群服务中心",
        community=None,
        grid="怀庆东街网格",
        offset=(0.0006, -0.0004),
        address="沁阳市怀庆路 88 号",
        phone="0391-5551234",
        # 周六上午值班
        opening_hours=_weekly(WEEKDAYS, *OFFICE_HOURS) + _weekly(range(6, 7), ("09:00", "12:00")),
    ),
    DemoPoint(
        name=YUXIYUAN_CENTRE,
        type="党群服务中心",
        community="玉溪苑社区",
        grid="玉溪苑东区网格",
        offset=(0.0008, 0.0005),
        address="沁阳市玉溪路 16 号（玉溪苑小区东门）",
        phone="0391-5552101",
        opening_hours=_weekly(WEEKDAYS, *OFFICE_HOURS),
    ),
    DemoPoint(
        name=QINHUAI_STATION,
        type="便民服务站",
        community="覃怀社区",
        grid="覃怀北区网格",
        offset=(-0.0007, 0.0003),
        address="沁阳市覃怀路 203 号",
        phone="0391-5552301",
        opening_hours=_weekly(MON_TO_SAT, ("08:00", "12:00"), ("14:00", "18:00")),
    ),
    DemoPoint(
        name=TAIHANG_CANTEEN,
        type="暖心驿站",
        community="太行社区",
        grid="商贸城网格",
        offset=(0.0004, 0.0006),
        address="沁阳市太行路商贸城北门东侧",
        phone="0391-5552401",
        opening_hours=_weekly(EVERY_DAY, ("07:30", "19:30")),
        open_on_holidays=True,
    ),
    DemoPoint(
        name=HUAIQING_CLINIC,
        type="卫生服务站",
        community="怀庆社区",
        grid="丹河苑网格",
        offset=(-0.0005, -0.0006),
        address="沁阳市丹河路 51 号（丹河苑小区西门）",
        phone="0391-5552201",
        opening_hours=_weekly(MON_TO_SAT, ("08:00", "11:30"), ("14:30", "17:30")),
    ),
]

PENSION = "城乡居民养老保险待遇资格认证"
MEDICAL = "城乡居民医保参保登记"
RESIDENCE = "居住证办理"
MEALS = "老年人助餐"
CHECKUP = "65岁以上老年人免费健康体检"
UTILITIES = "代缴水电费"
LONGEVITY = "高龄津贴申领"

SERVICES = [
    DemoService(
        name=PENSION,
        category="社会保障",
        description="领取城乡居民养老金的老人每年认证一次，可预约到服务点人脸识别认证；"
        "行动不便的老人可申请代办，网格员上门协助认证。",
        materials=["本人身份证", "社会保障卡"],
        where="街道党群服务中心一楼便民服务大厅 3 号窗口；玉溪苑社区党群服务中心",
        hours="工作日 08:30–12:00，14:30–17:30",
        phone="0391-5551234",
        bookable=True,
        errand=True,
    ),
    DemoService(
        name=MEDICAL,
        category="医疗保障",
        description="城乡居民基本医疗保险参保登记、信息变更与缴费档次确认；新生儿出生后即可参保。",
        materials=["身份证或户口簿", "新生儿出生医学证明（新生儿参保时）"],
        where="街道党群服务中心 2 号窗口；覃怀社区便民服务站",
        hours="工作日 08:30–12:00，14:30–17:30；覃怀社区便民服务站周六照常",
        phone="0391-5551235",
        bookable=True,
        errand=False,
    ),
    DemoService(
        name=RESIDENCE,
        category="户籍证件",
        description="在本市居住半年以上、有合法稳定就业、住所或连续就读的外来人员可申领居住证；"
        "受理后约 15 个工作日领证。",
        materials=[
            "居民身份证",
            "近期一寸白底证件照（可现场拍照）",
            "居住证明（房产证、租赁合同或单位证明之一）",
        ],
        where="街道党群服务中心 1 号窗口（派出所驻中心窗口）",
        hours="工作日 09:00–11:00，15:00–16:00",
        phone="0391-5551236",
        bookable=True,
        errand=False,
    ),
    DemoService(
        name=MEALS,
        category="养老服务",
        description="60 岁以上老人可在长者食堂就餐，80 岁以上、失能及独居老人享受助餐补贴；"
        "请至少提前一天预约用餐。行动不便的可申请代办，由网格员协调送餐上门。",
        materials=["本人身份证或老年人优待证"],
        where="太行社区暖心驿站（长者食堂）",
        hours="每天 11:00–12:30 午餐，17:00–18:00 晚餐（节假日照常）",
        phone="0391-5552401",
        bookable=True,
        errand=True,
    ),
    DemoService(
        name=CHECKUP,
        category="医疗卫生",
        description="辖区常住的 65 岁及以上老年人每年一次免费健康体检（血常规、肝肾功能、"
        "心电图、B 超等）。需空腹，请按预约时段到场。",
        materials=["本人身份证", "医保卡"],
        where="怀庆社区卫生服务站",
        hours="周一至周六 08:00–10:00",
        phone="0391-5552201",
        bookable=True,
        errand=False,
    ),
    DemoService(
        name=UTILITIES,
        category="生活缴费",
        description="独居、高龄或行动不便的居民可委托网格员代缴水费、电费、燃气费，"
        "缴费凭证由网格员送回。",
        materials=["户号或缴费卡", "缴费金额"],
        where="网格员上门办理",
        hours="随时提交，工作时间内办理",
        phone=None,
        bookable=False,
        errand=True,
    ),
    DemoService(
        name=LONGEVITY,
        category="社会保障",
        description="80 周岁及以上的本市户籍老人可申领高龄津贴，按月发放到社会保障卡。"
        "可到社区党群服务中心申请，也可申请代办，由网格员上门采集信息。",
        materials=["本人身份证", "户口簿", "社会保障卡"],
        where="各社区党群服务中心",
        hours="工作日 08:30–12:00，14:30–17:30",
        phone="0391-5551237",
        bookable=False,
        errand=True,
    ),
]

HOURLY_OFFICE = (("09:00", "10:00"), ("10:00", "11:00"), ("15:00", "16:00"), ("16:00", "17:00"))
SLOTS = [
    DemoSlots(PENSION, STREET_CENTRE, HOURLY_OFFICE, capacity=10),
    DemoSlots(PENSION, YUXIYUAN_CENTRE, (("09:00", "10:00"), ("15:00", "16:00")), capacity=6),
    DemoSlots(MEDICAL, STREET_CENTRE, HOURLY_OFFICE + (("11:00", "12:00"),), capacity=8),
    DemoSlots(MEDICAL, QINHUAI_STATION, (("09:00", "10:00"), ("15:00", "16:00")), capacity=5),
    DemoSlots(
        RESIDENCE,
        STREET_CENTRE,
        (
            ("09:00", "09:30"),
            ("09:30", "10:00"),
            ("10:00", "10:30"),
            ("10:30", "11:00"),
            ("15:00", "15:30"),
            ("15:30", "16:00"),
        ),
        capacity=3,
    ),
    DemoSlots(MEALS, TAIHANG_CANTEEN, (("11:00", "12:30"), ("17:00", "18:00")), capacity=40),
    DemoSlots(CHECKUP, HUAIQING_CLINIC, (("08:00", "09:00"), ("09:00", "10:00")), capacity=15),
]


def point_location(point: DemoPoint) -> tuple[float, float]:
    """WGS-84 (lng, lat) of a demo point: its grid's centre moved by its offset."""
    for col, grids in enumerate(COMMUNITIES.values()):
        if point.grid in grids:
            lng, lat = grid_centre(col, grids.index(point.grid))
            return round(lng + point.offset[0], 6), round(lat + point.offset[1], 6)
    raise AssertionError(f"{STREET} 没有网格“{point.grid}”")


async def seed_convenience(session: AsyncSession, street_admin: User, street: Region) -> None:
    """Create the demo points, services and the coming week's slots (see the module)."""
    principal = await load_principal(session, street_admin)
    points = await _points(session, principal, street)
    services = await _services(session, principal, street)
    await _slots(session, principal, services, points)


async def _points(
    session: AsyncSession, principal: Principal, street: Region
) -> dict[str, ServicePoint]:
    names = [p.name for p in POINTS]
    found = {
        p.name: p
        for p in await session.scalars(select(ServicePoint).where(ServicePoint.name.in_(names)))
    }
    communities = {
        r.name: r
        for r in await session.scalars(select(Region).where(Region.parent_id == street.id))
    }
    for demo in POINTS:
        if demo.name in found:
            continue
        lng, lat = point_location(demo)
        region = communities[demo.community] if demo.community else street
        body = PointCreate.model_validate(
            {
                "name": demo.name,
                "type": demo.type,
                "location": {"lat": lat, "lng": lng, "coord": "wgs84"},
                "address": demo.address,
                "phone": demo.phone,
                "opening_hours": demo.opening_hours,
                "open_on_holidays": demo.open_on_holidays,
                "region_id": region.id,
            }
        )
        found[demo.name] = await points_service.create_point(
            session, principal=principal, body=body
        )
    return found


async def _services(
    session: AsyncSession, principal: Principal, street: Region
) -> dict[str, Service]:
    names = [s.name for s in SERVICES]
    found = {
        s.name: s for s in await session.scalars(select(Service).where(Service.name.in_(names)))
    }
    for demo in SERVICES:
        if demo.name in found:
            continue
        body = ServiceCreate.model_validate(
            {
                "name": demo.name,
                "category": demo.category,
                "description": demo.description,
                "materials": demo.materials,
                "where": demo.where,
                "hours": demo.hours,
                "phone": demo.phone,
                "bookable": demo.bookable,
                "errand": demo.errand,
                "region_id": street.id,
            }
        )
        found[demo.name] = await catalogue.create_service(session, principal=principal, body=body)
    return found


async def _slots(
    session: AsyncSession,
    principal: Principal,
    services: dict[str, Service],
    points: dict[str, ServicePoint],
) -> None:
    """Publish the slots of the coming ``SLOT_DAYS`` days that do not exist yet and
    have not started, on the days (and at the times) their point is open."""
    now = clock.now()
    today = clock.to_shanghai(now).date()
    window_start = datetime.combine(today, time(0), tzinfo=SHANGHAI)
    ids = [s.id for s in services.values()]
    existing = {
        (service_id, point_id, start_at.astimezone(UTC))
        for service_id, point_id, start_at in await session.execute(
            select(ServiceSlot.service_id, ServiceSlot.point_id, ServiceSlot.start_at).where(
                ServiceSlot.service_id.in_(ids), ServiceSlot.start_at >= window_start
            )
        )
    }
    calendar = await load_calendar(session)
    for plan in SLOTS:
        service, point = services[plan.service], points[plan.point]
        if not (service.active and service.bookable and point.active):
            continue  # an admin withdrew it: leave it so
        for day in (today + timedelta(days=n) for n in range(SLOT_DAYS)):
            if hours.is_official_holiday(calendar, day) and not point.open_on_holidays:
                continue
            open_hours = hours.day_hours(point.opening_hours, day.isoweekday())
            for start_text, end_text in plan.times:
                if not any(
                    hours.minutes(h["open"]) <= hours.minutes(start_text)
                    and hours.minutes(end_text) <= hours.minutes(h["close"])
                    for h in open_hours
                ):
                    continue
                start = datetime.combine(day, time.fromisoformat(start_text), tzinfo=SHANGHAI)
                end = datetime.combine(day, time.fromisoformat(end_text), tzinfo=SHANGHAI)
                key = (service.id, point.id, start.astimezone(UTC))
                if start <= now or key in existing:
                    continue
                body = SlotCreate(
                    point_id=point.id, start_at=start, end_at=end, capacity=plan.capacity
                )
                await bookings.create_slot(
                    session, principal=principal, service_id=service.id, body=body
                )
                existing.add(key)
