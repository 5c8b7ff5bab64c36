"""Several processes running ``ejiaren db upgrade`` at once on one PostgreSQL
database (containers starting together) all succeed: one migrates, the others
wait for it and find nothing left to do."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core.migrations import current_revisions, head_revisions


async def test_three_upgrades_at_once(session: AsyncSession) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite is one file on one machine")
    base = make_url(str(session.get_bind().engine.url))
    name = f"ejiaren_test_mig_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(
        user=base.username or "postgres",
        host=base.host or "127.0.0.1",
        port=base.port or 5432,
        database="postgres",
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        env = {**os.environ, "EJIAREN_DATABASE_URL": url, "EJIAREN_ENV": "test"}
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app.cli",
                "db",
                "upgrade",
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = [await p.communicate() for p in procs]
        for p, (out, _) in zip(procs, outputs, strict=True):
            assert p.returncode == 0, out.decode(errors="replace")[-3000:]
        engine = create_async_engine(url)
        try:
            assert await current_revisions(engine) == head_revisions()
        finally:
            await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
