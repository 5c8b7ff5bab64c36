"""The engine as the service builds it: SQLite by default, in a file under
./var/, with WAL, foreign keys and a busy timeout on every connection;
PostgreSQL with a pool sized by the settings."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.core.db import make_engine
from app.core.settings import Settings


def test_the_default_database_is_a_sqlite_file_under_var() -> None:
    url = make_url(Settings(_env_file=None).database_url)  # type: ignore[call-arg]
    assert url.drivername == "sqlite+aiosqlite"
    assert url.database is not None
    assert Path(url.database).parent == Path("./var")


async def test_every_sqlite_connection_gets_wal_foreign_keys_and_a_busy_timeout(
    settings: Settings, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'e.db'}"
    engine = make_engine(settings, url)
    try:
        for _ in range(2):  # a new connection after the pool is emptied is configured too
            async with engine.connect() as conn:
                pragmas = {
                    name: (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                    for name in ("journal_mode", "foreign_keys", "busy_timeout")
                }
            assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30000}
            await engine.dispose()
    finally:
        await engine.dispose()
    # The directory of the file is created on first use.
    assert (tmp_path / "nested" / "dir" / "e.db").exists()


async def test_the_postgresql_pool_is_sized_by_the_settings(settings: Settings) -> None:
    sized = settings.model_copy(
        update={
            "database_url": "postgresql+asyncpg://postgres@127.0.0.1:5432/ejiaren_test_unused",
            "db_pool_size": 7,
            "db_max_overflow": 3,
            "db_pool_timeout": 4.5,
        }
    )
    engine = make_engine(sized)  # no connection is opened
    try:
        pool = engine.pool
        assert pool.size() == 7  # type: ignore[attr-defined]
        assert pool._max_overflow == 3  # type: ignore[attr-defined]
        assert pool._timeout == 4.5  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
