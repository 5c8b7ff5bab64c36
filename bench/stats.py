"""The figures on a city's worth of cases: PostgreSQL, 1,000,000 cases.

1. Fills ``ejiaren_bench_stats`` with the demo generator (``app.demo_generate``:
   a district of ``--grids`` grids and ``--reports`` cases over twelve months,
   binary COPY), unless it already holds them. The triggers of migration 0004
   write every generated case into the ledger as it is copied; the ledger is
   then folded into the roll-up cells (``app.stats.rollup.rebuild``), as the
   background fold would.
2. Times the routes in-process over HTTP (httpx on the ASGI app, a superadmin
   token: authentication, scope, queries, arithmetic and JSON all count), each
   once to warm up, then ``--runs`` times; the median is the figure.
3. Proves the numbers stay exact when cases change state after being counted:
   commits state changes to thousands of counted cases with plain SQL (the
   triggers see every writer), compares each figure read through the roll-up
   with the same figure computed from ``report`` alone, folds, compares again.

    python -m bench.stats --reports 1000000 --grids 2000 --runs 5

Prints a table and writes ``bench/results/stats-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from app.core import clock  # noqa: E402
from app.core.clock import SHANGHAI  # noqa: E402
from app.core.db import Database  # noqa: E402
from app.core.migrations import upgrade_async  # noqa: E402
from app.core.security import issue_token  # noqa: E402
from app.core.settings import Settings  # noqa: E402
from app.core.timewin import parse_window  # noqa: E402
from app.demo_generate import generate, generated_marker  # noqa: E402
from app.main import create_app  # noqa: E402
from app.stats import rollup, sources  # noqa: E402
from app.stats.figures import figures as tally_figures  # noqa: E402
from app.stats.scope import StatsScope  # noqa: E402
from app.users.models import Membership, User  # noqa: E402
from bench.common import (  # noqa: E402
    database_exists,
    load_average,
    machine,
    postgres_backend_cpu,
    postgres_facts,
    recreate_database,
    sqlalchemy_url,
    write_result,
)

DATABASE = "ejiaren_bench_stats"
TARGETS_MS = {"summary": 300.0, "breakdown_grid": 1000.0, "trend_day": 500.0}
BENCH_ADMIN = "bench-stats-superadmin"
console = Console()


async def fill(
    url: str, db: Database, reports: int, grids: int, seed: int, fresh: bool
) -> dict[str, Any]:
    """Generate the cases (unless already there) and fold the ledger."""
    facts: dict[str, Any] = {}
    name = url.rsplit("/", 1)[1]
    if fresh or not await database_exists(name):
        await recreate_database(name)
    await upgrade_async(url)
    marker = await generated_marker(db)
    if marker is None:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=max(total, 1))
                bar.update(tasks[stage], completed=done, total=max(total, 1))

            started = time.perf_counter()
            result = await generate(db, grids=grids, reports=reports, seed=seed, progress=progress)
            facts["generate_s"] = round(time.perf_counter() - started, 1)
            facts["generated"] = result.as_dict()
        # Cases reach the table in the order they are created; the generator
        # writes a year of them in random creation order. Put the rows in
        # creation order, as production has them, so that a window of
        # creation time reads adjacent pages.
        started = time.perf_counter()
        async with db.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.exec_driver_sql("CLUSTER report USING ix_report_created_at")
        facts["cluster_s"] = round(time.perf_counter() - started, 1)
    else:
        facts["generated"] = marker
    async with db.session(write=True) as session:
        facts["ledger_rows_before_fold"] = await session.scalar(
            text("SELECT count(*) FROM stats_delta")
        )
    if facts["ledger_rows_before_fold"]:
        started = time.perf_counter()
        async with db.session(write=True) as session:
            await rollup.rebuild(session)
            await session.commit()
        facts["rebuild_s"] = round(time.perf_counter() - started, 1)
    async with db.engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.exec_driver_sql(
            "VACUUM ANALYZE report, stats_delta, stats_day_cell, stats_month_cell"
        )
        sizes = await auto.execute(
            text("""
                SELECT relname, n_live_tup, pg_total_relation_size(relid) AS bytes
                  FROM pg_stat_user_tables
                 WHERE relname IN ('report', 'stats_delta', 'stats_day_cell', 'stats_month_cell')
            """)
        )
        facts["tables"] = {
            r.relname: {"rows": r.n_live_tup, "mb": round(r.bytes / 2**20, 1)} for r in sizes
        }
        facts["reports"] = await auto.scalar(text("SELECT count(*) FROM report"))
        facts["grids"] = await auto.scalar(text("SELECT count(*) FROM region WHERE level = 'grid'"))
    return facts


async def superadmin_token(db: Database, settings: Settings) -> str:
    async with db.session(write=True) as session:
        user = await session.scalar(select(User).where(User.username == BENCH_ADMIN))
        if user is None:
            user = User(kind="staff", username=BENCH_ADMIN, name="统计压测", nickname="统计压测")
            session.add(user)
            await session.flush()
            session.add(Membership(user_id=user.id, role="superadmin", region_id=None))
            await session.commit()
        return issue_token(settings, user_id=user.id, version=user.token_version, type="access")


def windows() -> dict[str, dict[str, str]]:
    """The year the generator filled (the last 365 days, today included), as whole
    days; and the twelve whole months before the current one."""
    today = clock.now().astimezone(SHANGHAI).date()
    month = today.replace(day=1)
    year_ago = (month - timedelta(days=365)).replace(day=1)
    return {
        "year": {"from": str(today - timedelta(days=364)), "to": str(today + timedelta(days=1))},
        "months": {"from": str(year_ago), "to": str(month)},
        "all": {},
    }


CASES: list[tuple[str, str, str, dict[str, str]]] = [
    # key, label, path, params (the window is added from windows())
    ("summary", "summary, whole district, last 365 days", "summary", {"w": "year"}),
    ("summary_all", "summary, whole district, all time", "summary", {"w": "all"}),
    (
        "breakdown_grid",
        "breakdown by grid, 12 whole months",
        "breakdown",
        {"by": "grid", "w": "months"},
    ),
    (
        "breakdown_grid_days",
        "breakdown by grid, last 365 days",
        "breakdown",
        {"by": "grid", "w": "year"},
    ),
    ("trend_day", "daily trend, last 365 days", "trend", {"interval": "day", "w": "year"}),
    ("trend_month", "monthly trend, last 365 days", "trend", {"interval": "month", "w": "year"}),
    (
        "breakdown_worker",
        "breakdown by worker, 12 whole months",
        "breakdown",
        {"by": "worker", "w": "months"},
    ),
    (
        "ranking_grid",
        "ranking of grids, 12 whole months",
        "ranking",
        {"level": "grid", "metric": "completion_rate", "w": "months"},
    ),
    (
        "breakdown_category",
        "breakdown by category, 12 whole months",
        "breakdown",
        {"by": "category", "w": "months"},
    ),
    ("banner", "public banner (cache off)", "banner", {}),
]


async def time_routes(app: Any, token: str, runs: int, database: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    wins = windows()
    out: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://bench", timeout=600
    ) as client:
        for key, label, path, spec in CASES:
            params = {k: v for k, v in spec.items() if k != "w"}
            params.update(wins.get(spec.get("w", "all"), {}))
            url = "/api/v1/public/banner" if path == "banner" else f"/api/v1/stats/{path}"
            samples, app_cpu, pg_cpu = [], [], []
            for i in range(runs + 1):
                if path == "banner":
                    app.state.stats_banner_cache = {}
                pg0, cpu0 = postgres_backend_cpu(database), time.process_time()
                started = time.perf_counter()
                r = await client.get(url, params=params, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if r.status_code != 200:
                    raise RuntimeError(f"{url} {params}: {r.status_code} {r.text[:300]}")
                if i:
                    samples.append(elapsed)
                    app_cpu.append((time.process_time() - cpu0) * 1000)
                    pg_cpu.append((postgres_backend_cpu(database) - pg0) * 1000)
            body = r.json()
            out[key] = {
                "label": label,
                "params": params,
                "median_ms": round(statistics.median(samples), 1),
                "runs_ms": [round(s, 1) for s in samples],
                # CPU time, which the machine's other load does not inflate: the
                # API process, and the PostgreSQL backends of this database.
                "app_cpu_ms": round(statistics.median(app_cpu), 1),
                "pg_cpu_ms": round(statistics.median(pg_cpu), 1),
                "items": len(body["items"]) if "items" in body else None,
                "received": body.get("received"),
                "load_average": load_average(),
            }
            console.print(
                f"  {label}: {out[key]['median_ms']} ms"
                f" (cpu: app {out[key]['app_cpu_ms']} ms, postgres {out[key]['pg_cpu_ms']} ms)"
            )
    return out


async def base_reference(db: Database) -> dict[str, Any]:
    """The summary and the grid breakdown straight from ``report``, once each:
    what the roll-up saves."""
    year = windows()["year"]
    lo, hi = parse_window(year["from"], year["to"])
    out: dict[str, Any] = {}
    async with db.session(write=False) as session:
        for key, group in (("summary", "none"), ("breakdown_grid", "region_path")):
            started = time.perf_counter()
            await sources.tallies(
                session,
                scope=StatsScope(paths=None),
                region=None,
                lo=lo,
                hi=hi,
                group=group,
                plan="base",
            )
            out[key] = round((time.perf_counter() - started) * 1000, 1)
    return out


CHANGES = [
    # Resolved cases are rated (satisfied), closing them.
    """UPDATE report SET status = 'closed', rating_score = 'satisfied', rated_at = now(), closed_at = now()
        WHERE id IN (SELECT id FROM report WHERE status = 'resolved' ORDER BY id LIMIT 2000)""",
    # Closed cases are reopened: in progress again with a new deadline.
    """UPDATE report SET status = 'in_progress', reopen_count = reopen_count + 1, closed_at = NULL,
              accepted_at = now(), resolve_due_at = now() + interval '1 day'
        WHERE id IN (SELECT id FROM report WHERE status = 'closed' ORDER BY id DESC LIMIT 1000)""",
    # Open cases are accepted, late.
    """UPDATE report SET status = 'in_progress', accepted_at = now(),
              first_accepted_at = coalesce(first_accepted_at, now()), resolve_due_at = now() + interval '3 days'
        WHERE id IN (SELECT id FROM report WHERE status = 'dispatched' ORDER BY id LIMIT 1000)""",
    # Transfers: the same cases count for another worker.
    """UPDATE report SET assignee_id = last_assignee_id
        WHERE id IN (SELECT id FROM report WHERE status = 'in_progress' AND assignee_id IS DISTINCT FROM last_assignee_id LIMIT 500)""",
    # Rejections: out of every figure.
    """UPDATE report SET status = 'rejected', closed_at = now()
        WHERE id IN (SELECT id FROM report WHERE status = 'submitted' ORDER BY id LIMIT 300)""",
]


async def prove_exact(db: Database) -> dict[str, Any]:
    """Change counted cases, then compare roll-up figures with ``report`` figures,
    before and after folding the ledger."""
    wins = windows()
    checks = [
        ("summary", "none", wins["year"]),
        ("summary_all", "none", {}),
        ("breakdown_grid", "region_path", wins["months"]),
        ("breakdown_grid_days", "region_path", wins["year"]),
        ("trend_day", "day", wins["year"]),
        ("breakdown_worker", "worker", wins["months"]),
    ]

    async def compare(stage: str) -> dict[str, bool]:
        result = {}
        # One instant for both plans: "overdue now" changes as deadlines pass
        # during the seconds the figures from report alone take.
        with clock.frozen(clock.now()):
            return await _compare(stage, result)

    async def _compare(stage: str, result: dict[str, bool]) -> dict[str, bool]:
        async with db.session(write=False) as session:
            for key, group, window in checks:
                lo, hi = parse_window(window.get("from"), window.get("to"))
                figures = {}
                for plan in ("auto", "base"):
                    parts = await sources.tallies(
                        session,
                        scope=StatsScope(paths=None),
                        region=None,
                        lo=lo,
                        hi=hi,
                        group=group,
                        plan=plan,
                    )
                    figures[plan] = {
                        k: tally_figures(t)
                        for k, t in parts.items()
                        if t.received or t.overdue_open
                    }
                result[key] = figures["auto"] == figures["base"]
                if not result[key]:
                    console.print(f"[red]{stage}: {key} differs[/red]")
        return result

    out: dict[str, Any] = {"before_changes": await compare("before")}
    changed = 0
    async with db.session(write=True) as session:
        for sql in CHANGES:
            changed += (await session.execute(text(sql))).rowcount or 0  # type: ignore[attr-defined]
        await session.commit()
        out["ledger_rows_after_changes"] = await session.scalar(
            text("SELECT count(*) FROM stats_delta")
        )
    out["cases_changed"] = changed
    out["after_changes_unfolded"] = await compare("unfolded")
    started = time.perf_counter()
    out["folded_rows"] = await rollup.fold(db)
    out["fold_s"] = round(time.perf_counter() - started, 2)
    out["after_fold"] = await compare("folded")
    out["exact"] = all(all(v.values()) for k, v in out.items() if isinstance(v, dict))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--fresh", action="store_true", help="drop and fill the database again")
    parser.add_argument("--skip-exact", action="store_true", help="leave the data unchanged")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    if not args.database.startswith("ejiaren_bench"):
        parser.error("bench databases are named ejiaren_bench*")
    asyncio.run(run(args))


async def run(args: argparse.Namespace) -> None:
    url = sqlalchemy_url(args.database)
    settings = Settings(env="dev", database_url=url, run_background=False, log_level="WARNING")
    db = Database(settings)
    try:
        console.print(f"[bold]filling {args.database}[/bold]")
        facts = await fill(url, db, args.reports, args.grids, args.seed, args.fresh)
        token = await superadmin_token(db, settings)
    finally:
        await db.dispose()
    app = create_app(settings)
    try:
        console.print("[bold]timing the routes[/bold]")
        timings = await time_routes(app, token, args.runs, args.database)
        console.print("[bold]the same from report alone (no roll-up), once[/bold]")
        reference = await base_reference(app.state.db)
        exact = None
        if not args.skip_exact:
            console.print("[bold]changing counted cases and comparing[/bold]")
            exact = await prove_exact(app.state.db)
    finally:
        await app.state.wechat.aclose()
        await app.state.db.dispose()

    table = Table("measure", "target", "median of runs", "runs (ms)", "cpu app / pg (ms)")
    for key, row in timings.items():
        target = TARGETS_MS.get(key)
        table.add_row(
            row["label"],
            f"< {target:.0f} ms" if target else "—",
            f"{row['median_ms']} ms",
            " ".join(f"{s:.0f}" for s in row["runs_ms"]),
            f"{row['app_cpu_ms']:.0f} / {row['pg_cpu_ms']:.0f}",
        )
    console.print(table)
    console.print(f"from report alone: {reference}")
    if exact is not None:
        console.print(
            f"exact after changes: {exact['exact']} ({exact['cases_changed']} cases changed)"
        )
    path = write_result(
        "stats",
        {
            "machine": machine(),
            "postgres": await postgres_facts(args.database),
            "database": args.database,
            "data": facts,
            "windows": windows(),
            "targets_ms": TARGETS_MS,
            "timings": timings,
            "from_report_alone_ms": reference,
            "exactness": exact,
        },
        args.out,
    )
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
