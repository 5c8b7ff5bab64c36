"""Every figure of the fixed set of tests/stats/helpers.py, checked against
numbers worked out by hand (DESIGN §6; docs/metrics.md), over HTTP, on
whichever database runs the suite."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.stats.helpers import WINDOW, Fixed, make_fixed

FIELDS = (
    "received",
    "accepted_on_time",
    "response_rate",
    "resolved",
    "completion_rate",
    "resolved_on_time",
    "on_time_rate",
    "rated",
    "satisfied",
    "satisfaction_rate",
    "reopened",
    "ever_resolved",
    "reopen_rate",
    "overdue_open",
    "avg_response_minutes",
    "median_response_minutes",
    "avg_resolve_hours",
    "median_resolve_hours",
)


def figs(*values: Any) -> dict[str, Any]:
    """The 18 figures in the order of API.md (with ``ever_resolved`` before ``reopen_rate``)."""
    assert len(values) == len(FIELDS)
    return dict(zip(FIELDS, values, strict=True))


def only(body: dict[str, Any]) -> dict[str, Any]:
    return {k: body[k] for k in FIELDS}


# Counted in [10-01, 12-01): A B C E F G H (7). D rejected, J cancelled, K and L
# outside the window.
#   accepted on time: A 20' C 30' G 10' H 20' (B 90', F 150' late, E never) = 4 → 4/7
#   resolved or closed now: A B C F G = 5 → 5/7 (E open, H escalated)
#   resolved on time: A; B (after its extension); F (15:00 ≤ 11-06 10:30) = 3 → 3/5
#     (C's last resolution 11-04 10:00 > due 09:00; G was flagged overdue)
#   rated: A 满意, C 基本满意 (latest), G 不满意 = 3; satisfied 2 → 2/3
#   reopened: C = 1; resolved at least once: A B C F G = 5 → 1/5
#   overdue open at 12-02 12:00: E (response due 11-04 09:00), H (escalated,
#     response due 11-10 10:00) = 2
#   response minutes: 20 90 30 150 10 20 → mean 320/6 = 53.33; sorted
#     10 20 20 30 90 150 → median (20+30)/2 = 25
#   resolve hours: A 10.5 B 43.5 C 49 F 7 G 31 → mean 141/5 = 28.2; median 31
SUMMARY = figs(7, 4, 0.5714, 5, 0.7143, 3, 0.6, 3, 2, 0.6667, 1, 5, 0.2, 2, 53.33, 25.0, 28.2, 31.0)

# g1 第一网格: A B F. on time: A → 1/3; resolved 3/3, all on time 3/3; rated A 1,
#   satisfied 1; reopened 0/3; response 20 90 150 → 86.67, median 90;
#   resolve 10.5 43.5 7 → 61/3 = 20.33, median 10.5
G1 = figs(3, 1, 0.3333, 3, 1.0, 3, 1.0, 1, 1, 1.0, 0, 3, 0.0, 0, 86.67, 90.0, 20.33, 10.5)
# g2 第二网格: C G H. on time 3/3; resolved C G 2/3, on time 0/2; rated C G 2,
#   satisfied C 1 → 0.5; reopened C 1/2; overdue H 1; response 30 10 20 → 20, 20;
#   resolve 49 31 → 40, 40
G2 = figs(3, 3, 1.0, 2, 0.6667, 0, 0.0, 2, 1, 0.5, 1, 2, 0.5, 1, 20.0, 20.0, 40.0, 40.0)
# g3 第三网格: E only (D rejected, J cancelled): nothing resolved, rated or
#   accepted, so those rates have no denominator: null
G3 = figs(1, 0, 0.0, 0, 0.0, 0, None, 0, 0, None, 0, 0, None, 1, None, None, None, None)
# Community A = g1 + g2: 6 cases. on time 4/6; resolved 5/6, on time 3/5; rated 3,
#   satisfied 2; reopened 1/5; overdue 1 (H); response 20 90 150 30 10 20 → 320/6,
#   median (20+30)/2 = 25; resolve 10.5 43.5 7 49 31 → 28.2, median 31
COMMUNITY_A = figs(
    6, 4, 0.6667, 5, 0.8333, 3, 0.6, 3, 2, 0.6667, 1, 5, 0.2, 1, 53.33, 25.0, 28.2, 31.0
)

# By worker: who owns it now, or who last resolved it once resolved.
#   王网格 (g1 worker): A B. on time A 1/2; resolved 2, on time 2; rated A;
#     response 20 90 → 55; resolve 10.5 43.5 → 27
W1 = figs(2, 1, 0.5, 2, 1.0, 2, 1.0, 1, 1, 1.0, 0, 2, 0.0, 0, 55.0, 55.0, 27.0, 27.0)
#   周网格长: F (took it over and resolved it). Late response; on-time resolution
LEADER = figs(1, 0, 0.0, 1, 1.0, 1, 1.0, 0, 0, None, 0, 1, 0.0, 0, 150.0, 150.0, 7.0, 7.0)
#   李网格 (g2 worker): C (resolved it both times; G went to the community, H is
#     in the community's queue)
W2 = figs(1, 1, 1.0, 1, 1.0, 0, 0.0, 1, 1, 1.0, 1, 1, 1.0, 0, 30.0, 30.0, 49.0, 49.0)
#   社区管理员: G (accepted and resolved it after the escalation)
ADMIN = figs(1, 1, 1.0, 1, 1.0, 0, 0.0, 1, 0, 0.0, 0, 1, 0.0, 0, 10.0, 10.0, 31.0, 31.0)
#   赵网格 (g3 worker): E
W3 = G3
#   No owner: H, waiting in community A's queue
NOBODY = figs(1, 1, 1.0, 0, 0.0, 0, None, 0, 0, None, 0, 0, None, 1, 20.0, 20.0, None, None)

# October (Shanghai): A only. November: B C E F G H — B was created at
# 2026-11-01 00:30 +08, which is still 31 October in UTC.
OCTOBER = figs(1, 1, 1.0, 1, 1.0, 1, 1.0, 1, 1, 1.0, 0, 1, 0.0, 0, 20.0, 20.0, 10.5, 10.5)
# November: on time C G H 3/6; resolved B C F G 4/6, on time B F 2/4; rated C G 2,
#   satisfied C 1; reopened 1/4; overdue E H 2; response 90 30 150 10 20 → 300/5 = 60,
#   median 30; resolve 43.5 49 7 31 → 130.5/4 = 32.625 → 32.63, median (31+43.5)/2 = 37.25
NOVEMBER = figs(6, 3, 0.5, 4, 0.6667, 2, 0.5, 2, 1, 0.5, 1, 4, 0.25, 2, 60.0, 30.0, 32.63, 37.25)
# 31 October: A. 1 November: B — on time? no (90'); resolved, on time (extension);
#   never rated; response 90; resolve 43.5
DAY_1031 = OCTOBER
DAY_1101 = figs(1, 0, 0.0, 1, 1.0, 1, 1.0, 0, 0, None, 0, 1, 0.0, 0, 90.0, 90.0, 43.5, 43.5)
EMPTY = figs(0, 0, None, 0, None, 0, None, 0, 0, None, 0, 0, None, 0, None, None, None, None)


@pytest.fixture
async def fixed(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession, settings: Settings
) -> Fixed:
    return await make_fixed(client, app, session, settings)


async def get(client: httpx.AsyncClient, fixed: Fixed, path: str, **params: Any) -> Any:
    w = fixed.world
    r = await client.get(f"/api/v1/stats/{path}", params=params, headers=w.h(w.street_admin))
    assert r.status_code == 200, r.text
    return r.json()


async def test_summary(client: httpx.AsyncClient, fixed: Fixed) -> None:
    body = await get(client, fixed, "summary", **WINDOW)
    assert only(body) == SUMMARY
    assert body["region"] is None
    assert body["from"].startswith("2026-10-01T00:00:00+08")
    # The same for the street by id, and for community A alone.
    street = fixed.world.tree.street.id
    assert only(await get(client, fixed, "summary", region_id=street, **WINDOW)) == SUMMARY
    community = fixed.world.tree.community.id
    body = await get(client, fixed, "summary", region_id=community, **WINDOW)
    assert only(body) == COMMUNITY_A
    assert body["region"] == {"id": community, "name": "玉溪苑社区", "level": "community"}


async def test_window_bounds_are_inclusive_then_exclusive(
    client: httpx.AsyncClient, fixed: Fixed
) -> None:
    # B was created at exactly 2026-11-01 00:30 +08.
    body = await get(
        client, fixed, "summary", **{"from": "2026-11-01T00:30:00+08:00", "to": "2026-12-01"}
    )
    assert body["received"] == 6  # B C E F G H
    body = await get(
        client, fixed, "summary", **{"from": "2026-11-01T00:30:00.000001+08:00", "to": "2026-12-01"}
    )
    assert body["received"] == 5
    body = await get(
        client, fixed, "summary", **{"from": "2026-10-01", "to": "2026-10-31T15:30:00Z"}
    )
    assert body["received"] == 0  # A is 2026-10-31T15:30Z itself: excluded
    # Without a window: all time, K and L included (9 counted cases).
    assert (await get(client, fixed, "summary"))["received"] == 9


async def test_breakdown_by_grid_community_street(client: httpx.AsyncClient, fixed: Fixed) -> None:
    tree = fixed.world.tree
    body = await get(client, fixed, "breakdown", by="grid", **WINDOW)
    assert body["next_cursor"] is None
    items = {i["key"]: i for i in body["items"]}
    assert set(items) == {tree.grid.id, tree.other_grid.id, tree.far_grid.id}
    assert only(items[tree.grid.id]) == G1 and items[tree.grid.id]["name"] == "第一网格"
    assert only(items[tree.other_grid.id]) == G2
    assert only(items[tree.far_grid.id]) == G3

    items = {
        i["key"]: i
        for i in (await get(client, fixed, "breakdown", by="community", **WINDOW))["items"]
    }
    assert set(items) == {tree.community.id, tree.other_community.id}
    assert only(items[tree.community.id]) == COMMUNITY_A
    assert only(items[tree.other_community.id]) == G3

    items = (await get(client, fixed, "breakdown", by="street", **WINDOW))["items"]
    assert [(i["key"], i["name"]) for i in items] == [(tree.street.id, "太行怀庆街道")]
    assert only(items[0]) == SUMMARY


async def test_breakdown_by_worker_is_the_assessment_view(
    client: httpx.AsyncClient, fixed: Fixed
) -> None:
    w = fixed.world
    items = (await get(client, fixed, "breakdown", by="worker", **WINDOW))["items"]
    by_key = {i["key"]: i for i in items}
    assert set(by_key) == {
        w.worker.id,
        w.leader.id,
        w.other_worker.id,
        w.community_admin.id,
        w.far_worker.id,
        None,
    }
    assert only(by_key[w.worker.id]) == W1
    assert only(by_key[w.leader.id]) == LEADER
    assert only(by_key[w.other_worker.id]) == W2
    assert only(by_key[w.community_admin.id]) == ADMIN
    assert only(by_key[w.far_worker.id]) == W3
    assert only(by_key[None]) == NOBODY
    assert items[-1]["key"] is None and items[-1]["name"] == "无经办人（在队列中）"
    # Every case counts for exactly one item.
    assert sum(i["received"] for i in items) == SUMMARY["received"]


async def test_breakdown_by_category(client: httpx.AsyncClient, fixed: Fixed) -> None:
    items = (await get(client, fixed, "breakdown", by="category", **WINDOW))["items"]
    by_code = {i["code"]: i for i in items}
    assert only(by_code["environment"]) == SUMMARY
    assert by_code["environment"]["name"] == "环境卫生"
    # The other categories are listed with nothing in them.
    assert only(by_code["municipal"]) == EMPTY
    assert sum(i["received"] for i in items) == 7


async def test_trend_by_month_day_and_week(client: httpx.AsyncClient, fixed: Fixed) -> None:
    body = await get(client, fixed, "trend", interval="month", **WINDOW)
    assert [i["bucket"] for i in body["items"]] == ["2026-10-01", "2026-11-01"]
    assert only(body["items"][0]) == OCTOBER
    assert only(body["items"][1]) == NOVEMBER

    body = await get(
        client, fixed, "trend", interval="day", **{"from": "2026-10-31", "to": "2026-11-02"}
    )
    assert [i["bucket"] for i in body["items"]] == ["2026-10-31", "2026-11-01"]
    assert only(body["items"][0]) == DAY_1031
    assert only(body["items"][1]) == DAY_1101

    # ISO weeks, Monday first: A (Sat 10-31) and B (Sun 11-01) share the week of
    # 26 October; C E F G H (Mon 11-02 … Sun 11-08) the next one.
    body = await get(
        client, fixed, "trend", interval="week", **{"from": "2026-10-26", "to": "2026-11-09"}
    )
    assert [(i["bucket"], i["received"]) for i in body["items"]] == [
        ("2026-10-26", 2),
        ("2026-11-02", 5),
    ]
    # Empty buckets are listed, with null rates.
    body = await get(
        client, fixed, "trend", interval="day", **{"from": "2026-09-01", "to": "2026-09-03"}
    )
    assert [only(i) for i in body["items"]] == [EMPTY, EMPTY]


async def test_ranking(client: httpx.AsyncClient, fixed: Fixed) -> None:
    tree = fixed.world.tree

    async def order(metric: str) -> list[tuple[Any, Any, Any]]:
        body = await get(client, fixed, "ranking", level="grid", metric=metric, **WINDOW)
        return [(i["rank"], i["key"], i["value"]) for i in body["items"]]

    # g1 3/3, g2 2/3, g3 0/1.
    assert await order("completion_rate") == [
        (1, tree.grid.id, 1.0),
        (2, tree.other_grid.id, 0.6667),
        (3, tree.far_grid.id, 0.0),
    ]
    # Lower is better; g3 has nothing resolved, so no reopen rate: last, unranked.
    assert await order("reopen_rate") == [
        (1, tree.grid.id, 0.0),
        (2, tree.other_grid.id, 0.5),
        (None, tree.far_grid.id, None),
    ]
    # g2 and g3 tie at one overdue case: g2 received more (3 against 1).
    assert await order("overdue_open") == [
        (1, tree.grid.id, 0),
        (2, tree.other_grid.id, 1),
        (3, tree.far_grid.id, 1),
    ]
    body = await get(client, fixed, "ranking", level="worker", metric="response_rate", **WINDOW)
    ranked = [(i["rank"], i["name"]) for i in body["items"]]
    # 1.0: 社区管理员 and 李网格 (1 case each: by name), then 王网格 0.5,
    # then 0.0: 周网格长 and 赵网格 (1 case each: by name); the queue is not ranked.
    assert ranked == [
        (1, "李网格"),
        (2, "社区管理员"),
        (3, "王网格"),
        (4, "周网格长"),
        (5, "赵网格"),
    ]
    assert body["higher_is_better"] is True
