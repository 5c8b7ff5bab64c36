"""What a third party reads of a resident's text through ``X-API-Key``: like a
follower, not like staff. Text content security holds shows as the placeholder,
and phone numbers written into it are masked (DESIGN §8, §10)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.integrations.helpers import key_header, make_api_client
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

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
