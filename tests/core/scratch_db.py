"""An empty database of the kind under test, outside the rolled-back test
transaction: for tests that migrate it themselves (readiness) or hand it to
separate processes (the ``ejiaren`` command).

SQLite: a file in the test's temporary directory. PostgreSQL: a new database
next to the test database, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest_asyncio
from sqlalchemy.engine import make_url

from app.core.settings import Settings


@pytest_asyncio.fixture(loop_scope="session")
async def scratch_database_url(settings: Settings, tmp_path: Path) -> AsyncIterator[str]:
    if settings.is_sqlite:
        yield f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}"
        return
    base = make_url(settings.database_url)
    name = f"ejiaren_test_scratch_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        user=base.username or "postgres",
        password=base.password,
        host=base.host or "127.0.0.1",
        port=base.port or 5432,
        database="postgres",
    )
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
