"""POST /bookings, GET /bookings/mine, POST /bookings/{id}/cancel and
POST /bookings/{id}/check-in (rolled-back tests; real concurrency is in
test_concurrency.py)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import Booking, Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.settings import Settings
from app.privacy.models import AuditEntry
from app.users.models import User
from tests.convenience.helpers import World, make_point, make_service, make_slot, make_world, sh
from tests.factories import make_user

BOOKINGS = "/api/v1/bookings"
NOW = sh("2026-11-23T10:00")  # a Monday
START = sh("2026-11-23T14:00")


@pytest.fixture
async def w(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


@pytest.fixture
async def service(session: AsyncSession, w: World) -> Service:
    return await make_service(session, w.tree.street)


@pytest.fixture
async def point(session: AsyncSession, w: World) -> ServicePoint:
    return await make_point(session, w.tree.grid)


@pytest.fixture
async def slot(session: AsyncSession, service: Service, point: ServicePoint) -> ServiceSlot:
    return await make_slot(session, service, point, start=START, capacity=2)


async def _seats(session: AsyncSession, slot: ServiceSlot) -> tuple[int, int]:
    """The slot's counter and the number of active bookings, read fresh."""
    booked = await session.scalar(
        select(ServiceSlot.booked)
        .where(ServiceSlot.id == slot.id)
        .execution_options(populate_existing=True)
    )
    active = await session.scalar(
        select(func.count())
        .select_from(Booking)
        .where(Booking.slot_id == slot.id, Booking.status != "cancelled")
    )
    return int(booked or 0), int(active or 0)


async def book(
    client: httpx.AsyncClient, w: World, user: User, slot: ServiceSlot, **headers: str
) -> httpx.Response:
    return await client.post(BOOKINGS, json={"slot_id": slot.id}, headers={**w.h(user), **headers})


async def test_book_and_list_mine(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        r = await book(client, w, w.resident, slot)
        assert r.status_code == 201, r.text
        booking = r.json()
        assert booking["status"] == "booked"
        assert booking["slot"] == {
            "id": slot.id,
            "start_at": "2026-11-23T14:00:00+08:00",
            "end_at": "2026-11-23T14:30:00+08:00",
        }
        assert booking["service"]["id"] == slot.service_id
        assert booking["point"]["id"] == slot.point_id
        assert booking["created_at"] == "2026-11-23T10:00:00+08:00"
        assert await _seats(session, slot) == (1, 1)

        r = await client.get(f"{BOOKINGS}/mine", headers=w.h(w.resident))
        assert r.status_code == 200, r.text
        assert [b["id"] for b in r.json()["items"]] == [booking["id"]]
        r = await client.get(f"{BOOKINGS}/mine", headers=w.h(w.other_resident))
        assert r.json()["items"] == []
        r = await client.get(
            f"{BOOKINGS}/mine", params={"status": "cancelled"}, headers=w.h(w.resident)
        )
        assert r.json()["items"] == []
        r = await client.get(f"{BOOKINGS}/mine", params={"status": "gone"}, headers=w.h(w.resident))
        assert r.status_code == 422
        assert (await client.get(f"{BOOKINGS}/mine")).status_code == 401


async def test_mine_pages_newest_first(
    client: httpx.AsyncClient,
    session: AsyncSession,
    w: World,
    service: Service,
    point: ServicePoint,
) -> None:
    slots = [
        await make_slot(session, service, point, start=START + timedelta(hours=i)) for i in range(3)
    ]
    with clock.frozen(NOW):
        ids = [(await book(client, w, w.resident, s)).json()["id"] for s in slots]
        r = await client.get(f"{BOOKINGS}/mine", params={"limit": 2}, headers=w.h(w.resident))
        page = r.json()
        assert [b["id"] for b in page["items"]] == [ids[2], ids[1]]
        r = await client.get(
            f"{BOOKINGS}/mine",
            params={"limit": 2, "cursor": page["next_cursor"]},
            headers=w.h(w.resident),
        )
        assert [b["id"] for b in r.json()["items"]] == [ids[0]]
        assert r.json()["next_cursor"] is None


async def test_booking_needs_login_and_valid_input(
    client: httpx.AsyncClient, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        r = await client.post(BOOKINGS, json={"slot_id": slot.id})
        assert r.status_code == 401
        for body in ({}, {"slot_id": "one"}, {"slot_id": slot.id, "seats": 2}):
            r = await client.post(BOOKINGS, json=body, headers=w.h(w.resident))
            assert r.status_code == 422, body
            assert r.json()["error"]["code"] == "validation_error"
        r = await client.post(BOOKINGS, json={"slot_id": 99999999}, headers=w.h(w.resident))
        assert r.status_code == 404 and r.json()["error"]["code"] == "slot.not_found"


async def test_full_slot_is_refused_and_never_exceeded(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    third = await make_user(session)
    with clock.frozen(NOW):
        assert (await book(client, w, w.resident, slot)).status_code == 201
        assert (await book(client, w, w.other_resident, slot)).status_code == 201
        r = await book(client, w, third, slot)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "booking.full"
    assert await _seats(session, slot) == (2, 2)


async def test_one_resident_one_seat_per_slot(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        first = await book(client, w, w.resident, slot)
        r = await book(client, w, w.resident, slot)
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "booking.duplicate"
    assert error["details"]["booking_id"] == first.json()["id"]
    assert await _seats(session, slot) == (1, 1)


async def test_database_refuses_a_second_active_seat(
    session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    """The partial unique index itself, in case two requests pass the check at once."""
    from sqlalchemy.exc import IntegrityError

    session.add(Booking(slot_id=slot.id, user_id=w.resident.id, status="cancelled"))
    session.add(Booking(slot_id=slot.id, user_id=w.resident.id, status="booked"))
    await session.flush()  # a cancelled seat does not count
    nested = await session.begin_nested()
    session.add(Booking(slot_id=slot.id, user_id=w.resident.id, status="checked_in"))
    with pytest.raises(IntegrityError):
        await session.flush()
    await nested.rollback()


async def test_started_slot_cannot_be_booked(
    client: httpx.AsyncClient, w: World, slot: ServiceSlot
) -> None:
    for at in (START, START + timedelta(minutes=5), START + timedelta(days=1)):
        with clock.frozen(at):
            r = await book(client, w, w.resident, slot)
        assert r.status_code == 409, at
        assert r.json()["error"]["code"] == "booking.slot_started"
    with clock.frozen(START - timedelta(seconds=1)):
        assert (await book(client, w, w.resident, slot)).status_code == 201


async def test_withdrawn_or_unbookable_service_refuses_bookings(
    client: httpx.AsyncClient, session: AsyncSession, w: World, service: Service, slot: ServiceSlot
) -> None:
    service.bookable = False
    await session.flush()
    with clock.frozen(NOW):
        r = await book(client, w, w.resident, slot)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "booking.service_unavailable"


async def test_cancel_frees_the_seat(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    third = await make_user(session)
    with clock.frozen(NOW):
        mine = (await book(client, w, w.resident, slot)).json()
        assert (await book(client, w, w.other_resident, slot)).status_code == 201
        assert (await book(client, w, third, slot)).json()["error"]["code"] == "booking.full"

        r = await client.post(f"{BOOKINGS}/{mine['id']}/cancel", headers=w.h(w.resident))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "cancelled"
        assert r.json()["cancelled_at"] == "2026-11-23T10:00:00+08:00"
        assert await _seats(session, slot) == (1, 1)

        # The freed seat can be taken, and the canceller may book again later.
        assert (await book(client, w, third, slot)).status_code == 201
        assert (await book(client, w, w.resident, slot)).json()["error"]["code"] == "booking.full"

        r = await client.post(f"{BOOKINGS}/{mine['id']}/cancel", headers=w.h(w.resident))
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "booking.already_cancelled"
    assert await _seats(session, slot) == (2, 2)


async def test_rebook_after_cancel(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        first = (await book(client, w, w.resident, slot)).json()
        await client.post(f"{BOOKINGS}/{first['id']}/cancel", headers=w.h(w.resident))
        again = await book(client, w, w.resident, slot)
    assert again.status_code == 201
    assert again.json()["id"] != first["id"]
    assert await _seats(session, slot) == (1, 1)


async def test_only_the_booker_cancels_and_only_before_the_start(
    client: httpx.AsyncClient, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        booking = (await book(client, w, w.resident, slot)).json()
    url = f"{BOOKINGS}/{booking['id']}/cancel"
    with clock.frozen(NOW):
        for other in (w.other_resident, w.worker, w.superadmin):
            r = await client.post(url, headers=w.h(other))
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "booking.not_found"
        assert (await client.post(url)).status_code == 401
        r = await client.post(f"{BOOKINGS}/99999999/cancel", headers=w.h(w.resident))
        assert r.status_code == 404
    with clock.frozen(START):
        r = await client.post(url, headers=w.h(w.resident))
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "booking.slot_started"


async def test_check_in(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        booking = (await book(client, w, w.resident, slot)).json()
    url = f"{BOOKINGS}/{booking['id']}/check-in"
    with clock.frozen(START - timedelta(minutes=10)):
        r = await client.post(url, headers=w.h(w.worker))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "checked_in"
        assert body["checked_in_at"] == "2026-11-23T13:50:00+08:00"
        assert body["booker"]["id"] == w.resident.id
        r = await client.post(url, headers=w.h(w.community_admin))
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "booking.already_checked_in"
        # A checked-in booking cannot be cancelled any more.
        r = await client.post(f"{BOOKINGS}/{booking['id']}/cancel", headers=w.h(w.resident))
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "booking.already_checked_in"
        r = await client.get(f"{BOOKINGS}/mine", headers=w.h(w.resident))
        assert r.json()["items"][0]["status"] == "checked_in"
    # The answer shows the booker's name to staff: that read is audited; the
    # refused second check-in showed nothing.
    entries = list(
        await session.scalars(
            select(AuditEntry).where(AuditEntry.resource == f"booking:{booking['id']}")
        )
    )
    assert [(e.actor_id, e.subject_id, e.action) for e in entries] == [
        (w.worker.id, w.resident.id, "booking.booker")
    ]
    point = await session.get(ServicePoint, slot.point_id)
    assert point is not None and entries[0].region_path == point.region_path


async def test_check_in_scope_role_window_and_cancelled(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        booking = (await book(client, w, w.resident, slot)).json()
        cancelled = (await book(client, w, w.other_resident, slot)).json()
        await client.post(f"{BOOKINGS}/{cancelled['id']}/cancel", headers=w.h(w.other_resident))
    url = f"{BOOKINGS}/{booking['id']}/check-in"
    with clock.frozen(START - timedelta(minutes=10)):
        r = await client.post(url, headers=w.h(w.far_worker))
        assert r.status_code == 404 and r.json()["error"]["code"] == "booking.not_found"
        r = await client.post(url, headers=w.h(w.other_community_admin))
        assert r.status_code == 404
        r = await client.post(url, headers=w.h(w.resident))
        assert r.status_code == 403 and r.json()["error"]["code"] == "auth.staff_only"
        assert (await client.post(url)).status_code == 401
        r = await client.post(f"{BOOKINGS}/{cancelled['id']}/check-in", headers=w.h(w.worker))
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "booking.already_cancelled"
    # From an hour before the start to the end of the slot's day in Shanghai.
    for at, ok in [
        (START - timedelta(hours=1, seconds=1), False),
        (sh("2026-11-24T00:00"), False),
        (sh("2026-11-23T23:59"), True),
    ]:
        with clock.frozen(at):
            r = await client.post(url, headers=w.h(w.worker))
        if ok:
            assert r.status_code == 200, r.text
        else:
            assert r.status_code == 409, at
            assert r.json()["error"]["code"] == "booking.check_in_not_open"


async def test_idempotent_booking_retry_returns_the_same_booking(
    client: httpx.AsyncClient, session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        first = await book(client, w, w.resident, slot, **{"Idempotency-Key": "book-1"})
        again = await book(client, w, w.resident, slot, **{"Idempotency-Key": "book-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotency-replayed") == "true"
    assert await _seats(session, slot) == (1, 1)
    # Another resident's key of the same name is another request.
    with clock.frozen(NOW):
        other = await book(client, w, w.other_resident, slot, **{"Idempotency-Key": "book-1"})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


async def test_the_conditional_update_guards_capacity_on_its_own(
    session: AsyncSession, w: World, slot: ServiceSlot
) -> None:
    """A booker whose read of the slot is stale (another request filled it in
    between) is still refused by the counter's conditional UPDATE."""
    from sqlalchemy import update

    from app.auth.dependencies import load_principal
    from app.convenience import bookings
    from app.core.errors import AppError

    assert slot.booked == 0  # what this session will believe
    await session.execute(
        update(ServiceSlot)
        .where(ServiceSlot.id == slot.id)
        .values(booked=slot.capacity)
        .execution_options(synchronize_session=False)
    )
    principal = await load_principal(session, w.resident)
    request = await session.begin_nested()  # stands for the request's transaction
    with clock.frozen(NOW), pytest.raises(AppError) as info:
        await bookings.book(session, principal=principal, slot_id=slot.id)
    assert info.value.code == "booking.full"
    assert slot.booked == 0  # the stale read really was stale
    await request.rollback()  # what the request does on any error
    assert await _seats(session, slot) == (slot.capacity, 0)
