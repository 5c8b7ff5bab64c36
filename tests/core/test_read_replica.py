"""With ``EJIAREN_DATABASE_READ_URL`` the figures are read from the replica;
everything else (auth, writes) stays on the primary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.migrations import upgrade_async
from app.core.settings import Settings
from app.main import create_app
from tests.reports.helpers import IN_GRID, make_world, submit, wgs


@pytest_asyncio.fixture(loop_scope="session")
async def replica_app(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[FastAPI]:
    # A stand-in for a lagging replica: a database with the schema and no cases yet.
    replica_url = f"sqlite+aiosqlite:///{tmp_path / 'replica.db'}"
    await upgrade_async(replica_url)
    application = create_app(settings.model_copy(update={"database_read_url": replica_url}))
    db = application.state.db
    await db.engine.dispose()
    db.bind(bind_sessions)
    yield application
    await db.dispose()
    await application.state.wechat.aclose()


async def test_figures_come_from_the_replica(
    replica_app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await submit(client, w.h(w.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    # The primary counts the new case.
    r = await client.get("/api/v1/stats/summary", headers=w.h(w.street_admin))
    assert r.status_code == 200, r.text
    assert r.json()["received"] == 1
    # The app reading figures from the (empty) replica does not, yet it
    # authenticated the same caller against the primary.
    transport = httpx.ASGITransport(app=replica_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        r = await other.get("/api/v1/stats/summary", headers=w.h(w.street_admin))
        assert r.status_code == 200, r.text
        assert r.json()["received"] == 0
        # Writes still go to the primary.
        r = await submit(
            other, w.h(w.resident), location=wgs(IN_GRID), description="楼道灯坏了很久"
        )
        assert r.status_code == 201, r.text
    r = await client.get("/api/v1/stats/summary", headers=w.h(w.street_admin))
    assert r.json()["received"] == 2
