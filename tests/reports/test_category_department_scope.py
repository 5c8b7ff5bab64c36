"""A category routed straight to a department sends cases only to a
department whose region holds the case: its staff read the case and the
reporter's contact. Admins name only departments within their own scope."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org.models import Department
from app.reports.models import Category, Report
from tests.factories import auth, make_region, make_staff
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def department(session: AsyncSession, region_id: int, name: str) -> Department:
    row = Department(name=name, region_id=region_id, category_codes=[])
    session.add(row)
    await session.flush()
    return row


async def route_to(session: AsyncSession, department_id: int) -> None:
    await session.execute(
        update(Category)
        .where(Category.code == "water_power")
        .values(routing="department", department_id=department_id)
    )
    await session.flush()


async def test_a_case_goes_to_a_department_that_holds_it(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    utility = await department(session, world.tree.district.id, "供电公司")
    await route_to(session, utility.id)
    r = await submit(client, world.h(world.resident), category="water_power", location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["status"], body["assignee"]) == ("dispatched", None)
    report = await session.get(Report, body["id"])
    assert report is not None
    assert (report.owner_level, report.owner_department_id) == ("department", utility.id)


async def test_a_department_elsewhere_does_not_get_the_case(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    # The department serves the other community; the case lies in the first one.
    elsewhere = await department(session, world.tree.other_community.id, "沁水湾物业站")
    await route_to(session, elsewhere.id)
    r = await submit(client, world.h(world.resident), category="water_power", location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "dispatched"
    assert body["assignee"]["id"] == world.worker.id
    report = await session.get(Report, body["id"])
    assert report is not None
    assert (report.owner_level, report.owner_department_id) == ("grid", None)


async def test_a_district_admin_sharing_the_service_routes_no_category(
    client: httpx.AsyncClient, session: AsyncSession, world: World, settings: Settings
) -> None:
    """Categories are shared by every district: with two districts, one
    district's admin writes none (``auth.config_admin_only``), so cannot point
    one at another district's department, nor at their own."""
    theirs = await department(session, world.tree.district.id, "供电公司")
    other_district = await make_region(session, level="district", name="博爱县")
    other_admin = await make_staff(session, "district_admin", other_district)
    own = await department(session, other_district.id, "博爱县供电")
    headers = auth(settings, other_admin)
    body = {
        "code": "qa_cross",
        "name": "跨区类别",
        "kind": "issue",
        "routing": "department",
        "department_id": theirs.id,
    }
    for department_id in (theirs.id, own.id):
        r = await client.post(
            "/api/v1/admin/categories",
            json={**body, "department_id": department_id},
            headers=headers,
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "auth.config_admin_only"
        r = await client.patch(
            "/api/v1/admin/categories/water_power",
            json={"routing": "department", "department_id": department_id},
            headers=headers,
        )
        assert r.status_code == 403, r.text
