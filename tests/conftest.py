"""Test harness: the schema is built by the Alembic migrations once per run;
each test runs inside an outer transaction that is rolled back afterwards.

``EJIAREN_TEST_DATABASE_URL`` picks the database (default: a SQLite file in a
temporary directory). For PostgreSQL the database named in the URL is dropped
and created again at the start of the run, so point it at a test database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import State

from app.core import clock
from app.core.db import make_engine
from app.core.migrations import upgrade
from app.core.settings import Settings
from app.main import create_app, init_state


def _test_database_url(tmp_root: Path) -> str:
    url = os.environ.get("EJIAREN_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite+aiosqlite:///{tmp_root / 'test.db'}"


def _recreate_postgres(url: str) -> None:
    import asyncio

    import asyncpg

    parsed = make_url(url)
    name = parsed.database
    assert name and "test" in name, "测试数据库名必须包含 test，以免误删其他数据库"

    async def _run() -> None:
        conn = await asyncpg.connect(
            user=parsed.username or "postgres",
            password=parsed.password,
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            database="postgres",
        )
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(_run())


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """argon2 at production cost (64 MiB, 3 passes) makes every staff factory
    slow; tests only need real argon2 hashes, not expensive ones."""
    from argon2 import PasswordHasher

    from app.core import security

    previous = security._hasher
    security._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    security._hasher = previous


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="ejiaren-test-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def database_url(tmp_root: Path) -> str:
    url = _test_database_url(tmp_root)
    if url.startswith("postgresql"):
        _recreate_postgres(url)
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_root: Path) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        media_dir=tmp_root / "media",
        run_background=False,
        redis_url=None,
        rate_limit_login="1000/minute",
        rate_limit_reports="1000/minute",
        rate_limit_uploads="1000/minute",
        log_level="WARNING",
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(settings)
    yield eng
    await eng.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def conn(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One connection per test, in a transaction that is rolled back at the end."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        try:
            yield connection
        finally:
            if outer.is_active:
                await outer.rollback()


@pytest.fixture
def bind_sessions(conn: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=conn,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def session(bind_sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for factories; what it flushes is visible to the app under test."""
    async with bind_sessions() as s:
        yield s


@pytest.fixture(scope="session")
def shared_app(settings: Settings) -> FastAPI:
    """One app for the whole run: building one costs FastAPI a few hundred
    milliseconds of route analysis, which over a thousand tests was minutes."""
    return create_app(settings)


@pytest_asyncio.fixture(loop_scope="session")
async def app(
    shared_app: FastAPI, settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    """The app with fresh state (settings, database, limiter, WeChat, caches)
    bound to this test's rolled-back connection; routes a test adds are removed."""
    application = shared_app
    application.state = State()
    init_state(application, settings)
    db = application.state.db
    await db.engine.dispose()
    db.bind(bind_sessions)
    routes = len(application.router.routes)
    try:
        yield application
    finally:
        del application.router.routes[routes:]
        application.openapi_schema = None
        await application.state.wechat.aclose()
        await application.state.limiter.close()


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    yield
    clock.set_now(None)
