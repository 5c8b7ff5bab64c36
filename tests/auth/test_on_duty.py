"""A worker takes themselves out of automatic dispatch while on leave
(PATCH /me ``on_duty``), and back in; residents have no such state."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

ME = "/api/v1/me"


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _assignee(client: httpx.AsyncClient, world: World) -> int:
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    return int(r.json()["assignee"]["id"])


async def test_a_worker_on_leave_gets_no_new_cases(client: httpx.AsyncClient, world: World) -> None:
    worker = world.h(world.worker)
    assert (await client.get(ME, headers=worker)).json()["on_duty"] is True
    assert await _assignee(client, world) == world.worker.id

    r = await client.patch(ME, json={"on_duty": False}, headers=worker)
    assert r.status_code == 200, r.text
    assert r.json()["on_duty"] is False
    assert await _assignee(client, world) == world.leader.id  # DESIGN §5: then the leader
    # The case they already hold stays theirs.
    r = await client.get("/api/v1/worker/tasks", headers=worker)
    assert len(r.json()["items"]) == 1

    r = await client.patch(ME, json={"on_duty": True}, headers=worker)
    assert r.status_code == 200, r.text
    assert await _assignee(client, world) == world.worker.id


async def test_residents_have_no_duty_and_null_is_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    resident = world.h(world.resident)
    assert (await client.get(ME, headers=resident)).json()["on_duty"] is None
    r = await client.patch(ME, json={"on_duty": False}, headers=resident)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "auth.staff_only"
    r = await client.patch(ME, json={"on_duty": None}, headers=world.h(world.worker))
    assert r.status_code == 422, r.text
