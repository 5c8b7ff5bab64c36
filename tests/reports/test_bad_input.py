"""Each bad input of the reports issue gets its own error."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, upload, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"description": None}, 422, "validation_error"),
        ({"description": "  短  "}, 422, "validation_error"),
        ({"description": "\u200b" * 5}, 422, "validation_error"),  # zero-width spaces
        ({"description": " \ufeff\u200d\u3000\u200c\u2060 "}, 422, "validation_error"),
        ({"description": "长" * 1001}, 422, "validation_error"),
        ({"location": {"lat": 48.85, "lng": 2.35, "coord": "wgs84"}}, 422, "geo.outside_china"),
        ({"location": {"lat": 35.0, "lng": 112.9, "coord": "bd09"}}, 422, "validation_error"),
        ({"category": "no_such_category"}, 422, "report.unknown_category"),
        ({"category": "consultation"}, 422, "report.kind_mismatch"),
        ({"kind": "complaint"}, 422, "validation_error"),
        ({"media_ids": list(range(1, 11))}, 422, "validation_error"),
    ],
)
async def test_submit_rejects(
    client: httpx.AsyncClient, world: World, fields: dict[str, Any], status: int, code: str
) -> None:
    r = await submit(client, world.h(world.resident), **fields)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


async def test_not_an_image(client: httpx.AsyncClient, world: World) -> None:
    r = await client.post(
        "/api/v1/media",
        headers=world.h(world.resident),
        files={"file": ("x.jpg", b"this is not an image", "image/jpeg")},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"].startswith("media.")


async def test_another_residents_photo(client: httpx.AsyncClient, world: World) -> None:
    photo = await upload(client, world.h(world.other_resident))
    r = await submit(client, world.h(world.resident), media_ids=[photo["id"]])
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "media.not_found"


async def test_another_residents_report(client: httpx.AsyncClient, world: World) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    for method, path in [
        ("GET", f"/api/v1/reports/{rid}"),
        ("POST", f"/api/v1/reports/{rid}/cancel"),
    ]:
        r = await client.request(method, path, headers=world.h(world.other_resident))
        assert r.status_code == 404, (method, path)
        assert r.json()["error"]["code"] == "report.not_found"


async def test_worker_outside_their_grid(client: httpx.AsyncClient, world: World) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    r = await act(client, world.h(world.far_worker), rid, "accept")
    assert r.status_code == 404
    # A worker of the same community but another grid cannot see it either.
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.other_worker))
    assert r.status_code == 404


async def test_resident_cannot_use_admin_list(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get("/api/v1/admin/reports", headers=world.h(world.resident))
    assert r.status_code == 403
    r = await client.get("/api/v1/admin/reports")
    assert r.status_code == 401


async def test_admin_of_other_community_sees_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    r = await client.get("/api/v1/admin/reports", headers=world.h(world.other_community_admin))
    assert rid not in [i["id"] for i in r.json()["items"]]
    r = await act(
        client, world.h(world.other_community_admin), rid, "supervise", {"note": "请尽快处理"}
    )
    assert r.status_code == 404


async def test_limit_over_100_is_422(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get(
        "/api/v1/reports/mine", params={"limit": 101}, headers=world.h(world.resident)
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"policy_id": 1}, "report.policy_not_allowed"),
        ({"service_id": 1}, "report.service_not_allowed"),
        (
            {"kind": "consultation", "category": "consultation", "policy_id": 987654},
            "report.unknown_policy",
        ),
        ({"kind": "errand", "category": "errand", "service_id": 987654}, "report.unknown_service"),
    ],
)
async def test_references_must_fit_the_kind_and_exist(
    client: httpx.AsyncClient, world: World, fields: dict[str, Any], code: str
) -> None:
    r = await submit(client, world.h(world.resident), **fields)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
