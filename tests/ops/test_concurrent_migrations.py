"""Several processes running ``ejiaren db upgrade`` at once on one PostgreSQL
database (containers starting together) all succeed: one migrates, the others
wait for it and find nothing left to do."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.migrations import current_revisions, head_revisions


async def test_three_upgrades_at_once(fresh_database: URL) -> None:
    url = fresh_database.render_as_string(hide_password=False)
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
