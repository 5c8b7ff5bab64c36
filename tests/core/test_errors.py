from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Conflict
from app.core.settings import Settings
from tests.factories import auth, make_user


class _Body(BaseModel):
    name: str = Field(min_length=2)


def _add_probe_routes(app: FastAPI) -> None:
    @app.get("/_probe/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/_probe/conflict")
    async def conflict() -> None:
        raise Conflict("probe.conflict", "已被他人处理")

    @app.post("/_probe/body")
    async def body(data: _Body) -> _Body:
        return data


async def test_unexpected_error_is_a_generic_envelope(app: FastAPI) -> None:
    _add_probe_routes(app)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/_probe/boom", headers={"X-Request-ID": "req-abc"})
    assert r.status_code == 500
    err = r.json()["error"]
    assert err["code"] == "internal_error"
    assert "secret internal detail" not in r.text
    assert err["details"]["request_id"] == "req-abc"


async def test_app_error_and_validation_envelopes(app: FastAPI) -> None:
    _add_probe_routes(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/_probe/conflict")
        assert r.status_code == 409
        assert r.json() == {
            "error": {"code": "probe.conflict", "message": "已被他人处理", "details": {}}
        }
        r = await c.post("/_probe/body", json={"name": "x"})
        assert r.status_code == 422
        err = r.json()["error"]
        assert err["code"] == "validation_error"
        assert err["details"]["fields"][0]["field"] == "name"
        r = await c.post(
            "/_probe/body", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "validation_error"


async def test_an_exhausted_connection_pool_is_503_not_500(app: FastAPI) -> None:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    @app.get("/_probe/pool")
    async def pool() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 10 reached")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/_probe/pool")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "service.busy"
    assert r.headers["retry-after"] == "2"


async def test_an_id_too_large_for_the_database_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Ids the routes do not bound (in a body here) fail in the driver; the
    answer is still a validation error, not a 500."""
    headers = auth(settings, await make_user(session))
    r = await client.post(
        "/api/v1/reports",
        headers=headers,
        json={
            "kind": "issue",
            "category": "environment",
            "description": "小区门口垃圾堆积三天无人清运",
            "media_ids": [2**70],
        },
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_a_lost_database_connection_is_503_not_500(app: FastAPI) -> None:
    from sqlalchemy.exc import InterfaceError

    @app.get("/_probe/lost")
    async def lost() -> None:
        raise InterfaceError(
            "SELECT 1", [], Exception("connection is closed"), connection_invalidated=True
        )

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/_probe/lost")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "service.unavailable"


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
async def test_a_deadlock_victim_is_a_409_to_retry(app: FastAPI, sqlstate: str) -> None:
    """PostgreSQL rolled this transaction back to let another through (a
    deadlock's victim, or a serialization failure): nothing was written, the
    client may refresh and retry."""
    from sqlalchemy.exc import DBAPIError

    class DriverError(Exception):
        pass

    orig = DriverError("deadlock detected")
    orig.sqlstate = sqlstate  # type: ignore[attr-defined]

    @app.post("/_probe/deadlock")
    async def deadlock() -> None:
        raise DBAPIError("UPDATE report SET …", [], orig)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/_probe/deadlock")
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "conflict.concurrent_update"
