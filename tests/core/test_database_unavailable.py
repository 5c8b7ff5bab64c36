"""A database that cannot serve — down, unreachable, refusing connections —
is a 503 the client may retry (``Retry-After``), in the envelope and in
Open311's own format: never a 500, which says the request or the code is
wrong. ``/readyz`` says the same to the load balancer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from app.core.settings import Settings
from app.main import create_app

# A loopback port nothing listens on: the connect is refused at once.
UNREACHABLE = "postgresql+asyncpg://postgres@127.0.0.1:1/ejiaren_test"
NO_CONNECTIONS_ROLE = "ejiaren_test_no_connections"


async def _client(settings: Settings, url: str) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings.model_copy(update={"database_url": url}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c
    finally:
        await app.state.db.engine.dispose()


async def _assert_unavailable(client: httpx.AsyncClient) -> None:
    for method, path, body in (
        ("GET", "/api/v1/categories", None),
        ("POST", "/api/v1/auth/password/login", {"username": "worker", "password": "x" * 8}),
        ("GET", "/api/v1/grids/locate?lat=35.08&lng=112.93&coord=wgs84", None),
    ):
        r = await client.request(method, path, json=body)
        assert r.status_code == 503, (path, r.text)
        assert r.json()["error"]["code"] == "service.unavailable"
        assert r.headers["retry-after"] == "1"
    r = await client.get("/open311/v2/services.json")
    assert r.status_code == 503, r.text
    assert r.json() == [{"code": 503, "description": "服务繁忙，请稍后再试"}]
    # With a key too: the key cannot be checked, which is not "invalid key" (403).
    r = await client.get("/open311/v2/requests.json", params={"api_key": "k" * 40})
    assert r.status_code == 503, r.text
    r = await client.post(
        "/open311/v2/requests.json", data={"api_key": "k" * 40, "service_code": "environment"}
    )
    assert r.status_code == 503, r.text
    r = await client.get("/open311/v2/services.xml")
    assert r.status_code == 503 and "<code>503</code>" in r.text, r.text
    r = await client.get("/readyz")
    assert r.status_code == 503


async def test_an_unreachable_database_server_is_503(settings: Settings) -> None:
    async for client in _client(settings, UNREACHABLE):
        await _assert_unavailable(client)


async def test_a_server_refusing_connections_is_503(settings: Settings) -> None:
    """PostgreSQL itself says no (SQLSTATE 53300, as when every connection
    slot is taken): a role allowed no connections refuses the same way."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: its own refusal of a connection")
    url = make_url(settings.database_url)
    dsn = f"postgresql://{url.username}@{url.host}:{url.port or 5432}/{url.database}"
    admin = await asyncpg.connect(dsn)
    try:
        exists = await admin.fetchval(
            "SELECT 1 FROM pg_roles WHERE rolname = $1", NO_CONNECTIONS_ROLE
        )
        if not exists:
            await admin.execute(f"CREATE ROLE {NO_CONNECTIONS_ROLE} LOGIN CONNECTION LIMIT 0")
        refused = url.set(username=NO_CONNECTIONS_ROLE).render_as_string(hide_password=False)
        async for client in _client(settings, refused):
            await _assert_unavailable(client)
    finally:
        await admin.execute(f"DROP ROLE IF EXISTS {NO_CONNECTIONS_ROLE}")
        await admin.close()


async def test_a_database_that_does_not_exist_is_503(settings: Settings) -> None:
    """A deployment pointed at a database not created yet (SQLSTATE 3D000)."""
    if not settings.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite creates its file")
    url = make_url(settings.database_url).set(database="ejiaren_test_no_such_database")
    async for client in _client(settings, url.render_as_string(hide_password=False)):
        await _assert_unavailable(client)
