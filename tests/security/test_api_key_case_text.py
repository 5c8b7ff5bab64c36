"""What a third party reads of a resident's text through ``X-API-Key``: like a
follower, not like staff. Text content security holds shows as the placeholder,
and phone numbers written into it are masked (DESIGN §8, §10)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.integrations.helpers import key_header, make_api_client
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs

HELD = "这段文字需要待审处理一下"
PLACEHOLDER = "（内容审核中）"


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def test_a_key_reads_held_text_as_the_placeholder(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    _, key = await make_api_client(session, world.tree.street)
    r = await submit(client, world.h(world.resident), description=HELD, location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["moderation"] == "review"

    r = await client.get(f"/api/v1/reports/{rid}", headers=key_header(key))
    assert r.status_code == 200, r.text
    assert (r.json()["description"], r.json()["moderation"]) == (PLACEHOLDER, "review")
    assert "待审" not in r.text
    r = await client.get("/api/v1/admin/reports", headers=key_header(key))
    assert r.status_code == 200, r.text
    [item] = [i for i in r.json()["items"] if i["id"] == rid]
    assert item["description"] == PLACEHOLDER
    # Nor can a search tell what the hidden text says.
    r = await client.get("/api/v1/admin/reports", headers=key_header(key), params={"q": "待审"})
    assert r.status_code == 200, r.text
    assert rid not in [i["id"] for i in r.json()["items"]]

    # Staff in scope read it, and may search it, to review it.
    admin = world.h(world.community_admin)
    r = await client.get(f"/api/v1/reports/{rid}", headers=admin)
    assert r.json()["description"] == HELD
    r = await client.get("/api/v1/admin/reports", headers=admin, params={"q": "待审"})
    assert rid in [i["id"] for i in r.json()["items"]]

    r = await client.post(
        f"/api/v1/admin/reports/{rid}/review", json={"approve": True}, headers=admin
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/reports/{rid}", headers=key_header(key))
    assert r.json()["description"] == HELD


async def test_a_key_reads_phone_numbers_in_the_text_masked(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    _, key = await make_api_client(session, world.tree.street)
    text = "楼道灯坏了，联系电话 13987654321"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = await client.get(f"/api/v1/reports/{rid}", headers=key_header(key))
    assert r.json()["description"] == "楼道灯坏了，联系电话 139****4321"
    r = await client.get("/api/v1/admin/reports", headers=key_header(key))
    assert "13987654321" not in r.text
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.worker))
    assert r.json()["description"] == text


async def test_a_key_reads_notes_and_comments_masked_and_cannot_search_the_digits(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    """Not only the description: a progress note or a rating comment with a
    phone number reaches a key masked; and a search by digits cannot recover
    the digits the mask hides."""
    _, key = await make_api_client(session, world.tree.street)
    text = "楼道灯坏了，联系电话 13987654321"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
    rid = r.json()["id"]
    worker = world.h(world.worker)
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "progress", {"note": "已联系居民 13912345678，明天上门"})
    assert r.status_code == 200, r.text
    r = await act(client, worker, rid, "resolve", {"note": "灯已更换"})
    assert r.status_code == 200, r.text
    r = await act(
        client,
        world.h(world.resident),
        rid,
        "rating",
        {"score": "satisfied", "comment": "很快，有事再打 13700001111"},
    )
    assert r.status_code == 200, r.text

    r = await client.get(f"/api/v1/reports/{rid}", headers=key_header(key))
    assert r.status_code == 200, r.text
    assert r.json()["rating"]["comment"] == "很快，有事再打 137****1111"
    notes = [e["note"] for e in r.json()["timeline"] if e["type"] == "progress"]
    assert notes == ["已联系居民 139****5678，明天上门"]
    for phone in ("13987654321", "13912345678", "13700001111"):
        assert phone not in r.text
    # Staff handling the case read what was written.
    r = await client.get(f"/api/v1/reports/{rid}", headers=worker)
    assert "13700001111" in r.text and "13912345678" in r.text

    for q in ("1398765", "9876543", "8765"):
        r = await client.get("/api/v1/admin/reports", headers=key_header(key), params={"q": q})
        assert r.status_code == 200, r.text
        assert rid not in [i["id"] for i in r.json()["items"]], q
    r = await client.get("/api/v1/admin/reports", headers=key_header(key), params={"q": "楼道灯"})
    assert rid in [i["id"] for i in r.json()["items"]]
