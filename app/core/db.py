"""Engine, sessions and the one-transaction-per-request dependency.

SQLite (embedded default) gets WAL, foreign keys and a busy timeout on every
connection, and write requests open their transaction with ``BEGIN IMMEDIATE``
so two writers queue on the lock instead of failing halfway. PostgreSQL gets a
pool sized by settings, so a request never pays for a new connection.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.core.errors import DatabaseUnavailable
from app.core.settings import Settings

log = logging.getLogger("ejiaren.db")
SQLITE_IMMEDIATE = "ejiaren_sqlite_immediate"
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
F = TypeVar("F", bound=Callable[..., Any])


def _prepare_sqlite_path(url: str) -> None:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        from pathlib import Path

        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def make_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    url = url or settings.database_url
    if url.startswith("sqlite"):
        _prepare_sqlite_path(url)
        engine = create_async_engine(url, echo=settings.db_echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=settings.db_echo,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        pool_recycle=1800,
    )
    _unreachable_is_unavailable(engine)
    return engine


def _unreachable_is_unavailable(engine: AsyncEngine) -> None:
    """A server that cannot be reached (refused, unknown host, timed out) fails
    the connect with an ``OSError`` the driver does not wrap, so it would be a
    500: it is a ``DatabaseUnavailable`` (503, retry). Refusals PostgreSQL
    answers itself are DBAPI errors with a SQLSTATE (``core.errors``)."""

    @event.listens_for(engine.sync_engine, "do_connect")
    def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        try:
            return dialect.connect(*cargs, **cparams)
        except OSError as exc:  # TimeoutError and ConnectionError are OSErrors
            log.error("database unreachable: %r", exc)
            raise DatabaseUnavailable() from exc


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE and
        # SAVEPOINT behave as written (the documented SQLite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The engine and the two ways to open a session.

    Write sessions on SQLite open their transaction with ``BEGIN IMMEDIATE`` at
    their first statement (not before), so short side transactions — rate-limit
    counters, idempotency claims — can run first without waiting on our own lock.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings)
        self.is_sqlite = settings.is_sqlite
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False, autoflush=False
        )
        # Tests bind ``sessionmaker`` to one outer connection and turn these off.
        self.immediate_writes = self.is_sqlite
        # ``rawsql.standalone`` statements in autocommit on their own connection.
        self.side_connections = not self.is_sqlite
        self._immediate_sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine.execution_options(**{SQLITE_IMMEDIATE: True}),
            expire_on_commit=False,
            autoflush=False,
        )

        # Figures may be read from a replica; without one they read the primary.
        self.read_engine: AsyncEngine | None = (
            make_engine(settings, settings.database_read_url)
            if settings.database_read_url
            else None
        )
        self._replica_sessionmaker: async_sessionmaker[AsyncSession] | None = (
            async_sessionmaker(self.read_engine, expire_on_commit=False, autoflush=False)
            if self.read_engine is not None
            else None
        )

    @property
    def read_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Sessions for read-only work that tolerates a replica's lag (figures)."""
        return self._replica_sessionmaker or self.sessionmaker

    @property
    def write_sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self._immediate_sessionmaker if self.immediate_writes else self.sessionmaker

    def bind(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        """Run every session, side statements included, on ``sessionmaker``
        (tests: sessions on one connection whose transaction is rolled back)."""
        self.sessionmaker = sessionmaker
        self.immediate_writes = False
        self.side_connections = False

    def session(self, *, write: bool) -> AsyncSession:
        return (self.write_sessionmaker if write else self.sessionmaker)()

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not None:
            await self.read_engine.dispose()


_FAILED = "ejiaren.request_failed"


def mark_failed(request: Request) -> None:
    """The handler's error became a response inside the route (Open311 answers
    errors in its own format): the request's transaction is rolled back, as
    for an error that reaches the app's handlers."""
    request.scope[_FAILED] = True


# Endpoints that write although their method reads (``writes``).
_WRITING_ENDPOINTS: set[Callable[..., Any]] = set()


def writes(endpoint: F) -> F:
    """Mark a GET endpoint that also writes (the audit entry of a resident's
    personal data read): its transaction begins as a writer's. On SQLite a
    read transaction that then writes is refused at once ("database is
    locked") while another holds the lock; a writer's waits its turn."""
    _WRITING_ENDPOINTS.add(endpoint)
    return endpoint


async def _request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request, committed once after the
    handler returns and before the response is sent; rolled back on any error,
    and when the route turned an error into its answer (``mark_failed``)."""
    endpoint = getattr(request.scope.get("route"), "endpoint", None)
    write = request.method not in _READ_METHODS or endpoint in _WRITING_ENDPOINTS
    db: Database = request.app.state.db
    session = db.session(write=write)
    try:
        yield session
    except BaseException:
        await session.rollback()
        raise
    else:
        if request.scope.get(_FAILED):
            await session.rollback()
        else:
            await session.commit()
    finally:
        await session.close()


# scope="function": the exit code (the commit) runs before the response is sent,
# so a failed commit turns into an error response, never a 201.
SessionDep = Annotated[AsyncSession, Depends(_request_session, scope="function")]


async def _replica_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session on the replica (``EJIAREN_DATABASE_READ_URL``), or on
    the primary when there is none. Nothing is committed: it only reads."""
    db: Database = request.app.state.db
    session = db.read_sessionmaker()
    try:
        yield session
    finally:
        await session.rollback()
        await session.close()


# For routes that only read figures and may lag the primary by a replica's delay.
ReadSessionDep = Annotated[AsyncSession, Depends(_replica_session, scope="function")]
