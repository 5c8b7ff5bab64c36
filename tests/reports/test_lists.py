"""The lists of cases (resident's list, worker inbox, admin list) read one
query of their own columns: every item must still say what the case itself
says, page after page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, NOWHERE, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _all_pages(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(path, params=query, headers=headers)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items


async def _as_case(
    client: httpx.AsyncClient, item: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """The case's own answer, cut to the fields of a list item."""
    r = await client.get(f"/api/v1/reports/{item['id']}", headers=headers)
    assert r.status_code == 200, r.text
    return {k: r.json()[k] for k in item}


async def test_list_items_say_what_the_case_says(client: httpx.AsyncClient, world: World) -> None:
    resident, worker = world.h(world.resident), world.h(world.worker)
    admin = world.h(world.street_admin)
    with clock.frozen(datetime(2026, 11, 20, 10, 30, tzinfo=SHANGHAI)):
        waiting = await submit(client, resident, location=wgs(IN_GRID), address="玉溪苑3号楼")
        working = await submit(client, resident, location=wgs(IN_GRID), category="municipal")
        queued = await submit(client, resident, location=wgs(NOWHERE))
        done = await submit(client, resident, location=wgs(IN_GRID))
        for r in (waiting, working, queued, done):
            assert r.status_code == 201, r.text
        ids = [r.json()["id"] for r in (waiting, working, queued, done)]
        assert queued.json()["grid"] is None
        assert (await act(client, worker, ids[1], "accept")).status_code == 200
        assert (await act(client, worker, ids[3], "accept")).status_code == 200
        assert (await act(client, worker, ids[3], "resolve", {"note": "已处理"})).status_code == 200
        clock.advance(timedelta(minutes=90))  # past the response deadline of the first

        mine = await _all_pages(client, "/api/v1/reports/mine", resident)
        assert [i["id"] for i in mine] == sorted(ids, reverse=True)
        for item in mine:
            assert item == await _as_case(client, item, resident)

        tasks = await _all_pages(client, "/api/v1/worker/tasks", worker)
        assert [i["id"] for i in tasks] == [ids[3], ids[1], ids[0]]
        for item in tasks:
            assert item == await _as_case(client, item, worker)
        assert {i["id"]: i["overdue"] for i in tasks} == {
            ids[0]: True,
            ids[1]: False,
            ids[3]: False,
        }

        late = await _all_pages(client, "/api/v1/worker/tasks", worker, overdue="true")
        assert [i["id"] for i in late] == [ids[0]]
        on_time = await _all_pages(client, "/api/v1/worker/tasks", worker, overdue="false")
        assert [i["id"] for i in on_time] == [ids[3], ids[1]]
        working_now = await _all_pages(client, "/api/v1/worker/tasks", worker, status="in_progress")
        assert [i["id"] for i in working_now] == [ids[1]]
        resolved = await _all_pages(client, "/api/v1/reports/mine", resident, status="resolved")
        assert [i["id"] for i in resolved] == [ids[3]]

        everything = await _all_pages(client, "/api/v1/admin/reports", admin)
        assert [i["id"] for i in everything] == sorted(ids, reverse=True)
        for item in everything:
            assert item == await _as_case(client, item, admin)
        # Filtering by category joins ``category`` too: the names still come out right.
        order = await _all_pages(client, "/api/v1/admin/reports", admin, category="municipal")
        assert [i["id"] for i in order] == [ids[1]]
        assert order[0] == await _as_case(client, order[0], admin)
