"""POST /admin/services/{id}/slots, GET /services/{id}/slots and
GET /admin/slots/{id}/bookings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import Service, ServicePoint
from app.core import clock
from app.core.settings import Settings
from app.privacy.models import AuditEntry
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
    return await make_point(session, w.tree.grid)


def slot_body(point: ServicePoint, **change: Any) -> dict[str, Any]:
    return {
        "point_id": point.id,
        "start_at": "2026-11-24T09:00:00+08:00",
        "end_at": "2026-11-24T09:30:00+08:00",
        "capacity": 10,
        **change,
    }


def url(service: Service) -> str:
    return f"/api/v1/admin/services/{service.id}/slots"


async def test_staff_where_the_point_is_publish_slots(
    client: httpx.AsyncClient, w: World, service: Service, point: ServicePoint
) -> None:
    with clock.frozen(NOW):
        for i, staff in enumerate((w.worker, w.community_admin, w.street_admin)):
            r = await client.post(
                url(service),
                json=slot_body(
                    point,
                    start_at=f"2026-11-24T0{i + 1}:00:00Z",
                    end_at=f"2026-11-24T0{i + 1}:30:00Z",
                ),
                headers=w.h(staff),
            )
            assert r.status_code == 201, r.text
        body = r.json()
    assert body["service_id"] == service.id
    assert body["point"]["id"] == point.id
    assert (body["capacity"], body["booked"], body["remaining"]) == (10, 0, 10)
    assert body["start_at"] == "2026-11-24T11:00:00+08:00"  # shown in Shanghai time
    assert body["available"] is True and body["started"] is False


async def test_slot_scope_role_and_login(
    client: httpx.AsyncClient, w: World, service: Service, point: ServicePoint
) -> None:
    with clock.frozen(NOW):
        r = await client.post(url(service), json=slot_body(point), headers=w.h(w.far_worker))
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "service_point.not_found"
        r = await client.post(
            url(service), json=slot_body(point), headers=w.h(w.other_community_admin)
        )
        assert r.status_code == 404
        r = await client.post(url(service), json=slot_body(point), headers=w.h(w.resident))
        assert r.status_code == 403 and r.json()["error"]["code"] == "auth.staff_only"
        r = await client.post(url(service), json=slot_body(point))
        assert r.status_code == 401
        r = await client.post(
            "/api/v1/admin/services/99999999/slots", json=slot_body(point), headers=w.h(w.worker)
        )
        assert r.status_code == 404 and r.json()["error"]["code"] == "service.not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"capacity": 0},
        {"capacity": 1001},
        {"end_at": "2026-11-24T09:00:00+08:00"},  # ends when it starts
        {"end_at": "2026-11-24T08:00:00+08:00"},
        {"end_at": "2026-11-25T09:30:00+08:00"},  # longer than a day
        {"start_at": "2026-11-24T09:00:00"},  # no offset
        {"start_at": "tomorrow"},
        {"point_id": None},
    ],
)
async def test_slot_bad_input(
    client: httpx.AsyncClient,
    w: World,
    service: Service,
    point: ServicePoint,
    change: dict[str, Any],
) -> None:
    with clock.frozen(NOW):
        r = await client.post(url(service), json=slot_body(point, **change), headers=w.h(w.worker))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_slot_rules(
    client: httpx.AsyncClient,
    session: AsyncSession,
    w: World,
    service: Service,
    point: ServicePoint,
) -> None:
    not_bookable = await make_service(session, w.tree.street, bookable=False)
    community_only = await make_service(session, w.tree.other_community)
    closed = await make_point(session, w.tree.grid, active=False)
    with clock.frozen(NOW):
        r = await client.post(
            url(service),
            json=slot_body(point, start_at="2026-11-23T09:59:00+08:00"),
            headers=w.h(w.worker),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "slot.in_past"
        r = await client.post(url(not_bookable), json=slot_body(point), headers=w.h(w.worker))
        assert r.status_code == 422 and r.json()["error"]["code"] == "service.not_bookable"
        r = await client.post(url(community_only), json=slot_body(point), headers=w.h(w.worker))
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "slot.point_outside_service_region"
        r = await client.post(url(service), json=slot_body(closed), headers=w.h(w.worker))
        assert r.status_code == 422 and r.json()["error"]["code"] == "service_point.inactive"


async def test_create_slot_is_idempotent(
    client: httpx.AsyncClient, w: World, service: Service, point: ServicePoint
) -> None:
    with clock.frozen(NOW):
        headers = {**w.h(w.worker), "Idempotency-Key": "slot-1"}
        first = await client.post(url(service), json=slot_body(point), headers=headers)
        again = await client.post(url(service), json=slot_body(point), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]


async def test_list_slots_of_a_day(
    client: httpx.AsyncClient,
    session: AsyncSession,
    w: World,
    service: Service,
    point: ServicePoint,
) -> None:
    other_point = await make_point(session, w.tree.grid, name="另一站")
    late = await make_slot(session, service, point, start=sh("2026-11-24T15:00"), capacity=2)
    early = await make_slot(session, service, other_point, start=sh("2026-11-24T00:00"))
    await make_slot(session, service, point, start=sh("2026-11-25T00:00"))  # the next day
    await make_slot(session, service, point, start=sh("2026-11-23T23:59"))  # the day before
    started = await make_slot(session, service, point, start=sh("2026-11-23T09:00"))
    late.booked = 2
    await session.flush()

    base = f"/api/v1/services/{service.id}/slots"
    with clock.frozen(NOW):
        r = await client.get(base, params={"date": "2026-11-24"})  # no login
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["id"] for i in items] == [early.id, late.id]
        full = items[1]
        assert (full["booked"], full["remaining"], full["available"]) == (2, 0, False)
        assert items[0]["available"] is True

        r = await client.get(base, params={"date": "2026-11-24", "point_id": point.id})
        assert [i["id"] for i in r.json()["items"]] == [late.id]

        r = await client.get(base)  # today in Shanghai
        today = {i["id"]: i for i in r.json()["items"]}
        assert today[started.id]["started"] is True
        assert today[started.id]["available"] is False

        r = await client.get(base, params={"date": "2026-13-01"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
        r = await client.get("/api/v1/services/99999999/slots")
        assert r.status_code == 404 and r.json()["error"]["code"] == "service.not_found"


async def test_staff_see_the_bookings_of_a_slot(
    client: httpx.AsyncClient,
    session: AsyncSession,
    w: World,
    service: Service,
    point: ServicePoint,
) -> None:
    slot = await make_slot(session, service, point, start=clock.now() + timedelta(days=1))
    for resident in (w.resident, w.other_resident):
        r = await client.post("/api/v1/bookings", json={"slot_id": slot.id}, headers=w.h(resident))
        assert r.status_code == 201, r.text
    base = f"/api/v1/admin/slots/{slot.id}/bookings"
    r = await client.get(base, headers=w.h(w.worker))
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["booker"]["id"] for i in items] == [w.resident.id, w.other_resident.id]
    assert items[0]["booker"]["name"] == "张居民"
    assert items[0]["booker"]["phone_masked"] == "139****5678"
    r = await client.get(base, params={"limit": 1}, headers=w.h(w.worker))
    page = r.json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    r = await client.get(
        base, params={"limit": 1, "cursor": page["next_cursor"]}, headers=w.h(w.worker)
    )
    assert [i["booker"]["id"] for i in r.json()["items"]] == [w.other_resident.id]

    # Each look at a booker's name is in the personal-information audit log.
    entries = list(
        await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.resource == f"slot:{slot.id}")
            .order_by(AuditEntry.id)
        )
    )
    assert [(e.actor_id, e.subject_id, e.action) for e in entries] == [
        (w.worker.id, w.resident.id, "booking.booker"),
        (w.worker.id, w.other_resident.id, "booking.booker"),
        (w.worker.id, w.resident.id, "booking.booker"),
        (w.worker.id, w.other_resident.id, "booking.booker"),
    ]
    assert all(e.region_path == point.region_path for e in entries)

    r = await client.get(base, headers=w.h(w.far_worker))
    assert r.status_code == 404 and r.json()["error"]["code"] == "slot.not_found"
    r = await client.get(base, headers=w.h(w.resident))
    assert r.status_code == 403
    r = await client.get(base)
    assert r.status_code == 401
    r = await client.get(base, params={"status": "lost"}, headers=w.h(w.worker))
    assert r.status_code == 422
