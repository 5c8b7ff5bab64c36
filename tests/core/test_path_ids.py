"""An id in a path is plain decimal digits: pydantic alone read ``" 1"``,
``"+1"`` and ``"1_0"`` (ten) as numbers, so ``/admin/staff/1%0A`` reached
staff 1. Every route with an id in its path answers 422 to anything else."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.users.models import Membership
from tests.factories import auth, make_user

BAD = ["1%0A", "%201", "+1", "1_0", "%D9%A1", "0", "-1", "1.0", "9223372036854775808"]


def _id_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every operation with an ``…_id`` in its path."""
    return [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if "_id}" in path and path.startswith("/api/v1/")  # Open311 answers in its own format
        for method in operations
    ]


@pytest.fixture
async def admin(session: AsyncSession, settings: Settings) -> dict[str, str]:
    user = await make_user(session, kind="staff", name="系统管理员")
    session.add(Membership(user_id=user.id, role="superadmin", region_id=None))
    await session.flush()
    return auth(settings, user)


async def test_every_id_in_a_path_is_plain_digits(
    client: httpx.AsyncClient, app: FastAPI, admin: dict[str, str]
) -> None:
    routes = _id_routes(app)
    assert len(routes) > 30  # the routes were found
    refused = []
    for method, path in routes:
        for bad in BAD:
            url = "/".join(bad if part.endswith("_id}") else part for part in path.split("/"))
            r = await client.request(method, url, headers=admin, json={})
            if r.status_code != 422 or r.json()["error"]["code"] != "validation_error":
                refused.append((method, url, r.status_code))
    assert refused == []


async def test_a_plain_id_still_reaches_the_route(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    r = await client.get("/api/v1/reports/999999", headers=admin)
    assert r.status_code == 404, r.text
    r = await client.get("/api/v1/admin/staff/999999", headers=admin)
    assert r.status_code == 404, r.text
