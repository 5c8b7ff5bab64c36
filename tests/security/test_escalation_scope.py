"""Escalating to a department stays inside the case's area: that department's
staff then read the case and the reporter's contact, so a handler must not be
able to send it to another district's department (DESIGN §11)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org.models import Department, Region
from tests.factories import make_staff, make_tree
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _department(session: AsyncSession, region: Region, name: str) -> Department:
    department = Department(name=name, region_id=region.id, category_codes=["environment"])
    session.add(department)
    await session.flush()
    return department


async def _in_progress(client: httpx.AsyncClient, world: World) -> int:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    assert (await act(client, world.h(world.worker), rid, "accept")).status_code == 200
    return rid  # type: ignore[no-any-return]


def _to(department_id: int) -> dict[str, object]:
    return {"reason": "需要职能部门处理", "to": "department", "department_id": department_id}


async def test_a_department_outside_the_cases_area_is_not_found(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    elsewhere = await make_tree(session)
    foreign = await _department(session, elsewhere.district, "别区城管局")
    foreign_staff = await make_staff(
        session, "department_staff", elsewhere.district, department=foreign
    )
    neighbour = await _department(session, world.tree.other_community, "沁水湾物业办")
    rid = await _in_progress(client, world)
    worker = world.h(world.worker)

    r = await act(client, worker, rid, "escalate", _to(foreign.id + 10_000))
    assert r.status_code == 404
    unknown = r.json()["error"]
    for department in (foreign, neighbour):
        r = await act(client, worker, rid, "escalate", _to(department.id))
        assert r.status_code == 404, r.text
        assert r.json()["error"] == unknown
    r = await client.get(f"/api/v1/reports/{rid}", headers=worker)
    assert r.json()["status"] == "in_progress"
    assert "escalated" not in [e["type"] for e in r.json()["timeline"]]
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(foreign_staff))
    assert r.status_code == 404


@pytest.mark.parametrize("level", ["district", "street", "community"])
async def test_a_department_over_the_case_takes_it(
    client: httpx.AsyncClient, world: World, session: AsyncSession, level: str
) -> None:
    department = await _department(session, getattr(world.tree, level), "城管局")
    staff = await make_staff(
        session, "department_staff", world.tree.district, department=department
    )
    rid = await _in_progress(client, world)
    r = await act(client, world.h(world.worker), rid, "escalate", _to(department.id))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "escalated"
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(staff))
    assert r.status_code == 200, r.text
