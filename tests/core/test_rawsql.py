"""``Raw``: hand-written SQL inside the session's own transaction, on both databases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Integer, String, delete, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.core.db import Database
from app.core.models import AppState, IdempotencyRecord
from app.core.rawsql import Json, Raw, json_value, standalone, utc
from app.core.settings import Settings


async def _exists(engine: AsyncEngine, key: str) -> bool:
    async with AsyncSession(engine) as other:
        return await other.scalar(select(AppState.key).where(AppState.key == key)) is not None


async def test_writes_commit_and_roll_back_with_the_session(engine: AsyncEngine) -> None:
    kept, dropped = f"raw-kept-{uuid.uuid4().hex[:8]}", f"raw-dropped-{uuid.uuid4().hex[:8]}"
    try:
        async with AsyncSession(engine) as session:
            raw = await Raw.of(session)
            await raw.insert(AppState(key=dropped, value_int=1))
            # The ORM sees the row in the same transaction …
            assert await session.scalar(select(AppState.value_int).where(AppState.key == dropped))
            await session.rollback()
        assert not await _exists(engine, dropped)  # … and it went with the rollback.

        async with AsyncSession(engine) as session:
            session.add(AppState(key=kept, value_int=1))  # pending ORM work is flushed first
            raw = await Raw.of(session)
            assert await raw.execute("UPDATE app_state SET value_int = 7 WHERE key = $1", kept) == 1
            await session.commit()
        async with AsyncSession(engine) as session:
            assert await session.scalar(select(AppState.value_int).where(AppState.key == kept)) == 7
    finally:
        async with AsyncSession(engine) as session:
            await session.execute(delete(AppState).where(AppState.key.in_([kept, dropped])))
            await session.commit()


async def test_insert_applies_defaults_and_reads_back_types(session: AsyncSession) -> None:
    at = datetime(2026, 11, 22, 8, 30, 15, 123456, tzinfo=UTC)
    raw = await Raw.of(session)
    record = IdempotencyRecord(
        owner="user:1",
        key=uuid.uuid4().hex,
        fingerprint="f" * 64,
        lease_token="t",
        response={"答": [1, 2]},
        expires_at=at,
    )
    await raw.insert(record)
    assert record.id is not None
    assert record.state == "in_flight" and record.created_at is not None  # column defaults
    row = await raw.fetchrow(
        "SELECT state, response, expires_at FROM idempotency_record WHERE id = $1", record.id
    )
    assert row["state"] == "in_flight"
    assert json_value(row["response"]) == {"答": [1, 2]}
    assert utc(row["expires_at"]) == at
    # The ORM reads what Raw wrote, types and all.
    stored = await session.get(IdempotencyRecord, record.id)
    assert stored is not None and stored.expires_at == at and stored.response == {"答": [1, 2]}
    loaded = await raw.one(IdempotencyRecord, "id = $1", record.id)
    assert loaded is not None
    assert (loaded.expires_at, loaded.response, loaded.owner) == (at, {"答": [1, 2]}, "user:1")
    assert await raw.one(IdempotencyRecord, "id = $1", -1) is None
    # A placeholder used twice, and JSON passed as a parameter.
    changed = await raw.execute(
        "UPDATE idempotency_record SET response = $1 WHERE id = $2 AND id = $2",
        Json(["x"]),
        record.id,
    )
    assert changed == 1
    assert json_value(await raw.fetchval(
        "SELECT response FROM idempotency_record WHERE id = $1", record.id
    )) == ["x"]  # fmt: skip


async def test_driver_errors_are_sqlalchemy_errors(session: AsyncSession) -> None:
    """As if SQLAlchemy had sent the statement: the error envelope maps these
    (a constraint violation is a 409, a lost database a 503, an id out of
    range a 422), where a raw driver error would be a 500."""
    raw = await Raw.of(session)
    with pytest.raises((DBAPIError, OverflowError)) as too_large:
        await raw.fetchval("SELECT key FROM app_state WHERE value_int = $1", 2**70)
    if isinstance(too_large.value, DBAPIError):
        assert "out of int64 range" in str(too_large.value)
    await session.rollback()
    raw = await Raw.of(session)
    key = f"raw-dup-{uuid.uuid4().hex[:8]}"
    await raw.insert(AppState(key=key, value_int=1))
    with pytest.raises(IntegrityError):
        await raw.insert(AppState(key=key, value_int=2))


async def test_a_connection_lost_under_a_statement_is_dropped_from_the_pool(
    settings: Settings, session: AsyncSession
) -> None:
    """The database restarted: the dead pooled connection fails one statement
    (a disconnect the error envelope answers 503) and is dropped, so the next
    statement connects afresh instead of failing on it forever."""
    if settings.is_sqlite:
        pytest.skip("a lost server connection is a PostgreSQL matter")
    db = Database(settings)
    try:
        async with standalone(db) as raw:
            pid = await raw.fetchval("SELECT pg_backend_pid()")
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as lost:
            async with standalone(db) as raw:
                await raw.fetchval("SELECT 1")
        assert lost.value.connection_invalidated
        async with standalone(db) as raw:
            assert await raw.fetchval("SELECT pg_backend_pid()") != pid
    finally:
        await db.dispose()


async def test_insert_refuses_what_it_cannot_write_as_the_orm_would(session: AsyncSession) -> None:
    raw = await Raw.of(session)
    record = IdempotencyRecord(
        id=7,
        owner="user:1",
        key="k",
        fingerprint="f",
        lease_token="t",
        expires_at=datetime.now(UTC),
    )
    with pytest.raises(ValueError, match="primary key"):
        await raw.insert(record)
    with pytest.raises(TypeError, match="server default"):
        await raw.insert(_ServerDefault(note="x"))


class _ProbeBase(DeclarativeBase):
    """Its own metadata: the app's must match the migrations."""


class _ServerDefault(_ProbeBase):
    """A table only for the check above (never created)."""

    __tablename__ = "raw_server_default_probe"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    note: Mapped[str] = mapped_column(String(8))
    stamped: Mapped[str] = mapped_column(String(8), server_default="now")
