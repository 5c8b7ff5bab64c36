"""Hand-written SQL on a session's own connection and transaction, for hot paths.

Per statement, the ORM costs about 0.2 ms of CPU, Core about 0.12 ms and the
asyncpg driver alone 0.02 ms (``bench/submit_layers.py``). Where a request's
whole budget is about a millisecond (submitting a case), its statements go
through ``Raw``: on PostgreSQL they run on the asyncpg connection under the
session, inside the session's transaction; on SQLite through the session's
SQLAlchemy connection. Either way they commit or roll back with the ORM work
of the same request, and ORM objects added before are flushed first.

SQL is written once, in the subset both databases speak, with ``$1`` … ``$N``
placeholders (``?1`` … ``?N`` on SQLite). JSON values are passed as ``Json``;
datetimes must be aware and are stored in UTC as the ORM stores them. Rows
are read by column name; SQLite returns datetimes and JSON as text, so read
them with ``utc`` and ``json_value``.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from sqlalchemy import JSON, Boolean, Date, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from app.core.orm import UTCDateTime, from_stored, to_utc

if TYPE_CHECKING:
    from app.core.db import Database

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\$(\d+)")
_INFO_KEY = "ejiaren_raw"


@dataclass(frozen=True)
class Json:
    """A value for a JSON column."""

    value: Any


def utc(value: Any) -> datetime | None:
    """A datetime column read through ``Raw``: aware, in UTC."""
    return from_stored(value)


def json_value(value: Any) -> Any:
    """A JSON column read through ``Raw`` (text from both drivers)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


@dataclass(frozen=True)
class _InsertPlan:
    sql: str
    columns: tuple[Any, ...]  # Column objects, in placeholder order
    keys: tuple[str, ...]  # mapped attribute names, same order
    pk_key: str | None


_insert_plans: dict[tuple[type, bool], _InsertPlan] = {}


class Raw:
    """Statements on one session's connection; get one with ``await Raw.of(session)``."""

    def __init__(self, conn: AsyncConnection, adapted: Any | None = None) -> None:
        """``adapted``: SQLAlchemy's adapter of the asyncpg connection (None on SQLite)."""
        self._conn = conn
        self._adapted: Any = adapted
        # The asyncpg connection itself on PostgreSQL, None on SQLite.
        self._driver = adapted._connection if adapted is not None else None
        self.is_sqlite = adapted is None

    @classmethod
    async def of(cls, session: AsyncSession) -> Raw:
        if session.new or session.dirty or session.deleted:
            await session.flush()
        conn = await session.connection()
        cached = session.info.get(_INFO_KEY)
        if cached is not None and cached._conn is conn:
            return cached  # type: ignore[no-any-return]
        if conn.dialect.name == "sqlite":
            raw = cls(conn)
        else:
            raw = cls(conn, (await conn.get_raw_connection()).dbapi_connection)
            # The session's transaction has begun for SQLAlchemy; the asyncpg
            # adapter starts it on the driver at its first statement. Start it
            # now, so statements sent straight to the driver run inside it.
            if getattr(raw._adapted, "_transaction", None) is None:
                try:
                    await raw._adapted._start_transaction()
                except Exception as error:
                    await raw._reraise(error, "BEGIN", [])
        session.info[_INFO_KEY] = raw
        return raw

    # ------------------------------------------------------------------ reads

    async def _pg(self, method: str, sql: str, args: Sequence[Any]) -> Any:
        """Run ``sql`` with the driver's ``method``; its errors become
        SQLAlchemy's, as if SQLAlchemy had sent the statement (so a constraint
        violation is still a 409 and a lost database a 503 in the envelope)."""
        params = self._pg_args(args)
        try:
            return await getattr(self._driver, method)(sql, *params)
        except Exception as error:  # not CancelledError: that passes untouched
            await self._reraise(error, sql, params)

    async def _reraise(self, error: Exception, sql: str, params: list[Any]) -> NoReturn:
        dbapi_error = self._conn.dialect.loaded_dbapi.Error
        try:
            self._adapted._handle_exception(error)  # raises the DB-API form of it
        except dbapi_error as translated:
            lost = self._conn.dialect.is_disconnect(translated, self._adapted, None)
            if lost:
                await self._forget_connections()
            raise DBAPIError.instance(
                sql, params, translated, dbapi_error, connection_invalidated=lost
            ) from error
        raise error  # not a database error (``_handle_exception`` re-raised it as is)

    async def _forget_connections(self) -> None:
        """The database went away under this connection (a restart, a failover):
        drop it, and every other pooled connection of that time, as SQLAlchemy
        does on a disconnect it sees itself. Otherwise the dead connections go
        back to the pool as healthy, and each later request fails on one."""
        with contextlib.suppress(Exception):
            await self._conn.invalidate()
        await self._conn.engine.dispose(close=False)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if self._driver is not None:
            return await self._pg("fetch", sql, args)  # type: ignore[no-any-return]
        result = await self._conn.exec_driver_sql(_to_sqlite(sql), self._sqlite_args(args))
        return list(result.mappings())

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        if self._driver is not None:
            return await self._pg("fetchrow", sql, args)
        result = await self._conn.exec_driver_sql(_to_sqlite(sql), self._sqlite_args(args))
        return result.mappings().first()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        if self._driver is not None:
            return await self._pg("fetchval", sql, args)
        result = await self._conn.exec_driver_sql(_to_sqlite(sql), self._sqlite_args(args))
        row = result.first()
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""
        if self._driver is not None:
            status = await self._pg("execute", sql, args)
            tail = status.rsplit(" ", 1)[-1]
            return int(tail) if tail.isdigit() else 0
        result = await self._conn.exec_driver_sql(_to_sqlite(sql), self._sqlite_args(args))
        return int(getattr(result, "rowcount", 0) or 0)

    async def one(
        self,
        cls: type[T],
        where: str,
        *args: Any,
        only: Sequence[str] | None = None,
        key_share: bool = False,
    ) -> T | None:
        """The first row of ``cls``'s table matching ``where`` (SQL with ``$N``
        placeholders, may end in ORDER BY), as a transient object: read-only
        use, never added to a session. ``only``: just these attributes (the
        others read as None), e.g. to leave a grid's boundary in the database.
        ``key_share`` (PostgreSQL; SQLite's writers hold the whole database):
        the row is read ``FOR KEY SHARE`` — the lock a foreign key to it takes —
        so a change under ``FOR UPDATE`` waits for this transaction, and this
        read waits for such a change and sees its result."""
        columns = _columns(cls)
        if only is not None:
            columns = [(key, column) for key, column in columns if key in only]
        names = ", ".join(c.name for _, c in columns)
        lock = " FOR KEY SHARE" if key_share and not self.is_sqlite else ""
        row = await self.fetchrow(
            f"SELECT {names} FROM {_table(cls)} WHERE {where} LIMIT 1{lock}", *args
        )
        if row is None:
            return None
        return cls(**{key: _read(column, row[column.name]) for key, column in columns})

    # ------------------------------------------------------------------ writes

    async def insert(self, obj: Any) -> Any:
        """Insert a new (transient) ORM object as one row, with the column
        defaults the ORM would apply; sets its primary key. The object is not
        added to the session: it is a record of what was written."""
        plan = self._insert_plan(type(obj))
        state = obj.__dict__
        if plan.pk_key is not None and state.get(plan.pk_key) is not None:
            raise ValueError("Raw.insert assigns the primary key: the object has one already")
        values = []
        for key, column in zip(plan.keys, plan.columns, strict=True):
            value = state.get(key)
            if value is None and column.default is not None:
                default = column.default
                value = default.arg(None) if default.is_callable else default.arg
                setattr(obj, key, value)
            values.append(_bind(column, value))
        args = tuple(values)
        if plan.pk_key is None:
            await self.execute(plan.sql, *args)
        else:
            setattr(obj, plan.pk_key, await self.fetchval(plan.sql, *args))
        return obj

    def _insert_plan(self, cls: type) -> _InsertPlan:
        plan = _insert_plans.get((cls, self.is_sqlite))
        if plan is not None:
            return plan
        mapper: Any = inspect(cls)
        table = mapper.local_table
        auto_pk = table.autoincrement_column  # an integer key the database assigns
        keys, columns = [], []
        pk_key = None
        for attr in mapper.column_attrs:
            column = attr.columns[0]
            if column is auto_pk:
                pk_key = attr.key
                continue
            # Defaults this writer cannot apply as the ORM would: refused when
            # the plan is made, not silently written as NULL or as a SQL text.
            default = column.default
            if default is not None and not (default.is_scalar or default.is_callable):
                raise TypeError(f"{table.name}.{column.name}: a SQL default, not for Raw.insert")
            if default is None and column.server_default is not None:
                raise TypeError(f"{table.name}.{column.name}: a server default, not for Raw.insert")
            keys.append(attr.key)
            columns.append(column)
        names = ", ".join(c.name for c in columns)
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
        if auto_pk is not None:
            sql += f" RETURNING {auto_pk.name}"
        plan = _InsertPlan(sql, tuple(columns), tuple(keys), pk_key)
        _insert_plans[(cls, self.is_sqlite)] = plan
        return plan

    # ------------------------------------------------------------------ values

    @staticmethod
    def _pg_args(args: Sequence[Any]) -> list[Any]:
        return [json.dumps(a.value, ensure_ascii=False) if isinstance(a, Json) else a for a in args]

    @staticmethod
    def _sqlite_args(args: Sequence[Any]) -> tuple[Any, ...]:
        out = []
        for a in args:
            if isinstance(a, Json):
                a = json.dumps(a.value, ensure_ascii=False)
            elif isinstance(a, datetime):
                a = _sqlite_datetime(a)
            elif isinstance(a, list | tuple):
                raise TypeError("SQLite has no arrays: expand the list into placeholders")
            out.append(a)
        return tuple(out)


def select_list(cls: type, alias: str) -> str:
    """``alias.col AS alias_col, …`` for every mapped column of ``cls``, to read
    a row of it among others (``values``)."""
    return ", ".join(f"{alias}.{c.name} AS {alias}_{c.name}" for _, c in _columns(cls))


def values(cls: type, row: Any, alias: str) -> dict[str, Any] | None:
    """The attributes of ``cls`` in ``row`` (selected with ``select_list``),
    typed as the ORM types them; ``None`` when the primary key is NULL (an
    outer join found nothing)."""
    out = {key: _read(column, row[f"{alias}_{column.name}"]) for key, column in _columns(cls)}
    mapper: Any = inspect(cls)
    return None if out.get(mapper.primary_key[0].key) is None else out


def attach(session: AsyncSession, cls: type[T], row_values: dict[str, Any]) -> T:
    """A persistent object of ``cls`` in ``session`` from every column's value,
    as if the ORM had loaded it, without a statement: later changes to it are
    flushed as usual. The session must not hold this row already."""
    obj = cls(**row_values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


@asynccontextmanager
async def standalone(db: Database, *, write: bool = True) -> AsyncIterator[Raw]:
    """Statements outside the request's transaction (rate-limit counters,
    idempotency claims, reading the caller), each committed at once. On
    PostgreSQL they run in autocommit on a pooled connection: no session, no
    BEGIN and COMMIT, about a quarter of the CPU. Each statement is atomic on
    its own; callers that read then write do so with a compare-and-set.
    Elsewhere (SQLite, or a test bound to one connection) in a session
    committed at the end: ``write=False`` for reads only, so that on SQLite
    they do not take the write lock (``BEGIN IMMEDIATE``)."""
    if db.side_connections:
        async with db.engine.connect() as conn:
            yield Raw(conn, (await conn.get_raw_connection()).dbapi_connection)
        return
    async with db.session(write=write) as session:
        yield await Raw.of(session)
        await session.commit()


_column_lists: dict[type, list[tuple[str, Any]]] = {}


def _columns(cls: type) -> list[tuple[str, Any]]:
    """(attribute name, Column) of every mapped column of ``cls``."""
    found = _column_lists.get(cls)
    if found is None:
        mapper: Any = inspect(cls)
        found = [(attr.key, attr.columns[0]) for attr in mapper.column_attrs]
        _column_lists[cls] = found
    return found


def _table(cls: type) -> str:
    return str(inspect(cls).local_table.name)  # type: ignore[union-attr]


def _read(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, JSON):
        return json_value(value)
    if isinstance(column.type, UTCDateTime):
        return utc(value)
    if isinstance(column.type, Boolean):
        return bool(value)
    if isinstance(column.type, Date) and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def _bind(column: Any, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(column.type, JSON):
        return Json(value)
    if isinstance(column.type, UTCDateTime):
        return to_utc(value)
    return value


def _sqlite_datetime(value: datetime) -> str:
    """As SQLAlchemy stores a ``DateTime`` on SQLite: naive UTC text."""
    return to_utc(value).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def _to_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)
