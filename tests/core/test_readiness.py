"""GET /readyz: 200 only when the database answers and its migrations are at
head; otherwise 503 with the error envelope, so a load balancer keeps traffic
away from a process whose database is down, empty or behind the code."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.core.db import Database
from app.core.migrations import upgrade_async
from app.core.settings import Settings
from tests.core.scratch_db import scratch_database_url

__all__ = ["scratch_database_url"]


@asynccontextmanager
async def ready_answers(app: FastAPI, settings: Settings, url: str) -> AsyncIterator[FastAPI]:
    """The app with its database pointed at ``url`` (restored afterwards)."""
    original = app.state.db
    app.state.db = Database(settings.model_copy(update={"database_url": url}))
    try:
        yield app
    finally:
        await app.state.db.dispose()
        app.state.db = original


async def readyz(app: FastAPI) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        return await c.get("/readyz")


def assert_not_ready(r: httpx.Response, message: str) -> None:
    assert r.status_code == 503, r.text
    assert r.json() == {"error": {"code": "service.not_ready", "message": message, "details": {}}}


async def test_readyz_is_503_until_migrations_reach_head(
    app: FastAPI, settings: Settings, scratch_database_url: str
) -> None:
    async with ready_answers(app, settings, scratch_database_url):
        # Reachable but empty: no alembic_version at all.
        assert_not_ready(await readyz(app), "数据库迁移未到最新版本")

        # Part of the way: the first revision only.
        await upgrade_async(scratch_database_url, "0001")
        assert_not_ready(await readyz(app), "数据库迁移未到最新版本")

        await upgrade_async(scratch_database_url)
        r = await readyz(app)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ok"}


async def test_readyz_is_503_when_the_database_cannot_be_reached(
    app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    if settings.is_sqlite:
        # A directory where the database file should be: SQLite cannot open it.
        (tmp_path / "not-a-file.db").mkdir()
        url = f"sqlite+aiosqlite:///{tmp_path / 'not-a-file.db'}"
    else:
        # Nothing listens on port 1 of this machine.
        url = "postgresql+asyncpg://postgres@127.0.0.1:1/ejiaren_test_nowhere"
    async with ready_answers(app, settings, url):
        assert_not_ready(await readyz(app), "数据库不可用")
    assert (await readyz(app)).status_code == 200
