"""The answer to ``POST /reports`` is built from what the submission wrote, not
read back: it must equal what ``GET /reports/{id}`` then shows its reporter."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.reports.models import ReportEvent
from tests.factories import grant, make_staff
from tests.reports.helpers import (
    IN_GRID,
    IN_OTHER_GRID,
    NOWHERE,
    World,
    gcj,
    jpeg_bytes,
    make_world,
    submit,
    upload,
    wgs,
)


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def _unsigned(value: Any) -> Any:
    """Media URLs are signed afresh on every answer: compare everything else."""
    if isinstance(value, dict):
        return {k: _unsigned(v) for k, v in value.items() if "url" not in k}
    if isinstance(value, list):
        return [_unsigned(v) for v in value]
    return value


async def _same_as_read_back(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    r = await submit(client, headers, **fields)
    assert r.status_code == 201, r.text
    answer = r.json()
    r = await client.get(f"/api/v1/reports/{answer['id']}", headers=headers)
    assert r.status_code == 200, r.text
    assert _unsigned(answer) == _unsigned(r.json())
    return answer  # type: ignore[no-any-return]


async def test_dispatched_with_photos(client: httpx.AsyncClient, world: World) -> None:
    resident = world.h(world.resident)
    photos = [await upload(client, resident, jpeg_bytes((c, 40, 40))) for c in (10, 220)]
    answer = await _same_as_read_back(
        client,
        resident,
        media_ids=[p["id"] for p in reversed(photos)],
        location=gcj(IN_GRID),
        address="玉溪苑3号楼",
    )
    assert answer["assignee"]["id"] == world.worker.id
    assert [m["id"] for m in answer["media"]] == [p["id"] for p in reversed(photos)]
    assert [e["type"] for e in answer["timeline"]] == ["created", "dispatched"]


async def test_queued_without_grid(client: httpx.AsyncClient, world: World) -> None:
    answer = await _same_as_read_back(client, world.h(world.resident), location=wgs(NOWHERE))
    assert answer["status"] == "submitted"
    assert answer["assignee"] is None
    assert [e["type"] for e in answer["timeline"]] == ["created", "queued"]


async def test_sos_names_the_leaders_to_notify(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    answer = await _same_as_read_back(
        client, world.h(world.resident), kind="sos", category="sos", description=None,
        location=wgs(IN_GRID),
    )  # fmt: skip
    assert answer["timeline"][1]["data"]["notify"] == [world.leader.id]


async def test_assignee_role_is_their_first_role(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    # The one on-duty worker of the other grid leads a community first: the
    # answer names the role the detail names (their first), not the one the
    # case was dispatched under.
    both = await make_staff(session, "grid_leader", world.tree.other_community, name="钱网格")
    await grant(session, both, "grid_worker", world.tree.other_grid)
    world.other_worker.on_duty = False
    await session.commit()
    answer = await _same_as_read_back(client, world.h(world.resident), location=wgs(IN_OTHER_GRID))
    assert answer["assignee"]["id"] == both.id
    assert answer["assignee"]["role"] == "grid_leader"
    assert answer["timeline"][1]["data"]["assignee"]["role"] == "grid_worker"


async def test_fewest_open_cases_then_smaller_id(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    second = await make_staff(session, "grid_worker", world.tree.grid, name="孙网格")
    off_duty = await make_staff(session, "grid_worker", world.tree.grid, on_duty=False)
    await session.commit()
    resident = world.h(world.resident)
    first = await _same_as_read_back(client, resident, location=wgs(IN_GRID))
    assert first["assignee"]["id"] == world.worker.id  # both have none: the smaller id
    then = await _same_as_read_back(client, resident, location=wgs(IN_GRID))
    assert then["assignee"]["id"] == second.id
    assert off_duty.id not in {first["assignee"]["id"], then["assignee"]["id"]}
    # The events were written with the case, in order, and the timeline is theirs.
    ids = list(
        await session.scalars(
            select(ReportEvent.id)
            .where(ReportEvent.report_id == then["id"])
            .order_by(ReportEvent.id)
        )
    )
    assert [e["id"] for e in then["timeline"]] == ids
