"""What a follower and the nearby list read of someone else's case (API.md: the
public view has no names, phone numbers or hidden text; media are read only by
their uploader, the case's handlers and admins in scope)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.factories import make_user
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, upload, wgs

TEXT = "井盖丢失，有事请联系我王五 13987654321，白天打 0391-2345678"
MASKED = "井盖丢失，有事请联系我王五 139****4321，白天打 0391-*****78"
NEARBY = {"lat": IN_GRID[1], "lng": IN_GRID[0], "coord": "wgs84", "category": "environment"}


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _nearby(client: httpx.AsyncClient, world: World, rid: int) -> dict[str, Any]:
    r = await client.get(
        "/api/v1/reports/nearby", headers=world.h(world.other_resident), params=NEARBY
    )
    assert r.status_code == 200, r.text
    [item] = [i for i in r.json()["items"] if i["id"] == rid]
    return item  # type: ignore[no-any-return]


async def test_public_view_masks_phone_numbers_in_the_description(
    client: httpx.AsyncClient, world: World
) -> None:
    r = await submit(client, world.h(world.resident), description=TEXT, location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["description"] == TEXT  # the author reads what they wrote

    assert (await _nearby(client, world, rid))["description"] == MASKED
    other = world.h(world.other_resident)
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=other)
    assert r.status_code == 200, r.text
    assert r.json()["description"] == MASKED
    r = await client.get(f"/api/v1/reports/{rid}", headers=other)
    assert r.json()["description"] == MASKED
    assert "13987654321" not in r.text and "2345678" not in r.text

    # The staff handling the case read it as written.
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.worker))
    assert r.json()["description"] == TEXT
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.resident))
    assert r.json()["description"] == TEXT


async def test_public_view_carries_no_media(client: httpx.AsyncClient, world: World) -> None:
    resident = world.h(world.resident)
    photo = await upload(client, resident)
    r = await submit(client, resident, media_ids=[photo["id"]], location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert [m["id"] for m in r.json()["media"]] == [photo["id"]]

    assert "media" not in await _nearby(client, world, rid)
    other = world.h(world.other_resident)
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=other)
    assert r.status_code == 200, r.text
    assert r.json()["media"] == []
    r = await client.get(f"/api/v1/reports/{rid}", headers=other)
    assert r.json()["media"] == []
    assert all(e["media"] == [] for e in r.json()["timeline"])
    assert "/media/" not in r.text

    # The uploader and the handler still get the photo.
    for reader in (world.resident, world.worker):
        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(reader))
        assert [m["id"] for m in r.json()["media"]] == [photo["id"]]


async def test_only_an_open_case_can_be_newly_followed(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    worker = world.h(world.worker)
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    follower = world.h(world.other_resident)
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=follower)
    assert r.status_code == 200, r.text
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "resolve", {"note": "已更换井盖"})
    assert r.status_code == 200, r.text

    # A newcomer may not follow the finished case, whatever id they guess …
    newcomer = world.h(await make_user(session, name="赵居民"))
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=newcomer)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "report.not_found"
    assert (await client.get(f"/api/v1/reports/{rid}", headers=newcomer)).status_code == 404

    # … while the follower keeps reading it, and may stop following.
    r = await client.get(f"/api/v1/reports/{rid}", headers=follower)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["following"]) == ("resolved", True)
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=follower)
    assert r.status_code == 200, r.text
    r = await client.delete(f"/api/v1/reports/{rid}/follow", headers=follower)
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/reports/{rid}", headers=follower)).status_code == 404
