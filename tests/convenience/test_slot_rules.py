"""What a published slot must respect: the point's opening hours and
holidays, a year ahead at most, dates a calendar can hold; and a point taken
out of service takes no more bookings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import Booking, Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.settings import Settings
from tests.convenience.helpers import World, make_point, make_service, make_slot, make_world, sh

NOW = sh("2026-11-23T10:00")  # a Monday


@pytest.fixture
async def w(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


@pytest.fixture
async def service(session: AsyncSession, w: World) -> Service:
    return await make_service(session, w.tree.street)


@pytest.fixture
async def point(session: AsyncSession, w: World) -> ServicePoint:
    # Monday to Friday 09:00–17:00, closed on holidays (the helper's default).
    return await make_point(session, w.tree.grid)


async def publish(
    client: httpx.AsyncClient,
    w: World,
    service: Service,
    point: ServicePoint,
    now: datetime = NOW,
    **body: Any,
) -> httpx.Response:
    with clock.frozen(now):
        return await client.post(
            f"/api/v1/admin/services/{service.id}/slots",
            json={"point_id": point.id, "capacity": 5, **body},
            headers=w.h(w.community_admin),
        )


def at(start: str, end: str) -> dict[str, str]:
    return {"start_at": f"{start}+08:00", "end_at": f"{end}+08:00"}


async def test_a_slot_inside_the_opening_hours_is_published(
    client: httpx.AsyncClient, w: World, service: Service, point: ServicePoint
) -> None:
    for start, end in (
        ("2026-11-24T09:00:00", "2026-11-24T09:30:00"),  # from the opening
        ("2026-11-24T16:30:00", "2026-11-24T17:00:00"),  # to the closing
    ):
        r = await publish(client, w, service, point, **at(start, end))
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        ("2026-11-24T08:30:00", "2026-11-24T09:30:00", "周二的营业时间（09:00–17:00）"),
        ("2026-11-24T16:45:00", "2026-11-24T17:15:00", "周二的营业时间（09:00–17:00）"),
        ("2026-11-24T03:00:00", "2026-11-24T04:00:00", "周二"),
        ("2026-11-29T10:00:00", "2026-11-29T11:00:00", "周日的营业时间（不营业）"),
        # 09:00 Shanghai meant, 09:00 UTC sent: 17:00–17:30 in Shanghai.
        ("2026-11-24T17:00:00", "2026-11-24T17:30:00", "周二"),
    ],
)
async def test_a_slot_outside_the_opening_hours_is_refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    w: World,
    service: Service,
    point: ServicePoint,
    start: str,
    end: str,
    says: str,
) -> None:
    r = await publish(client, w, service, point, **at(start, end))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "slot.outside_opening_hours"
    assert says in error["message"] and "outside_hours" in error["message"]
    assert await session.scalar(select(func.count()).select_from(ServiceSlot)) == 0


async def test_a_special_session_says_so_and_is_published(
    client: httpx.AsyncClient, w: World, service: Service, point: ServicePoint
) -> None:
    r = await publish(
        client,
        w,
        service,
        point,
        outside_hours=True,
        **at("2026-11-29T10:00:00", "2026-11-29T11:00:00"),
    )
    assert r.status_code == 201, r.text


async def test_a_holiday_closes_the_point_unless_it_opens_on_holidays(
    client: httpx.AsyncClient, session: AsyncSession, w: World, service: Service
) -> None:
    # 2026-10-01 is a Thursday and National Day.
    closed = await make_point(session, w.tree.grid, name="社区服务中心")
    always = await make_point(session, w.tree.grid, name="驿站", open_on_holidays=True)
    when = {"now": sh("2026-09-20T10:00"), **at("2026-10-01T10:00:00", "2026-10-01T10:30:00")}
    r = await publish(client, w, service, closed, **when)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "slot.outside_opening_hours"
    assert "节假日" in r.json()["error"]["message"]
    r = await publish(client, w, service, always, **when)
    assert r.status_code == 201, r.text
    r = await publish(client, w, service, closed, outside_hours=True, **when)
    assert r.status_code == 201, r.text


async def test_a_point_without_published_hours_is_not_checked(
    client: httpx.AsyncClient, session: AsyncSession, w: World, service: Service
) -> None:
    point = await make_point(session, w.tree.grid, opening_hours=[])
    r = await publish(client, w, service, point, **at("2026-11-29T03:00:00", "2026-11-29T04:00:00"))
    assert r.status_code == 201, r.text


async def test_slots_are_published_a_year_ahead_at_most(
    client: httpx.AsyncClient, w: World, service: Service, point: ServicePoint
) -> None:
    r = await publish(client, w, service, point, **at("2027-11-23T09:00:00", "2027-11-23T10:00:00"))
    assert r.status_code == 201, r.text
    r = await publish(client, w, service, point, **at("2027-11-26T09:00:00", "2027-11-26T10:00:00"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "slot.too_far_ahead"


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("9999-12-31T20:00:00-05:00", "9999-12-31T21:00:00-05:00"),
        ("9999-12-31T23:00:00+08:00", "9999-12-31T23:30:00+08:00"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T01:00:00+14:00"),
    ],
)
async def test_dates_beyond_any_calendar_are_a_validation_error(
    client: httpx.AsyncClient,
    w: World,
    service: Service,
    point: ServicePoint,
    start: str,
    end: str,
) -> None:
    r = await publish(client, w, service, point, start_at=start, end_at=end)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert "1970" in r.text


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1969-12-31"])
async def test_listing_slots_of_a_day_no_calendar_holds_is_refused(
    client: httpx.AsyncClient, service: Service, day: str
) -> None:
    r = await client.get(f"/api/v1/services/{service.id}/slots", params={"date": day})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_a_point_taken_out_of_service_takes_no_bookings(
    client: httpx.AsyncClient,
    session: AsyncSession,
    w: World,
    service: Service,
    point: ServicePoint,
) -> None:
    with clock.frozen(NOW):
        slot = await make_slot(session, service, point)
        r = await client.patch(
            f"/api/v1/admin/service-points/{point.id}",
            json={"active": False},
            headers=w.h(w.community_admin),
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            "/api/v1/bookings", json={"slot_id": slot.id}, headers=w.h(w.resident)
        )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "booking.point_inactive"
    assert await session.scalar(select(func.count()).select_from(Booking)) == 0
    await session.refresh(slot)
    assert slot.booked == 0


async def test_touching_intervals_are_one_stretch_open(
    client: httpx.AsyncClient, session: AsyncSession, w: World, service: Service
) -> None:
    # Open 08:30–12:00 and 12:00–17:30 on Tuesdays: no break at noon. Open
    # 20:00–24:00 on Tuesdays and 00:00–02:00 on Wednesdays: open across midnight.
    point = await make_point(
        session,
        w.tree.grid,
        opening_hours=[
            {"weekday": 2, "open": "08:30", "close": "12:00"},
            {"weekday": 2, "open": "12:00", "close": "17:30"},
            {"weekday": 2, "open": "20:00", "close": "24:00"},
            {"weekday": 3, "open": "00:00", "close": "02:00"},
        ],
    )
    for start, end in (
        ("2026-11-24T11:00:00", "2026-11-24T13:00:00"),
        ("2026-11-24T23:00:00", "2026-11-25T01:00:00"),
        ("2026-11-24T20:00:00", "2026-11-25T02:00:00"),
    ):
        r = await publish(client, w, service, point, **at(start, end))
        assert r.status_code == 201, (start, r.text)
    for start, end in (
        ("2026-11-24T17:00:00", "2026-11-24T20:30:00"),  # across the evening break
        ("2026-11-24T23:00:00", "2026-11-25T02:30:00"),  # past the Wednesday close
    ):
        r = await publish(client, w, service, point, **at(start, end))
        assert r.status_code == 422, (start, r.text)
        assert r.json()["error"]["code"] == "slot.outside_opening_hours"
