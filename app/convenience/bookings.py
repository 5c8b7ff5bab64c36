"""Slots and bookings: capacity is never exceeded, even under concurrency.

A seat is taken by one conditional UPDATE of the slot's counter
(``booked = booked + 1 WHERE booked < capacity AND start_at > now``) in the
request's transaction. On PostgreSQL the row lock makes concurrent bookers
queue on the slot, and each re-checks the condition against the committed
count once the one before it commits; on SQLite writes are serialised by
``BEGIN IMMEDIATE``. The CHECK ``booked <= capacity`` backs this up in the
database itself, and the partial unique index on (slot, resident) among
active bookings keeps one resident from holding two seats in one slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.convenience import hours, scope
from app.convenience import points as points_service
from app.convenience.catalogue import get_public_service
from app.convenience.exceptions import (
    AlreadyBooked,
    AlreadyCancelled,
    AlreadyCheckedIn,
    BookingNotFound,
    BookingUnavailable,
    CheckInNotOpen,
    PointInactive,
    PointUnavailable,
    ServiceNotBookable,
    ServiceNotFound,
    SlotFull,
    SlotInPast,
    SlotNotFound,
    SlotOutsideHours,
    SlotOutsideServiceRegion,
    SlotStarted,
    SlotTooFarAhead,
)
from app.convenience.models import ACTIVE_BOOKING, Booking, Service, ServicePoint, ServiceSlot
from app.convenience.schemas import (
    BookerRef,
    BookingRead,
    BookingStatus,
    PointRef,
    ServiceRef,
    SlotCreate,
    SlotRead,
    SlotRef,
    StaffBookingRead,
)
from app.core import clock
from app.core.clock import SHANGHAI
from app.core.masking import mask_phone
from app.core.pagination import split_page
from app.reports.calendar import load_calendar
from app.users.models import User

# Staff may check a resident in from an hour before the slot until the end of its day.
CHECK_IN_EARLY = timedelta(hours=1)
# Slots are published at most this far ahead.
MAX_AHEAD = timedelta(days=366)
MAX_SLOTS_PER_DAY = 500

BookingRow = tuple[Booking, ServiceSlot, Service, ServicePoint]


# ---------------------------------------------------------------- reading


def point_ref(point: ServicePoint) -> PointRef:
    return PointRef(id=point.id, name=point.name, type=point.type, address=point.address)


def slot_read(slot: ServiceSlot, service: Service, point: ServicePoint, now: datetime) -> SlotRead:
    started = slot.start_at <= now
    remaining = max(0, slot.capacity - slot.booked)
    return SlotRead(
        id=slot.id,
        service_id=slot.service_id,
        point=point_ref(point),
        start_at=clock.to_shanghai(slot.start_at),
        end_at=clock.to_shanghai(slot.end_at),
        capacity=slot.capacity,
        booked=slot.booked,
        remaining=remaining,
        started=started,
        available=not started and remaining > 0 and service.bookable and service.active,
    )


def _local(value: datetime | None) -> datetime | None:
    return clock.to_shanghai(value) if value is not None else None


def booking_read(row: BookingRow) -> BookingRead:
    booking, slot, service, point = row
    return BookingRead(**_booking_fields(booking, slot, service, point))


def _booking_fields(
    booking: Booking, slot: ServiceSlot, service: Service, point: ServicePoint
) -> dict[str, object]:
    return {
        "id": booking.id,
        "status": booking.status,
        "service": ServiceRef(id=service.id, name=service.name),
        "point": point_ref(point),
        "slot": SlotRef(
            id=slot.id,
            start_at=clock.to_shanghai(slot.start_at),
            end_at=clock.to_shanghai(slot.end_at),
        ),
        "created_at": clock.to_shanghai(booking.created_at),
        "cancelled_at": _local(booking.cancelled_at),
        "checked_in_at": _local(booking.checked_in_at),
    }


def _booking_rows() -> Select[Booking, ServiceSlot, Service, ServicePoint]:
    return (
        select(Booking, ServiceSlot, Service, ServicePoint)
        .join(ServiceSlot, ServiceSlot.id == Booking.slot_id)
        .join(Service, Service.id == ServiceSlot.service_id)
        .join(ServicePoint, ServicePoint.id == ServiceSlot.point_id)
    )


async def _booking_row(
    session: AsyncSession, booking_id: int, *, fresh: bool = False
) -> BookingRow:
    stmt = _booking_rows().where(Booking.id == booking_id)
    if fresh:
        # Conditional UPDATEs bypass the identity map: reload what they changed.
        stmt = stmt.execution_options(populate_existing=True)
    row = (await session.execute(stmt)).first()
    if row is None:
        raise BookingNotFound(details={"booking_id": booking_id})
    return row


# ---------------------------------------------------------------- slots


async def create_slot(
    session: AsyncSession, *, principal: Principal, service_id: int, body: SlotCreate
) -> SlotRead:
    """Publish a slot of a bookable service at a point where the caller works."""
    service = await session.get(Service, service_id)
    if service is None or not service.active:
        raise ServiceNotFound(details={"service_id": service_id})
    point = await points_service.get_served_point(session, principal, body.point_id)
    if not service.bookable:
        raise ServiceNotBookable(details={"service_id": service_id})
    if not point.active:
        raise PointInactive(details={"point_id": point.id})
    if service.region_path and not point.region_path.startswith(service.region_path):
        raise SlotOutsideServiceRegion(details={"service_id": service.id, "point_id": point.id})
    now = clock.now()
    if body.start_at <= now:
        raise SlotInPast(details={"field": "start_at"})
    if body.start_at > now + MAX_AHEAD:
        raise SlotTooFarAhead(details={"field": "start_at"})
    if not body.outside_hours:
        await _check_opening_hours(session, point, body.start_at, body.end_at)
    slot = ServiceSlot(
        service_id=service.id,
        point_id=point.id,
        start_at=body.start_at,
        end_at=body.end_at,
        capacity=body.capacity,
        booked=0,
        created_by=principal.id,
        created_at=now,
    )
    session.add(slot)
    await session.flush()
    return slot_read(slot, service, point, now)


async def _check_opening_hours(
    session: AsyncSession, point: ServicePoint, start: datetime, end: datetime
) -> None:
    """The point is open without a break for the whole slot (touching intervals
    count as one: a day open 08:30–12:00 and 12:00–17:30, or open across
    midnight), and the slot falls on no holiday the point is closed (hours.py).
    A point that publishes no hours is not checked; a special session outside
    them says ``outside_hours``."""
    intervals = point.opening_hours or []
    if not intervals:
        return
    local = start.astimezone(SHANGHAI)
    weekday = local.isoweekday()
    today = hours.day_hours(intervals, weekday)
    published = "、".join(f"{h['open']}–{h['close']}" for h in today) or "不营业"
    details = {"point_id": point.id, "weekday": weekday, "hours": today}
    if not hours.covers(intervals, start, end):
        raise SlotOutsideHours(
            message=f"时段不在服务点{hours.WEEKDAY_NAMES[weekday]}的营业时间（{published}）内；"
            "营业时间外的专场请设 outside_hours 为 true",
            details=details,
        )
    if point.open_on_holidays:
        return
    calendar = await load_calendar(session)
    last = (end - timedelta(microseconds=1)).astimezone(SHANGHAI).date()
    for day in sorted({local.date(), last}):
        if hours.is_official_holiday(calendar, day):
            raise SlotOutsideHours(
                message=f"{day:%Y-%m-%d} 为节假日，服务点闭馆；节假日专场请设 outside_hours 为 true",
                details=details,
            )


async def list_slots(
    session: AsyncSession, *, service_id: int, day: date, point_id: int | None = None
) -> list[SlotRead]:
    """The slots of an active service starting on ``day`` (Asia/Shanghai), in time order."""
    service = await get_public_service(session, service_id)
    start = datetime.combine(day, time(0), tzinfo=SHANGHAI)
    stmt = (
        select(ServiceSlot, ServicePoint)
        .join(ServicePoint, ServicePoint.id == ServiceSlot.point_id)
        .where(
            ServiceSlot.service_id == service.id,
            ServiceSlot.start_at >= start,
            ServiceSlot.start_at < start + timedelta(days=1),
            ServicePoint.active.is_(True),
        )
        .order_by(ServiceSlot.start_at, ServiceSlot.id)
        .limit(MAX_SLOTS_PER_DAY)
    )
    if point_id is not None:
        stmt = stmt.where(ServiceSlot.point_id == point_id)
    now = clock.now()
    rows = (await session.execute(stmt)).all()
    return [slot_read(slot, service, point, now) for slot, point in rows]


# ---------------------------------------------------------------- bookings


async def book(session: AsyncSession, *, principal: Principal, slot_id: int) -> BookingRead:
    """Take one seat of ``slot_id`` for the caller (see the module docstring)."""
    row = (
        await session.execute(
            select(ServiceSlot, Service, ServicePoint)
            .join(Service, Service.id == ServiceSlot.service_id)
            .join(ServicePoint, ServicePoint.id == ServiceSlot.point_id)
            .where(ServiceSlot.id == slot_id)
        )
    ).first()
    if row is None:
        raise SlotNotFound(details={"slot_id": slot_id})
    slot, service, point = row
    if not service.active or not service.bookable:
        raise BookingUnavailable(details={"service_id": service.id})
    if not point.active:
        raise PointUnavailable(details={"point_id": point.id})
    now = clock.now()
    if slot.start_at <= now:
        raise SlotStarted(details={"slot_id": slot_id})
    held = await session.scalar(
        select(Booking.id).where(
            Booking.slot_id == slot_id,
            Booking.user_id == principal.id,
            Booking.status.in_(ACTIVE_BOOKING),
        )
    )
    if held is not None:
        raise AlreadyBooked(details={"booking_id": held})
    if slot.booked >= slot.capacity:
        # Full as of the committed count: answer without queueing on the row lock.
        raise SlotFull(details={"slot_id": slot_id, "capacity": slot.capacity})

    booking = Booking(slot_id=slot_id, user_id=principal.id, status="booked", created_at=now)
    session.add(booking)
    try:
        await session.flush()
    except IntegrityError as exc:
        # The same resident booking the same slot from two requests at once:
        # the unique index lets one through; the other request rolls back.
        raise AlreadyBooked(details={"slot_id": slot_id}) from exc
    # The seat is taken last, so the row lock it holds until commit is held briefly.
    taken = await session.execute(
        update(ServiceSlot)
        .where(
            ServiceSlot.id == slot_id,
            ServiceSlot.booked < ServiceSlot.capacity,
            ServiceSlot.start_at > now,
        )
        .values(booked=ServiceSlot.booked + 1)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        # Full (the start never changes, and it was checked above); the request
        # rolls back, the booking row with it.
        raise SlotFull(details={"slot_id": slot_id, "capacity": slot.capacity})
    # Everything the answer shows is already loaded (the stale counter is not in it).
    return booking_read((booking, slot, service, point))


async def cancel(session: AsyncSession, *, principal: Principal, booking_id: int) -> BookingRead:
    """The booker cancels before the slot starts; the seat is freed at once."""
    booking, slot, _, _ = await _booking_row(session, booking_id)
    if booking.user_id != principal.id:
        raise BookingNotFound(details={"booking_id": booking_id})
    _refuse_unless_booked(booking.status)
    now = clock.now()
    if slot.start_at <= now:
        raise SlotStarted(
            "booking.slot_started", "该时段已开始，不能取消", details={"slot_id": slot.id}
        )
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking_id, Booking.status == "booked")
        .values(status="cancelled", cancelled_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        # A concurrent cancel or check-in got there first.
        current = await session.scalar(select(Booking.status).where(Booking.id == booking_id))
        _refuse_unless_booked(current or "cancelled")
    await session.execute(
        update(ServiceSlot)
        .where(ServiceSlot.id == slot.id, ServiceSlot.booked > 0)
        .values(booked=ServiceSlot.booked - 1)
        .execution_options(synchronize_session=False)
    )
    return booking_read(await _booking_row(session, booking_id, fresh=True))


def _refuse_unless_booked(status: str) -> None:
    if status == "cancelled":
        raise AlreadyCancelled()
    if status == "checked_in":
        raise AlreadyCheckedIn()


async def check_in(
    session: AsyncSession, *, principal: Principal, booking_id: int
) -> tuple[StaffBookingRead, str]:
    """Staff where the point is check a resident in, from an hour before the slot
    until the end of its day (Asia/Shanghai). The booking as staff read it, and
    the point's region path (for the audit of the booker's name)."""
    booking, slot, _, point = await _booking_row(session, booking_id)
    if not scope.serves(principal, point.region_path):
        raise BookingNotFound(details={"booking_id": booking_id})
    _refuse_unless_booked(booking.status)
    now = clock.now()
    day_end = datetime.combine(
        clock.to_shanghai(slot.start_at).date() + timedelta(days=1), time(0), tzinfo=SHANGHAI
    )
    if not slot.start_at - CHECK_IN_EARLY <= now < day_end:
        raise CheckInNotOpen(
            details={
                "opens_at": clock.to_shanghai(slot.start_at - CHECK_IN_EARLY).isoformat(),
                "closes_at": day_end.isoformat(),
            }
        )
    changed = await session.execute(
        update(Booking)
        .where(Booking.id == booking_id, Booking.status == "booked")
        .values(status="checked_in", checked_in_at=now, checked_in_by=principal.id)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        current = await session.scalar(select(Booking.status).where(Booking.id == booking_id))
        _refuse_unless_booked(current or "cancelled")
    row = await _booking_row(session, booking_id, fresh=True)
    users = await _bookers(session, [row[0].user_id])
    return staff_booking_read(row, users), point.region_path


async def my_bookings(
    session: AsyncSession,
    *,
    principal: Principal,
    status: BookingStatus | None = None,
    after_id: int | None = None,
    limit: int = 20,
) -> tuple[list[BookingRead], bool]:
    """The caller's bookings, newest first."""
    stmt = _booking_rows().where(Booking.user_id == principal.id)
    if status is not None:
        stmt = stmt.where(Booking.status == status)
    if after_id is not None:
        stmt = stmt.where(Booking.id < after_id)
    rows = (await session.execute(stmt.order_by(Booking.id.desc()).limit(limit + 1))).all()
    page, more = split_page(rows, limit)
    return [booking_read(r) for r in page], more


async def slot_bookings(
    session: AsyncSession,
    *,
    principal: Principal,
    slot_id: int,
    status: BookingStatus | None = None,
    after_id: int | None = None,
    limit: int = 20,
) -> tuple[list[StaffBookingRead], bool, str]:
    """The bookings of one slot for the staff where its point is, in booking
    order; and the region path of the point (for the audit log)."""
    row = (
        await session.execute(
            select(ServiceSlot, ServicePoint)
            .join(ServicePoint, ServicePoint.id == ServiceSlot.point_id)
            .where(ServiceSlot.id == slot_id)
        )
    ).first()
    if row is None or not scope.serves(principal, row[1].region_path):
        raise SlotNotFound(details={"slot_id": slot_id})
    stmt = _booking_rows().where(Booking.slot_id == slot_id)
    if status is not None:
        stmt = stmt.where(Booking.status == status)
    if after_id is not None:
        stmt = stmt.where(Booking.id > after_id)
    rows = (await session.execute(stmt.order_by(Booking.id).limit(limit + 1))).all()
    page, more = split_page(rows, limit)
    users = await _bookers(session, [r[0].user_id for r in page])
    return [staff_booking_read(r, users) for r in page], more, row[1].region_path


async def _bookers(session: AsyncSession, ids: Sequence[int]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.id: u for u in await session.scalars(select(User).where(User.id.in_(set(ids))))}


def staff_booking_read(row: BookingRow, users: dict[int, User]) -> StaffBookingRead:
    booking, slot, service, point = row
    user = users.get(booking.user_id)
    return StaffBookingRead(
        **_booking_fields(booking, slot, service, point),
        booker=BookerRef(
            id=booking.user_id,
            name=(user.name or user.nickname) if user else None,
            phone_masked=mask_phone(user.phone) if user else None,
        ),
    )
