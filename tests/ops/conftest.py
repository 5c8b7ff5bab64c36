"""A fresh, empty PostgreSQL database for tests that run the service (or its
commands) as separate processes, which cannot see the rolled-back test
transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncSession


@pytest.fixture
async def fresh_database(session: AsyncSession) -> AsyncIterator[URL]:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: separate processes share a PostgreSQL database")
    base = make_url(str(session.get_bind().engine.url))
    name = f"ejiaren_test_ops_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        user=base.username or "postgres",
        host=base.host or "127.0.0.1",
        port=base.port or 5432,
        database="postgres",
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
