"""Where the CPU time of one submission goes, layer by layer.

Runs ``POST /api/v1/reports`` in process (httpx ``ASGITransport``), one
request at a time against the bench database that ``bench.submit`` prepares,
and charges the process's CPU time (``time.process_time``, so time spent
waiting for PostgreSQL or for a CPU does not count) to the layers a
submission passes through: authentication, the rate limit, content security,
the idempotency claim, dispatch, the answer, the commit. Requests
run strictly one after another, so nothing else runs while a layer is timed.
Times are inclusive: ``service.submit`` contains ``dispatch.choose``.

Statements are counted and timed both through SQLAlchemy and through
``app.core.rawsql.Raw`` (straight to the driver). For scale it also times, on
the same connection pool, one ORM ``SELECT`` of a row by key and the same
``SELECT`` through the raw asyncpg connection.

    python -m bench.submit --rounds 1     # once, to create the bench database
    python -m bench.submit_layers --requests 300

Prints a table and writes ``bench/results/submit_layers-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib
import inspect
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import (  # noqa: E402
    asyncpg_dsn,
    database_exists,
    machine,
    sqlalchemy_url,
    write_result,
)
from bench.submit import DATABASE, report_requests  # noqa: E402

# (module, attribute, label): each is looked up through its module or class at
# call time by its callers, so replacing the attribute times every call.
LAYERS: list[tuple[str, str, str]] = [
    ("app.auth.dependencies", "_load_caller", "auth: the caller and their roles"),
    ("app.core.ratelimit:RateLimiter", "hit", "rate limit (standalone statement)"),
    ("app.reports.moderation", "check_text", "content security (WeChat fake)"),
    ("app.core.idempotency", "claim", "idempotency claim (standalone statement)"),
    ("app.reports.service", "submit", "service.submit"),
    ("app.org.service", "locate", "  locate the grid"),
    ("app.reports.dispatch", "choose", "  dispatch.choose"),
    ("app.reports.service", "add_event", "  add_event and its listeners"),
    ("app.reports.detail", "read_submitted", "the answer (from memory)"),
    ("app.core.idempotency", "complete", "idempotency complete"),
    ("sqlalchemy.ext.asyncio:AsyncSession", "commit", "commits"),
]
COMMITS = LAYERS[-1][2]
SQL_METHODS = ("execute", "scalar", "scalars", "get", "flush")
RAW_METHODS = ("fetch", "fetchrow", "fetchval", "execute")


def _owner(spec: str) -> Any:
    module, _, cls = spec.partition(":")
    owner = importlib.import_module(module)
    return getattr(owner, cls) if cls else owner


def instrument(cpu: defaultdict[str, float], calls: Counter[str]) -> None:
    def wrap(owner: Any, name: str, label: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(original)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return await original(*args, **kwargs)
            finally:
                cpu[label] += time.process_time() - started
                calls[label] += 1

        @functools.wraps(original)
        def timed_sync(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                cpu[label] += time.process_time() - started
                calls[label] += 1

        setattr(owner, name, timed if inspect.iscoroutinefunction(original) else timed_sync)

    for spec, name, label in LAYERS:
        wrap(_owner(spec), name, label)
    session = _owner("sqlalchemy.ext.asyncio:AsyncSession")
    for name in SQL_METHODS:
        wrap(session, name, f"sql: AsyncSession.{name}")
    raw = _owner("app.core.rawsql:Raw")
    for name in RAW_METHODS:
        wrap(raw, name, f"sql: Raw.{name}")


async def per_statement_cost(app: Any, repeats: int) -> dict[str, float]:
    """CPU per single-row SELECT by key: through the ORM, and through asyncpg."""
    from sqlalchemy import select

    from app.reports.models import Category

    db = app.state.db
    out = {}
    async with db.session(write=False) as session:
        for _ in range(20):
            await session.scalar(select(Category).where(Category.code == "other"))
        started = time.process_time()
        for _ in range(repeats):
            await session.scalar(select(Category).where(Category.code == "other"))
        out["orm_select_ms"] = (time.process_time() - started) / repeats * 1000
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        sql = "SELECT * FROM category WHERE code = $1"
        for _ in range(20):
            await driver.fetchrow(sql, "other")
        started = time.process_time()
        for _ in range(repeats):
            await driver.fetchrow(sql, "other")
        out["asyncpg_select_ms"] = (time.process_time() - started) / repeats * 1000
    return {k: round(v, 3) for k, v in out.items()}


async def run(requests: int, warmup: int) -> dict[str, Any]:
    import asyncpg
    import httpx
    from sqlalchemy import event

    from app.core.security import issue_token
    from app.core.settings import Settings
    from app.main import create_app

    settings = Settings(
        env="test",
        database_url=sqlalchemy_url(DATABASE),
        run_background=False,
        rate_limit_reports="1000000/minute",
        log_level="WARNING",
        redis_url=None,
    )
    if not await database_exists(DATABASE):
        raise SystemExit(
            f"{DATABASE} does not exist: run `python -m bench.submit --rounds 1` once to create it"
        )
    conn = await asyncpg.connect(asyncpg_dsn(DATABASE))
    try:
        ids = [
            r["id"]
            for r in await conn.fetch(
                "SELECT id FROM user_account WHERE nickname LIKE '压测居民%' ORDER BY id LIMIT 100"
            )
        ]
    finally:
        await conn.close()
    if not ids:
        raise SystemExit(f"no bench residents in {DATABASE}: run python -m bench.submit first")
    tokens = [issue_token(settings, user_id=i, version=0, type="access") for i in ids]
    bodies = report_requests(warmup + requests, tokens, random.Random(7))

    cpu: defaultdict[str, float] = defaultdict(float)
    calls: Counter[str] = Counter()
    statements = 0
    app = create_app(settings)

    @event.listens_for(app.state.db.engine.sync_engine, "before_cursor_execute")
    def _count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    instrument(cpu, calls)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def submit(r: dict[str, Any]) -> None:
                headers = {**r["headers"], "Content-Type": "application/json"}
                response = await client.post(r["path"], content=r["body"].encode(), headers=headers)
                assert response.status_code == 201, response.text

            for r in bodies[:warmup]:
                await submit(r)
            cpu.clear()
            calls.clear()
            statements = 0
            wall = time.perf_counter()
            total = time.process_time()
            for r in bodies[warmup:]:
                await submit(r)
            total = time.process_time() - total
            wall = time.perf_counter() - wall
            n_statements = statements
            # What the submissions used, before the floor and the per-statement
            # figures below add calls of their own.
            cpu, calls = defaultdict(float, cpu), Counter(calls)
            started = time.process_time()
            for _ in range(requests):
                assert (await client.get("/healthz")).status_code == 200
            floor = time.process_time() - started
        statement_cost = await per_statement_cost(app, 300)
    finally:
        await app.state.wechat.aclose()
        await app.state.db.dispose()

    def ms(seconds: float) -> float:
        return round(seconds / requests * 1000, 3)

    # AsyncSession.scalars runs through AsyncSession.execute: counted there already.
    sql_total = (
        sum(v for k, v in cpu.items() if k.startswith("sql:") and not k.endswith("scalars"))
        + cpu[COMMITS]
    )
    return {
        "requests": requests,
        "cpu_ms_per_request": ms(total),
        "wall_ms_per_request": ms(wall),
        # Through SQLAlchemy (counted by its event) and straight to the driver (Raw).
        "sql_statements_per_request": round(
            (n_statements + sum(calls[f"sql: Raw.{m}"] for m in RAW_METHODS)) / requests, 2
        ),
        "sql_cpu_ms_per_request": ms(sql_total),
        "healthz_cpu_ms": ms(floor),
        "per_statement": statement_cost,
        "layers": [
            {
                "layer": label,
                "cpu_ms_per_request": ms(cpu[label]),
                "calls_per_request": round(calls[label] / requests, 2),
                "share": round(cpu[label] / total, 3) if total else None,
            }
            for label in [label for _, _, label in LAYERS]
            + [f"sql: AsyncSession.{m}" for m in SQL_METHODS]
            + [f"sql: Raw.{m}" for m in RAW_METHODS]
        ],
    }


def report(result: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"CPU per submission, in process, one at a time — {result['requests']} requests, "
        f"{result['sql_statements_per_request']:g} SQL statements each"
    )
    table.add_column("layer (inclusive)")
    table.add_column("CPU ms / request", justify="right")
    table.add_column("calls / request", justify="right")
    table.add_column("share", justify="right")
    for row in result["layers"]:
        table.add_row(
            row["layer"] + (" (within execute)" if row["layer"].endswith("scalars") else ""),
            f"{row['cpu_ms_per_request']:.2f}",
            f"{row['calls_per_request']:g}",
            f"{row['share']:.0%}" if row["share"] is not None else "",
        )
    table.add_row(
        "all SQL calls and commits together",
        f"{result['sql_cpu_ms_per_request']:.2f}",
        "",
        f"{result['sql_cpu_ms_per_request'] / result['cpu_ms_per_request']:.0%}",
    )
    table.add_row("whole request", f"{result['cpu_ms_per_request']:.2f}", "", "100%")
    table.add_row("GET /healthz through the same client", f"{result['healthz_cpu_ms']:.2f}", "", "")
    per = result["per_statement"]
    table.add_row("one SELECT by key: ORM", f"{per['orm_select_ms']:.2f}", "", "")
    table.add_row("one SELECT by key: raw asyncpg", f"{per['asyncpg_select_ms']:.2f}", "", "")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    console = Console()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    layers = runner(run(args.requests, args.warmup))
    result = {"date": time.strftime("%Y-%m-%d"), "machine": machine(), **layers}
    report(result, console)
    path = write_result("submit_layers", result, args.out)
    console.print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
