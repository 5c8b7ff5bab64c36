"""The roll-up of the figures on PostgreSQL: a ledger folded into cells.

Triggers on ``report`` (migration 0004) append to ``stats_delta``, in the same
transaction as the change, what the change did to the figures: the case's old
contribution with sign -1 and its new one with +1. Folding recomputes, from
``report`` itself, every cell a batch of ledger rows touched, and deletes
exactly those rows — in one REPEATABLE READ transaction, so the recomputed
cells and the deleted rows describe the same instant. A change committed
meanwhile keeps its ledger row, and readers add it on top of the cell. Readers
take the cells and the ledger in one statement, hence one snapshot: a figure
is exact whether or not a fold has run, and whenever it commits.

- ``stats_day_cell``: (Shanghai day, street path) — summaries and trends of a
  district or a street;
- ``stats_category_cell``: (Shanghai day, street path, category) — their
  breakdowns by category (kept apart: ten times the rows, which a summary
  would pay for in every read);
- ``stats_month_cell``: (Shanghai month, region path of the case, worker) —
  breakdowns by street, community, grid and worker, and rankings.

Each cell holds the counts and sums of ``figures.COUNTS`` and the durations of
its cases packed as big-endian int64 microseconds, so medians stay exact.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ARRAY, BigInteger, BindParameter, Date, String, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core.db import Database
from app.stats.queries import (
    SHANGHAI_DAY_SQL,
    SHANGHAI_MONTH_SQL,
    Contribution,
    R,
    counted,
    worker_expr,
)

log = logging.getLogger("ejiaren.stats")

# Folding runs in a test's session or on a connection of its own.
Executor = AsyncSession | AsyncConnection

FOLD_BATCH = 50_000
# Advisory lock key: one folder at a time across every process.
FOLD_LOCK = 0x57A7_5F01D
STREET_PATH_SQL = "coalesce(substring(region_path from '^/[^/]+/[^/]+/'), region_path)"

_CELL_AGGREGATES = """
    count(*) AS received, sum(accepted_on_time), sum(resolved), sum(resolved_on_time),
    sum(rated), sum(satisfied), sum(reopened), sum(ever_resolved),
    count(resp_us), coalesce(sum(resp_us), 0), count(res_us), coalesce(sum(res_us), 0),
    string_agg(int8send(resp_us), ''::bytea), string_agg(int8send(res_us), ''::bytea)
"""
_CELL_COLUMNS = (
    "received, accepted_on_time, resolved, resolved_on_time, rated, satisfied, reopened, "
    "ever_resolved, resp_n, resp_sum_us, res_n, res_sum_us, resp_values, res_values"
)


_CONTRIB_MEASURES = (
    "accepted_on_time, resolved, resolved_on_time, rated, satisfied, reopened, "
    "ever_resolved, resp_us, res_us"
)


def _contributions_sql() -> str:
    """One row per counted case: its cell keys and what it adds (the rules of
    ``queries.Contribution``, compiled for PostgreSQL)."""
    from sqlalchemy import select

    c = Contribution.of("postgresql")
    stmt = select(
        R.created_at,
        R.region_path,
        worker_expr().label("worker_id"),
        R.category_id,
        c.accepted_on_time.label("accepted_on_time"),
        c.resolved.label("resolved"),
        c.resolved_on_time.label("resolved_on_time"),
        c.rated.label("rated"),
        c.satisfied.label("satisfied"),
        c.reopened.label("reopened"),
        c.ever_resolved.label("ever_resolved"),
        c.resp_us.label("resp_us"),
        c.res_us.label("res_us"),
    ).where(counted())
    compiled = stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    return str(compiled)


_CONTRIB: str | None = None


def _contrib() -> str:
    global _CONTRIB
    if _CONTRIB is None:
        _CONTRIB = _contributions_sql()
    return _CONTRIB


@dataclass(frozen=True)
class Cells:
    """A cell table: its key columns, each computed from a contribution row (or
    a ledger row, which has the same columns)."""

    table: str
    keys: tuple[str, ...]
    # The period a key's cells cover, to bound the rows recomputed: "day" or "month".
    period: str
    # Restrict the recomputation by region_path too (its index), when it is a key.
    by_path: bool = False


KEY_SQL = {
    "day": SHANGHAI_DAY_SQL,
    "month": SHANGHAI_MONTH_SQL,
    "street_path": STREET_PATH_SQL,
    "region_path": "region_path",
    "category_id": "category_id",
    "worker_id": "coalesce(worker_id, 0)",
}
KEY_TYPES: dict[str, Any] = {
    "day": Date,
    "month": Date,
    "street_path": String,
    "region_path": String,
    "category_id": BigInteger,
    "worker_id": BigInteger,
}
CELLS = (
    Cells("stats_day_cell", ("day", "street_path"), "day"),
    Cells("stats_category_cell", ("day", "street_path", "category_id"), "day"),
    Cells("stats_month_cell", ("month", "region_path", "worker_id"), "month", by_path=True),
)


def _keyed(keys: Sequence[str]) -> str:
    return ", ".join(f"{KEY_SQL[k]} AS {k}" for k in keys)


async def fold_batch(session: Executor, *, limit: int = FOLD_BATCH) -> int:
    """Fold up to ``limit`` ledger rows into their cells, in the caller's
    transaction (which must be REPEATABLE READ or run alone). Returns how many."""
    names = sorted({k for cells in CELLS for k in cells.keys})
    rows = (
        await session.execute(
            text(f"SELECT id, {_keyed(names)} FROM stats_delta ORDER BY id LIMIT :limit"),
            {"limit": limit},
        )
    ).all()
    if not rows:
        return 0
    for cells in CELLS:
        touched = sorted({tuple(getattr(r, k) for k in cells.keys) for r in rows})
        await _refold(session, cells, touched)
    await session.execute(
        text("DELETE FROM stats_delta WHERE id = ANY(:ids)").bindparams(
            bindparam("ids", type_=ARRAY(BigInteger))
        ),
        {"ids": [r.id for r in rows]},
    )
    return len(rows)


async def _refold(session: Executor, cells: Cells, touched: list[tuple[Any, ...]]) -> None:
    """Recompute the ``touched`` cells of one table from ``report``."""
    keys = cells.keys
    params: dict[str, Any] = {k: [t[i] for t in touched] for i, k in enumerate(keys)}
    binds: list[BindParameter[Any]] = [bindparam(k, type_=ARRAY(KEY_TYPES[k])) for k in keys]
    periods = [t[0] for t in touched]
    params["lo"], params["hi"] = min(periods), max(periods)
    step = "interval '1 day'" if cells.period == "day" else "interval '1 month'"
    unnest = f"SELECT * FROM unnest({', '.join(':' + k for k in keys)}) AS t({', '.join(keys)})"
    matches = " AND ".join(f"c.{k} = t.{k}" for k in keys)
    await session.execute(
        text(f"DELETE FROM {cells.table} c USING ({unnest}) t WHERE {matches}").bindparams(*binds),
        params,
    )
    path_filter = ""
    if cells.by_path:
        params["distinct_paths"] = sorted({t[keys.index("region_path")] for t in touched})
        binds.append(bindparam("distinct_paths", type_=ARRAY(String)))
        path_filter = "AND region_path = ANY(:distinct_paths)"
    binds += [bindparam("lo", type_=Date), bindparam("hi", type_=Date)]
    await session.execute(
        text(f"""
            INSERT INTO {cells.table} ({", ".join(keys)}, {_CELL_COLUMNS})
            SELECT {", ".join("c." + k for k in keys)}, {_CELL_AGGREGATES}
              FROM (SELECT {_keyed(keys)}, {_CONTRIB_MEASURES}
                      FROM ({_contrib()}) x
                     WHERE created_at >= (:lo)::timestamp AT TIME ZONE 'Asia/Shanghai'
                       AND created_at < ((:hi)::timestamp + {step}) AT TIME ZONE 'Asia/Shanghai'
                       {path_filter}) c
              JOIN ({unnest}) t ON {matches}
             GROUP BY {", ".join("c." + k for k in keys)}
        """).bindparams(*binds),
        params,
    )


async def rebuild(session: Executor) -> None:
    """Every cell again from ``report``, and an empty ledger: after a bulk load
    with the triggers off, or to repair. Takes the same lock as folding."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": FOLD_LOCK})
    await session.execute(text("LOCK TABLE stats_delta IN EXCLUSIVE MODE"))
    await session.execute(text(f"TRUNCATE {', '.join(c.table for c in CELLS)}"))
    await session.execute(text("DELETE FROM stats_delta"))
    for cells in CELLS:
        keys = ", ".join(cells.keys)
        await session.execute(
            text(f"""
                INSERT INTO {cells.table} ({keys}, {_CELL_COLUMNS})
                SELECT {keys}, {_CELL_AGGREGATES}
                  FROM (SELECT {_keyed(cells.keys)}, {_CONTRIB_MEASURES}
                          FROM ({_contrib()}) x) c
                 GROUP BY {keys}
            """)
        )


async def fold(db: Database, *, max_batches: int = 100) -> int:
    """Fold the ledger in batches, each its own REPEATABLE READ transaction; one
    process at a time (a session-level advisory lock, taken before the snapshot,
    so a folder never works from a snapshot older than the previous fold).
    Returns how many ledger rows were folded; 0 on SQLite."""
    if db.is_sqlite:
        return 0
    total = 0
    async with db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": FOLD_LOCK})
        await conn.commit()
        if not got:
            return 0
        try:
            for _ in range(max_batches):
                await conn.execution_options(isolation_level="REPEATABLE READ")
                async with conn.begin():
                    done = await fold_batch(conn)
                total += done
                if done < FOLD_BATCH:
                    break
        finally:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": FOLD_LOCK})
            await conn.commit()
    if total:
        log.info("stats: folded %d ledger rows", total)
    return total
