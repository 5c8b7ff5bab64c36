"""Who sees which figures, bad input, and zero denominators."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.factories import make_staff
from tests.reports.helpers import World, make_world
from tests.stats.helpers import WINDOW, Fixed, make_fixed

ROUTES = [
    ("summary", {}),
    ("breakdown", {"by": "grid"}),
    ("trend", {"interval": "day"}),
    ("ranking", {"level": "grid", "metric": "completion_rate"}),
    ("export.xlsx", {}),
]


@pytest.fixture
async def fixed(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession, settings: Settings
) -> Fixed:
    return await make_fixed(client, app, session, settings)


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def get(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> httpx.Response:
    return await client.get(f"/api/v1/stats/{path}", params=params, headers=headers)


async def test_grid_worker_sees_own_cases_and_own_grid(
    client: httpx.AsyncClient, fixed: Fixed
) -> None:
    w, tree = fixed.world, fixed.world.tree
    me = w.h(w.worker)
    # g1 holds A B F (F counts for the leader, but it lies in 王网格's grid).
    r = await get(client, "summary", me, **WINDOW)
    assert r.status_code == 200, r.text
    assert r.json()["received"] == 3
    r = await get(client, "summary", me, region_id=tree.grid.id, **WINDOW)
    assert r.json()["received"] == 3
    r = await get(client, "breakdown", me, by="worker", **WINDOW)
    names = {i["name"]: i["received"] for i in r.json()["items"]}
    assert names == {"王网格": 2, "周网格长": 1}
    # Another grid, the community, the street: not theirs → 404, like an unknown id.
    for region in (tree.other_grid, tree.community, tree.street):
        r = await get(client, "summary", me, region_id=region.id, **WINDOW)
        assert r.status_code == 404, region.name
        assert r.json()["error"]["code"] == "region.not_found"
    r = await get(client, "summary", me, region_id=999_999_999, **WINDOW)
    assert r.status_code == 404


async def test_community_admin_sees_own_community_only(
    client: httpx.AsyncClient, fixed: Fixed
) -> None:
    w, tree = fixed.world, fixed.world.tree
    other = w.h(w.other_community_admin)
    r = await get(client, "summary", other, **WINDOW)
    assert r.json()["received"] == 1  # E, in community B
    for path, params in ROUTES:
        r = await get(client, path, other, region_id=tree.community.id, **params, **WINDOW)
        assert r.status_code == 404, path
        assert r.json()["error"]["code"] == "region.not_found"
    r = await get(client, "breakdown", other, by="grid", **WINDOW)
    assert [i["key"] for i in r.json()["items"]] == [tree.far_grid.id]


async def test_residents_are_refused_and_anonymous_callers_must_log_in(
    client: httpx.AsyncClient, world: World
) -> None:
    for path, params in ROUTES:
        r = await get(client, path, world.h(world.resident), **params)
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == "auth.staff_only"
        r = await get(client, path, {}, **params)
        assert r.status_code == 401, path
        assert r.json()["error"]["code"] == "auth.unauthorized"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("breakdown", {"by": "district"}, "by"),
        ("breakdown", {}, "by"),
        ("trend", {"interval": "hour"}, "interval"),
        ("ranking", {"level": "community"}, "level"),
        ("ranking", {"level": "grid", "metric": "happiness"}, "metric"),
        ("summary", {"region_id": "abc"}, "region_id"),
    ],
)
async def test_bad_parameters_are_422_in_the_envelope(
    client: httpx.AsyncClient, world: World, path: str, params: dict[str, str], field: str
) -> None:
    r = await get(client, path, world.h(world.street_admin), **params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert field in {f["field"] for f in error["details"]["fields"]}


@pytest.mark.parametrize(
    "window",
    [
        {"from": "2026-11-01", "to": "2026-11-01"},
        {"from": "2026-11-02", "to": "2026-11-01"},
        {"from": "2026-13-01"},
        {"to": "yesterday"},
        {"from": "2026-11-01T08:00:00"},  # no offset
    ],
)
async def test_bad_windows_are_422(
    client: httpx.AsyncClient, world: World, window: dict[str, str]
) -> None:
    for path, params in ROUTES:
        r = await get(client, path, world.h(world.street_admin), **params, **window)
        assert r.status_code == 422, (path, window, r.text)
        assert r.json()["error"]["code"] == "validation_error"


async def test_too_many_buckets(client: httpx.AsyncClient, world: World) -> None:
    r = await get(
        client,
        "trend",
        world.h(world.street_admin),
        interval="day",
        **{"from": "2020-01-01", "to": "2026-01-01"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "stats.window_too_long"


async def test_no_cases_gives_null_rates_not_zero(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    r = await get(client, "summary", world.h(world.street_admin), **WINDOW)
    body = r.json()
    assert body["received"] == 0 and body["overdue_open"] == 0
    for rate in (
        "response_rate",
        "completion_rate",
        "on_time_rate",
        "satisfaction_rate",
        "reopen_rate",
    ):
        assert body[rate] is None, rate
    for mean in (
        "avg_response_minutes",
        "median_response_minutes",
        "avg_resolve_hours",
        "median_resolve_hours",
    ):
        assert body[mean] is None, mean
    # Every grid of the scope is listed even so, with null rates.
    r = await get(client, "breakdown", world.h(world.street_admin), by="grid", **WINDOW)
    items = r.json()["items"]
    assert len(items) == 3 and all(i["completion_rate"] is None for i in items)
    # A ranking of nothing: everyone unranked.
    r = await get(client, "ranking", world.h(world.street_admin), level="grid", **WINDOW)
    assert [i["rank"] for i in r.json()["items"]] == [None, None, None]


async def test_department_staff_see_their_department(
    client: httpx.AsyncClient, fixed: Fixed, session: AsyncSession
) -> None:
    from app.org.models import Department

    w = fixed.world
    department = Department(name="城管局", region_id=w.tree.district.id, category_codes=[])
    session.add(department)
    await session.flush()
    staff = await make_staff(session, "department_staff", w.tree.district, department=department)
    r = await get(client, "summary", w.h(staff), **WINDOW)
    assert r.status_code == 200, r.text
    assert r.json()["received"] == 0  # no case was routed or escalated to it
    # Not a region's figures: a breakdown would list its workers beside zeros.
    for by in ("worker", "grid"):
        r = await get(
            client, "breakdown", w.h(staff), by=by, region_id=w.tree.community.id, **WINDOW
        )
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "region.not_found"
