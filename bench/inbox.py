"""The worker inbox and the resident's list with a million reports in the database.

Fills a database with ``app.demo_generate`` (a district of grids, a year of
cases; kept between runs with ``--reuse``), then times the list routes
through the real application, in process (httpx ``ASGITransport``, no
network): ``GET /api/v1/worker/tasks`` as the busiest grid worker and
``GET /api/v1/reports/mine`` as the resident with the most cases, each plain,
filtered by ``status`` or ``overdue``, and their second page. Each route's
report query, captured as the app sends it, is run again under ``EXPLAIN
ANALYZE`` (``EXPLAIN QUERY PLAN`` on SQLite) to show which index it uses; on
PostgreSQL also as the generic plan a prepared statement may switch to.

    python -m bench.inbox --reports 1000000 --reuse
    python -m bench.inbox --database sqlite --reports 1000000 --reuse

Prints a table and writes ``bench/results/inbox-<database>-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import (  # noqa: E402
    database_exists,
    machine,
    percentiles,
    postgres_facts,
    recreate_database,
    sqlalchemy_url,
    write_result,
)

TARGET_MEDIAN_MS = 20.0
API = "/api/v1"
# route, who asks, query string, and the index family the report query must
# use: one on the assignee (ix_report_assignee_id_status_id, or for id order
# across statuses ix_report_assignee_id_id from migration 0003) or on the
# reporter (ix_report_reporter_id_id, or for one status
# ix_report_reporter_id_status_id from migration 0013) — not a walk along the
# primary key, which reads the whole table for a user with few recent cases,
# nor an index on status alone, which reads every case of that status.
ASSIGNEE, REPORTER = "ix_report_assignee_id", "ix_report_reporter_id"
VARIANTS: list[tuple[str, str, str, str]] = [
    ("/worker/tasks", "worker", "", ASSIGNEE),
    ("/worker/tasks", "worker", "status=in_progress", ASSIGNEE),
    ("/worker/tasks", "worker", "status=closed", ASSIGNEE),
    ("/worker/tasks", "worker", "overdue=true", ASSIGNEE),
    ("/worker/tasks", "worker", "overdue=false", ASSIGNEE),
    ("/worker/tasks", "worker", "page=2", ASSIGNEE),
    ("/reports/mine", "resident", "", REPORTER),
    ("/reports/mine", "resident", "status=closed", REPORTER),
    ("/reports/mine", "resident", "status=in_progress", REPORTER),
    ("/reports/mine", "resident", "page=2", REPORTER),
]
FLOOR = ("/me", "worker", "", "")  # what any authenticated request costs, for scale
_INDEX_NAME = re.compile(r"\b(ix_report_\w+|pk_report)\b")


def database_url(kind: str, reports: int, sqlite_dir: Path) -> tuple[str, str]:
    """(SQLAlchemy URL, name) of the bench database for ``reports`` cases."""
    if kind == "sqlite":
        path = sqlite_dir / f"inbox-{reports}.db"
        return f"sqlite+aiosqlite:///{path}", str(path)
    name = "ejiaren_bench_1m" if reports == 1_000_000 else f"ejiaren_bench_{reports}"
    return sqlalchemy_url(name), name


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)


async def ensure_data(
    kind: str, url: str, name: str, *, reports: int, grids: int, seed: int, reuse: bool,
    console: Console,
) -> dict[str, Any]:  # fmt: skip
    """The generator's record of the data: reused when it matches, else made afresh."""
    from app.core.db import Database
    from app.core.migrations import upgrade_async
    from app.core.settings import Settings
    from app.demo_generate import generate, generated_marker

    if kind == "sqlite":
        exists = await asyncio.to_thread(Path(name).exists)
    else:
        exists = await database_exists(name)
    if reuse and exists:
        # Kept data follows the schema: migrations added since it was made run first.
        await upgrade_async(url)
        db = Database(Settings(database_url=url))
        try:
            marker = await generated_marker(db)
        finally:
            await db.dispose()
        if marker and marker["reports"] == reports and marker["grids"] == grids:
            console.print(f"reusing {name}: {reports:,} reports generated earlier")
            marker.pop("seconds", None)  # older markers held a meaningless 0
            marker.pop("seconds_by_stage", None)
            return {**marker, "reused": True}
        console.print(f"{name} holds other data: generating afresh")
    if kind == "sqlite":
        await asyncio.to_thread(_remove_sqlite, Path(name))
    else:
        await recreate_database(name)
    await upgrade_async(url)
    step = max(1, reports // 20)

    def progress(stage: str, done: int, total: int) -> None:
        if stage != "reports" or done % step == 0 or done == total:
            console.print(f"  {stage}: {done:,}/{total:,}")

    result = await generate(url, grids=grids, reports=reports, seed=seed, progress=progress)
    console.print(f"generated in {result.seconds:.1f} s ({result.seconds_by_stage})")
    return {**result.as_dict(), "seed": seed, "reused": False}


async def measure(
    url: str, kind: str, data: dict[str, Any], repeats: int, console: Console
) -> list[dict[str, Any]]:
    import httpx
    from sqlalchemy import event

    from app.core.security import issue_token
    from app.core.settings import Settings
    from app.main import create_app

    settings = Settings(
        env="test", database_url=url, run_background=False, log_level="WARNING", redis_url=None
    )
    app = create_app(settings)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(app.state.db.engine.sync_engine, "before_cursor_execute")
    def _capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:  # fmt: skip
        if (
            statement.lstrip().startswith("SELECT report.id")
            and "ORDER BY report.id DESC" in statement
        ):
            captured.append((statement, params))  # fmt: skip

    users = {"worker": data["busiest_worker_id"], "resident": data["busiest_reporter_id"]}
    headers = {
        who: {
            "Authorization": "Bearer "
            + issue_token(settings, user_id=uid, version=0, type="access")
        }
        for who, uid in users.items()
    }
    # (variant, path, who, params) for every variant with something to ask for,
    # plus GET /me as the floor of any authenticated request.
    cases: list[tuple[tuple[str, str, str, str], str, str, dict[str, str]]] = []
    timings: dict[int, list[float]] = {}
    cpu: dict[int, list[float]] = {}
    out = []
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for variant in [*VARIANTS, FLOOR]:
                path, who, query, _ = variant
                params: dict[str, str] = dict(p.split("=") for p in query.split("&") if p)
                if params.pop("page", None):
                    first = await client.get(API + path, headers=headers[who])
                    cursor = first.json()["next_cursor"]
                    if cursor is None:
                        continue
                    params["cursor"] = cursor
                for _ in range(5):  # warm: connections, caches
                    r = await client.get(API + path, headers=headers[who], params=params)
                    assert r.status_code == 200, r.text
                cases.append((variant, path, who, params))
            # One request of each variant per round: the machine's other load,
            # which changes from minute to minute, falls on all variants alike.
            for _ in range(repeats):
                for k, (_, path, who, params) in enumerate(cases):
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = await client.get(API + path, headers=headers[who], params=params)
                    timings.setdefault(k, []).append((time.perf_counter() - t0) * 1000)
                    cpu.setdefault(k, []).append((time.process_time() - c0) * 1000)
                    assert r.status_code == 200, r.text
            for k, (variant, path, who, params) in enumerate(cases):
                _, _, query, index = variant
                captured.clear()
                r = await client.get(API + path, headers=headers[who], params=params)
                plan, generic = (
                    await explain(app, kind, captured[-1]) if captured and index else ([], [])
                )
                used = sorted({m for line in plan + generic for m in _INDEX_NAME.findall(line)})
                body = r.json()
                out.append(
                    {
                        "route": path,
                        "as": who,
                        "user_id": users[who],
                        "query": query,
                        "items": len(body["items"]) if "items" in body else 0,
                        "median_ms": round(statistics.median(timings[k]), 3),
                        "latency_ms": percentiles(timings[k]),
                        # CPU of this process per request: app and in-process client.
                        "cpu_median_ms": round(statistics.median(cpu[k]), 3),
                        "query_ms": _execution_ms(plan),
                        "generic_query_ms": _execution_ms(generic),
                        "requests": repeats,
                        "expected_index": index or None,
                        "indexes_used": used,
                        "uses_expected_index": (
                            bool(used) and all(n.startswith(index) for n in used)
                        )
                        if index
                        else None,
                        "plan": plan,
                        "generic_plan": generic or None,
                        "sql": captured[-1][0] if captured and index else None,
                    }
                )
                console.print(f"  {path}?{query}: median {out[-1]['median_ms']:.2f} ms")
    finally:
        await app.state.wechat.aclose()
        await app.state.db.dispose()
    return out


def _execution_ms(plan: list[str]) -> float | None:
    for line in plan:
        if line.startswith("Execution Time:"):
            return float(line.split()[2])
    return None


async def explain(app: Any, kind: str, captured: tuple[str, Any]) -> tuple[list[str], list[str]]:
    """The plan of the captured statement with the app's own parameters, and on
    PostgreSQL also its generic plan.

    The app's statements are prepared (asyncpg), and from a statement's sixth
    run PostgreSQL may switch to a generic plan, made without the parameters'
    values, when it looks no dearer than the custom ones. ``EXPLAIN`` with
    parameters shows only the custom plan, so a statement whose generic plan
    is bad looked fine here: the worker's ``overdue=true`` list, with its
    statuses as parameters, ran a walk of all the worker's cases. The generic
    plan comes from ``PREPARE`` and ``EXPLAIN EXECUTE`` under
    ``plan_cache_mode = force_generic_plan`` (PostgreSQL 15 has no ``EXPLAIN
    (GENERIC_PLAN)``); ``EXECUTE`` takes no parameters, so it gets literals."""
    statement, params = captured
    async with app.state.db.engine.connect() as conn:
        if kind == "sqlite":
            rows = await conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, tuple(params))
            return [str(row[-1]) for row in rows], []
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        rows = await driver.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *params)
        args = ", ".join(_literal(p) for p in params)
        async with driver.transaction():
            await driver.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            await driver.execute("PREPARE bench_inbox AS " + statement)
            try:
                generic = await driver.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_inbox({args})"
                )
            finally:
                await driver.execute("DEALLOCATE bench_inbox")
        return [row[0] for row in rows], [row[0] for row in generic]


def _literal(value: Any) -> str:
    """A parameter of the app's own query as SQL (the statement casts each one)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text.replace("'", "''") + "'"


def report(result: dict[str, Any], console: Console) -> None:
    data = result["data"]
    table = Table(
        title=f"list routes on {result['database']} — {data['reports']:,} reports, "
        f"worker with {data['busiest_worker_reports']:,} cases, "
        f"resident with {data['busiest_reporter_reports']:,}"
    )
    columns = ("route", "query", "items", "median ms", "p95 ms", "CPU ms", "query ms", "index")
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("route", "query", "plan") else "right"
        )
    for v in result["variants"]:
        good = v["median_ms"] < TARGET_MEDIAN_MS
        plan = ""
        if v["expected_index"]:
            plan = ("✓ " if v["uses_expected_index"] else "✗ ") + ", ".join(v["indexes_used"])
        table.add_row(
            v["route"],
            v["query"] or ("—" if v["expected_index"] else "floor: auth only, no list"),
            str(v["items"]),
            f"{v['median_ms']:.2f}"
            + ("" if v["expected_index"] is None else " ✓" if good else " ✗"),
            f"{v['latency_ms']['p95']:.2f}",
            f"{v['cpu_median_ms']:.2f}",
            ""
            if v["query_ms"] is None
            else f"{v['query_ms']:.2f}"
            + ("" if v.get("generic_query_ms") is None else f" / {v['generic_query_ms']:.2f}"),
            plan,
        )
    console.print(table)
    console.print(
        f"target: median < {TARGET_MEDIAN_MS} ms for every list route; CPU ms: this process "
        "(app and in-process client) per request; query ms: the list query's own execution "
        "time under EXPLAIN ANALYZE, custom / generic plan; index: what either plan uses"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, help="default: one per 500 reports")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per variant")
    parser.add_argument("--reuse", action="store_true", help="keep data generated earlier")
    parser.add_argument("--sqlite-dir", type=Path, default=ROOT / "var" / "bench")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--label", help="added to the result's name, e.g. without-index")
    args = parser.parse_args(argv)
    if args.requests < 50:
        parser.error("at least 50 timed requests per variant")
    grids = args.grids or max(1, round(args.reports / 500))

    console = Console(width=150)  # the table is wide; stay readable in logs too
    url, name = database_url(args.database, args.reports, args.sqlite_dir)
    started = time.perf_counter()
    data = asyncio.run(
        ensure_data(
            args.database, url, name, reports=args.reports, grids=grids, seed=args.seed,
            reuse=args.reuse, console=console,
        )
    )  # fmt: skip
    prepared_s = time.perf_counter() - started
    variants = asyncio.run(measure(url, args.database, data, args.requests, console))
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "database": args.database,
        "database_name": name,
        "label": args.label,
        "data": data,
        "prepare_s": round(prepared_s, 1),
        "settings": {"pool": "default (db_pool_size 10, max_overflow 10)", "in_process": True},
        "variants": variants,
        "target_median_ms": TARGET_MEDIAN_MS,
        "met": all(v["median_ms"] < TARGET_MEDIAN_MS for v in variants if v["expected_index"]),
        "all_use_expected_index": all(
            v["uses_expected_index"] for v in variants if v["expected_index"]
        ),
    }
    if args.database == "postgresql":
        result["postgres"] = asyncio.run(postgres_facts(name))
    report(result, console)
    name = f"inbox-{args.database}" + (f"-{args.label}" if args.label else "")
    path = write_result(name, result, args.out)
    console.print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
