"""Actions that add something to a case (a progress note, a supervision note,
an extension request) honour ``Idempotency-Key`` as creating POSTs do: a
network retry with the same key answers the first result and adds nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.reports.models import ReportEvent
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def accepted_case(client: httpx.AsyncClient, world: World) -> int:
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid = int(r.json()["id"])
    r = await act(client, world.h(world.worker), rid, "accept")
    assert r.status_code == 200, r.text
    return rid


async def events(session: AsyncSession, rid: int, type: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(ReportEvent)
            .where(ReportEvent.report_id == rid, ReportEvent.type == type)
        )
        or 0
    )


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any], key: str
) -> httpx.Response:
    return await client.post(path, json=body, headers={**headers, "Idempotency-Key": key})


@pytest.mark.parametrize(
    ("action", "who", "body", "event"),
    [
        ("progress", "worker", {"note": "已联系物业，明天上午清运"}, "progress"),
        ("supervise", "community_admin", {"note": "请今天内处理完毕"}, "supervised"),
        ("extension", "worker", {"hours": 24, "reason": "等待环卫车辆调度"}, "extension_requested"),
    ],
)
async def test_a_retry_with_the_same_key_adds_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    action: str,
    who: str,
    body: dict[str, Any],
    event: str,
) -> None:
    rid = await accepted_case(client, world)
    headers = world.h(getattr(world, who))
    path = f"/api/v1/reports/{rid}/{action}"
    first = await post(client, headers, path, body, "retry-1")
    assert first.status_code == 200, first.text
    again = await post(client, headers, path, body, "retry-1")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert await events(session, rid, event) == 1
    # The same key with another body is a client bug, not a retry.
    other = await post(
        client, headers, path, {**body, "note": "另一条", "reason": "另一条"}, "retry-1"
    )
    assert other.status_code == 422, other.text
    assert other.json()["error"]["code"] == "idempotency.key_reused"
    assert await events(session, rid, event) == 1


async def test_without_a_key_each_progress_note_is_kept(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    rid = await accepted_case(client, world)
    for _ in range(2):
        r = await act(client, world.h(world.worker), rid, "progress", {"note": "正在处理"})
        assert r.status_code == 200, r.text
    assert await events(session, rid, "progress") == 2
