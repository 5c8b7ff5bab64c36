"""The keyword ``q`` of ``GET /admin/reports``: what is typed is looked for as
written (``%`` and ``_`` are characters, not wildcards), and a third-party key
cannot find out the digits it reads masked."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.integrations.helpers import key_header, make_api_client
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

TEXTS = {
    "plain": "小区门口垃圾堆积三天无人清运",
    "underscore": "电梯故障_按钮失灵需要维修",
    "percent": "噪音超标 50% 以上，影响休息",
    "slash": "路灯/井盖损坏，晚上看不清",
    "backslash": "墙上被写了 A\\B 字样需清理",
}


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _cases(client: httpx.AsyncClient, world: World) -> dict[str, int]:
    ids = {}
    for name, text in TEXTS.items():
        r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
    return ids


async def _found(client: httpx.AsyncClient, headers: dict[str, str], q: str) -> set[int]:
    r = await client.get("/api/v1/admin/reports", headers=headers, params={"q": q, "limit": 100})
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["items"]}


async def test_wildcards_are_looked_for_as_written(client: httpx.AsyncClient, world: World) -> None:
    ids = await _cases(client, world)
    admin = world.h(world.street_admin)
    assert await _found(client, admin, "%%") == set()
    assert await _found(client, admin, "%") == {ids["percent"]}
    assert await _found(client, admin, "50%") == {ids["percent"]}
    assert await _found(client, admin, "_") == {ids["underscore"]}
    assert await _found(client, admin, "故障_按钮") == {ids["underscore"]}
    assert await _found(client, admin, "故障%按钮") == set()
    assert await _found(client, admin, "/") == {ids["slash"]}
    assert await _found(client, admin, "\\") == {ids["backslash"]}
    assert await _found(client, admin, "a\\b") == {ids["backslash"]}  # still case-blind
    assert await _found(client, admin, "垃圾") == {ids["plain"]}


async def test_a_key_cannot_find_masked_digits_by_wildcards_or_separators(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    _, key = await make_api_client(session, world.tree.street)
    texts = ("楼道灯坏了，联系电话 13987654321", "井盖丢了，电话 139 8765 4321")
    ids = []
    for text in texts:
        r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await client.get(f"/api/v1/reports/{ids[1]}", headers=key_header(key))
    assert r.json()["description"] == "井盖丢了，电话 139****4321"

    for q in (
        "139%765%321",  # wildcards around short runs
        "139_87",
        "139 876",  # digits split by what the masking reads as one number
        "139 8",
        "398",  # a short run overlapping the visible head: the first hidden digit
        "876",
        "８７６",  # full-width digits
    ):
        found = await _found(client, key_header(key), q)
        assert not found & set(ids), q
    assert await _found(client, key_header(key), "联系电话") == {ids[0]}
    # Staff handling the area read the numbers and may search them.
    assert await _found(client, world.h(world.street_admin), "8765") == set(ids)
    assert await _found(client, world.h(world.street_admin), "8765 4321") == {ids[1]}


async def test_odd_numbers_in_q_are_no_error(client: httpx.AsyncClient, world: World) -> None:
    admin = world.h(world.street_admin)
    for q in ("²", "9" * 40, "E20261122-" + "9" * 40, "E20261122-²", "０１２"):
        r = await client.get("/api/v1/admin/reports", headers=admin, params={"q": q})
        assert r.status_code == 200, (q, r.text)
