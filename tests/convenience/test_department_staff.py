"""Department staff and service points: a department handles the cases routed
to it (DESIGN §11); it does not staff the points of the region it sits in, so
at a point they get the answer any staff member from elsewhere gets."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.settings import Settings
from app.org.models import Department
from app.users.models import User
from tests.convenience.helpers import World, make_point, make_service, make_slot, make_world, sh
from tests.factories import make_staff

NOW = sh("2026-11-23T10:00")  # a Monday
START = sh("2026-11-23T14:00")


@pytest.fixture
async def w(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


@pytest.fixture
async def clerk(session: AsyncSession, w: World) -> User:
    """Staff of a street-level department (供电所) over the point's street."""
    department = Department(name="供电所", region_id=w.tree.street.id, category_codes=[])
    session.add(department)
    await session.flush()
    return await make_staff(session, "department_staff", w.tree.street, department=department)


@pytest.fixture
async def service(session: AsyncSession, w: World) -> Service:
    return await make_service(session, w.tree.street)


@pytest.fixture
async def point(session: AsyncSession, w: World) -> ServicePoint:
    return await make_point(session, w.tree.community)


@pytest.fixture
async def slot(session: AsyncSession, service: Service, point: ServicePoint) -> ServiceSlot:
    return await make_slot(session, service, point, start=START, capacity=2)


async def test_department_staff_do_not_publish_slots_at_points(
    client: httpx.AsyncClient, w: World, clerk: User, service: Service, point: ServicePoint
) -> None:
    body = {
        "point_id": point.id,
        "start_at": "2026-11-24T09:00:00+08:00",
        "end_at": "2026-11-24T09:30:00+08:00",
        "capacity": 10,
    }
    url = f"/api/v1/admin/services/{service.id}/slots"
    with clock.frozen(NOW):
        for outsider in (clerk, w.far_worker):
            r = await client.post(url, json=body, headers=w.h(outsider))
            assert r.status_code == 404, r.text
            assert r.json()["error"]["code"] == "service_point.not_found"
        # The staff of the community still may.
        r = await client.post(url, json=body, headers=w.h(w.community_admin))
        assert r.status_code == 201, r.text


async def test_department_staff_do_not_see_a_slots_bookers(
    client: httpx.AsyncClient, w: World, clerk: User, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        r = await client.post(
            "/api/v1/bookings", json={"slot_id": slot.id}, headers=w.h(w.resident)
        )
        assert r.status_code == 201, r.text
        url = f"/api/v1/admin/slots/{slot.id}/bookings"
        for outsider in (clerk, w.far_worker):
            r = await client.get(url, headers=w.h(outsider))
            assert r.status_code == 404 and r.json()["error"]["code"] == "slot.not_found"
        r = await client.get(url, headers=w.h(w.street_admin))
        assert r.status_code == 200 and len(r.json()["items"]) == 1


async def test_department_staff_do_not_check_residents_in(
    client: httpx.AsyncClient, w: World, clerk: User, slot: ServiceSlot
) -> None:
    with clock.frozen(NOW):
        r = await client.post(
            "/api/v1/bookings", json={"slot_id": slot.id}, headers=w.h(w.resident)
        )
        booking = r.json()
    url = f"/api/v1/bookings/{booking['id']}/check-in"
    with clock.frozen(START - timedelta(minutes=10)):
        for outsider in (clerk, w.far_worker):
            r = await client.post(url, headers=w.h(outsider))
            assert r.status_code == 404 and r.json()["error"]["code"] == "booking.not_found"
        r = await client.post(url, headers=w.h(w.community_admin))
        assert r.status_code == 200, r.text
