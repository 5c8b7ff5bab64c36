"""Transfer refuses a move that changes nothing; an extension request answers
like every other action (API.md: 200 with the updated object)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


@pytest.mark.parametrize(
    ("caller", "code"),
    [("worker", "report.transfer_to_self"), ("community_admin", "report.transfer_to_assignee")],
)
async def test_transfer_to_the_current_assignee_is_refused(
    client: httpx.AsyncClient, world: World, caller: str, code: str
) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    worker = world.h(world.worker)
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(
        client,
        world.h(getattr(world, caller)),
        rid,
        "transfer",
        {"assignee_id": world.worker.id, "reason": "还是我来处理"},
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    r = await client.get(f"/api/v1/reports/{rid}", headers=worker)
    assert r.json()["assignee"]["id"] == world.worker.id
    assert "transferred" not in [e["type"] for e in r.json()["timeline"]]


async def test_an_admin_may_still_take_the_case_over(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    admin = world.community_admin
    r = await act(
        client, world.h(admin), rid, "transfer", {"assignee_id": admin.id, "reason": "社区接手"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["assignee"]["id"] == admin.id


async def test_extension_request_answers_200_with_the_case(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    worker = world.h(world.worker)
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "extension", {"hours": 24, "reason": "等待配件"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == rid
    assert r.json()["pending_extension"]["hours"] == 24
