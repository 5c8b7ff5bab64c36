"""Submitting a report end to end on PostgreSQL, against a bare FastAPI INSERT.

``POST /api/v1/reports`` as a resident sends it: a bearer token, a fresh
``Idempotency-Key``, a point inside a demo grid (half WGS-84, half GCJ-02).
Everything a submission does runs: authentication (user and roles read from
the database), the rate limit (its own transaction), content security (the
in-process WeChat fake, as in dev and test), the idempotency claim (its own
transaction), locating the grid, choosing the grid worker, the deadlines, the
report and its ``created`` + ``dispatched`` events, reading the case back, and
the commit. The baseline (``bench/baseline_app.py``) validates the same body
and runs one asyncpg INSERT.

Both are served by one uvicorn process each (uvloop, httptools) on 127.0.0.1
and driven by the same load generator (``bench/loadgen.py``) in a third
process: ``--clients`` concurrent keep-alive connections, each request sent
when the previous answer has arrived. The two targets take turns for
``--rounds`` rounds, so a change in the machine's other load hits both.

    python -m bench.submit --clients 32 --requests 3000 --seconds 60

Prints a table and writes ``bench/results/submit-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import (  # noqa: E402
    HOST,
    Server,
    asyncpg_dsn,
    load_average,
    machine,
    percentiles,
    postgres_backend_cpu,
    postgres_facts,
    recreate_database,
    sqlalchemy_url,
    write_result,
)

DATABASE = "ejiaren_bench"
TARGETS = {"ratio": 0.25, "p99_ms": 100.0, "clients": 32}
ISSUE_CATEGORIES = [
    "environment", "municipal", "fume_noise", "neighbour", "safety", "parking", "property",
    "water_power", "other",
]  # fmt: skip
DESCRIPTIONS = [
    "小区门口垃圾桶满溢，两天没有清运",
    "楼下饭店油烟直排，晚上噪音也很大",
    "路灯不亮已经一周，晚上出行不便",
    "电动车在楼道充电，有火灾隐患",
    "车辆乱停堵住小区出口",
]


def server_env(
    url: str, media_dir: Path, *, pool_size: int, max_overflow: int, redis_url: str | None
) -> dict[str, str]:
    """Our app as one API process of a multi-process deployment: no background
    loop (that is ``ejiaren worker``'s job), a rate limit no bench user reaches."""
    env = {
        "EJIAREN_ENV": "test",
        "EJIAREN_DATABASE_URL": url,
        "EJIAREN_RUN_BACKGROUND": "false",
        "EJIAREN_RATE_LIMIT_REPORTS": "1000000/minute",
        "EJIAREN_LOG_LEVEL": "WARNING",
        "EJIAREN_MEDIA_DIR": str(media_dir),
        "EJIAREN_DB_POOL_SIZE": str(pool_size),
        "EJIAREN_DB_MAX_OVERFLOW": str(max_overflow),
    }
    if redis_url:
        if not redis_url.startswith(("redis://127.0.0.1", "redis://localhost")):
            raise SystemExit("the benchmark only talks to services on 127.0.0.1")
        env["EJIAREN_REDIS_URL"] = redis_url
    return env


async def prepare(database: str, residents: int, *, with_openid: bool) -> list[str]:
    """A fresh bench database: migrated, the demo street seeded, and ``residents``
    resident accounts; returns an access token for each."""
    from app.core.db import Database
    from app.core.migrations import upgrade_async
    from app.core.security import issue_token
    from app.core.settings import Settings
    from app.demo import seed
    from app.users.models import User
    from app.wechat.fake import openid_for

    await recreate_database(database)
    url = sqlalchemy_url(database)
    await upgrade_async(url)
    settings = Settings(env="test", database_url=url)
    db = Database(settings)
    try:
        async with db.session(write=True) as session:
            await seed(session)
            users = [
                User(
                    kind="resident",
                    # With an openid, content security checks each text (as for
                    # real residents); without, the check is skipped.
                    openid=openid_for(f"bench-resident-{i}") if with_openid else None,
                    nickname=f"压测居民{i}",
                )
                for i in range(residents)
            ]
            session.add_all(users)
            await session.flush()
            ids = [u.id for u in users]
            await session.commit()
    finally:
        await db.dispose()
    import asyncpg

    # Planner statistics, as autovacuum keeps them on a database in service:
    # without them a freshly loaded database is planned as if every table
    # held one row (sequential scans and nested loops over the accounts).
    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return [issue_token(settings, user_id=i, version=0, type="access") for i in ids]


def demo_cells() -> list[tuple[float, float]]:
    """South-west corners (WGS-84) of the demo grids."""
    from app.demo import CELL_LAT, CELL_LNG, COMMUNITIES, ORIGIN_LAT, ORIGIN_LNG

    return [
        (ORIGIN_LNG + col * CELL_LNG, ORIGIN_LAT + row * CELL_LAT)
        for col, grids in enumerate(COMMUNITIES.values())
        for row in range(len(grids))
    ]


def report_requests(n: int, tokens: list[str], rng: random.Random) -> list[dict[str, Any]]:
    from app.demo import CELL_LAT, CELL_LNG
    from app.org.geo import wgs84_to_gcj02

    cells = demo_cells()
    out = []
    for i in range(n):
        sw_lng, sw_lat = rng.choice(cells)
        # Well inside the cell: a GCJ-02 point comes back to within 0.1 m of it.
        lng = sw_lng + CELL_LNG * rng.uniform(0.05, 0.95)
        lat = sw_lat + CELL_LAT * rng.uniform(0.05, 0.95)
        coord = "wgs84"
        if i % 2:
            lng, lat, coord = *wgs84_to_gcj02(lng, lat), "gcj02"
        body = {
            "kind": "issue",
            "category": rng.choice(ISSUE_CATEGORIES),
            "description": f"{rng.choice(DESCRIPTIONS)}（压测 {i}）",
            "location": {"lat": round(lat, 7), "lng": round(lng, 7), "coord": coord},
            "address": f"沁水湾小区{rng.randint(1, 30)}号楼",
        }
        out.append(
            {
                "method": "POST",
                "path": "/api/v1/reports",
                "headers": {
                    "Authorization": f"Bearer {tokens[i % len(tokens)]}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
                "body": json.dumps(body, ensure_ascii=False),
            }
        )
    return out


def baseline_requests(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"method": "POST", "path": "/baseline", "headers": {}, "body": r["body"]} for r in requests
    ]


def run_load(
    server: Server,
    requests: list[dict[str, Any]],
    warmup: list[dict[str, Any]],
    *,
    clients: int,
    seconds: float,
    work_dir: Path,
    rate: float | None = None,
) -> dict[str, Any]:
    """One measured run in a separate generator process; with the CPU time the
    server and the database's backends used meanwhile."""
    spec = {
        "host": HOST,
        "port": server.port,
        "concurrency": clients,
        "max_seconds": seconds,
        "warmup": warmup,
        "requests": requests,
        "rate": rate,
    }
    spec_path = work_dir / f"spec-{server.name}-{uuid.uuid4().hex[:6]}.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False))
    load_before = load_average()
    generator = subprocess.Popen(
        [sys.executable, "-m", "bench.loadgen", str(spec_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    # The measured phase starts after the warm-up; the CPU counters are read
    # around the whole generator run, so warm-ups are only done in round 1.
    cpu_server, cpu_pg, started = server.cpu_seconds(), postgres_backend_cpu(DATABASE), time.time()
    out, _ = generator.communicate(timeout=seconds * 3 + 120)
    wall = time.time() - started
    cpu_server = server.cpu_seconds() - cpu_server
    cpu_pg = postgres_backend_cpu(DATABASE) - cpu_pg
    if generator.returncode != 0:
        raise RuntimeError(f"load generator failed for {server.name}")
    result = json.loads(out)
    spec_path.unlink()
    measured = result["measured"]
    handled = measured["requests"] + (result["warmup"] or {}).get("requests", 0)
    latencies = measured.pop("latencies_ms")
    return {
        **measured,
        "latency_ms": percentiles(latencies),
        "warmup": result["warmup"],
        # CPU per request, counted over warm-up and measured requests alike.
        "server_cpu_ms_per_request": round(cpu_server / handled * 1000, 3) if handled else None,
        "postgres_cpu_ms_per_request": round(cpu_pg / handled * 1000, 3) if handled else None,
        "server_cpu_share": round(cpu_server / wall, 2) if wall else None,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "_latencies": latencies,
    }


async def verify(database: str) -> dict[str, int]:
    """What the submissions left in the database."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        row = await conn.fetchrow(
            """
            SELECT
              (SELECT count(*) FROM report) AS reports,
              (SELECT count(*) FROM report WHERE status = 'dispatched'
                 AND assignee_id IS NOT NULL AND grid_id IS NOT NULL) AS dispatched,
              (SELECT count(*) FROM report_event WHERE type = 'created') AS created_events,
              (SELECT count(*) FROM report_event WHERE type = 'dispatched') AS dispatched_events,
              (SELECT count(*) FROM idempotency_record WHERE state = 'done') AS idempotency_done,
              (SELECT count(*) FROM bench_baseline) AS baseline_rows
            """
        )
    finally:
        await conn.close()
    return dict(row)


def summarise(runs: list[dict[str, Any]], target: str) -> dict[str, Any]:
    mine = [r for r in runs if r["target"] == target]
    latencies = [x for r in mine for x in r["_latencies"]]
    requests = sum(r["requests"] for r in mine)
    elapsed = sum(r["elapsed_s"] for r in mine)
    return {
        "requests": requests,
        "errors": sum(r["errors"] for r in mine),
        "throughput_rps": round(requests / elapsed, 1) if elapsed else None,
        "throughput_rps_by_round": [r["throughput_rps"] for r in mine],
        "latency_ms": percentiles(latencies),
        "server_cpu_ms_per_request": round(
            sum(r["server_cpu_ms_per_request"] or 0 for r in mine) / len(mine), 3
        ),
        "postgres_cpu_ms_per_request": round(
            sum(r["postgres_cpu_ms_per_request"] or 0 for r in mine) / len(mine), 3
        ),
    }


def report(result: dict[str, Any], console: Console) -> None:
    ours, base = result["ours"], result["baseline"]
    table = Table(
        title=f"POST /api/v1/reports vs one asyncpg INSERT — {result['clients']} clients, "
        f"{result['rounds']} rounds"
    )
    table.add_column("measure")
    table.add_column("e家人 submit", justify="right")
    table.add_column("baseline", justify="right")
    table.add_column("target", justify="right")

    def ok(good: bool) -> str:
        return "✓" if good else "✗"

    table.add_row(
        "throughput (req/s)",
        f"{ours['throughput_rps']}",
        f"{base['throughput_rps']}",
        "",
    )
    table.add_row(
        "  by round",
        " / ".join(str(x) for x in ours["throughput_rps_by_round"]),
        " / ".join(str(x) for x in base["throughput_rps_by_round"]),
        "",
    )
    ratio = result["ratio"]
    table.add_row("ratio ours / baseline", f"{ratio:.1%}", "", f"≥ 25%  {ok(ratio >= 0.25)}")
    for q in ("p50", "p95", "p99", "max"):
        target = ""
        if q == "p99":
            target = f"< 100 ms  {ok(ours['latency_ms']['p99'] < TARGETS['p99_ms'])}"
        table.add_row(
            f"latency {q} (ms)",
            f"{ours['latency_ms'][q]:.1f}",
            f"{base['latency_ms'][q]:.1f}",
            target,
        )
    table.add_row(
        "errors (non-2xx)",
        str(ours["errors"]),
        str(base["errors"]),
        f"0  {ok(ours['errors'] == 0 and base['errors'] == 0)}",
    )
    table.add_row(
        "API process CPU per request (ms)",
        f"{ours['server_cpu_ms_per_request']:.2f}",
        f"{base['server_cpu_ms_per_request']:.2f}",
        "",
    )
    table.add_row(
        "PostgreSQL CPU per request (ms)",
        f"{ours['postgres_cpu_ms_per_request']:.2f}",
        f"{base['postgres_cpu_ms_per_request']:.2f}",
        "",
    )
    table.add_row("requests measured", str(ours["requests"]), str(base["requests"]), "")
    console.print(table)
    if result["open_loop"]:
        table = Table(title="e家人 submit, open loop (latency from each request's due time)")
        for column in ("offered req/s", "achieved req/s", "p50 ms", "p95 ms", "p99 ms", "errors"):
            table.add_column(column, justify="right")
        for run in result["open_loop"]:
            lat = run["latency_ms"]
            table.add_row(
                f"{run['offered_rps']:g}",
                f"{run['throughput_rps']}",
                f"{lat['p50']:.1f}",
                f"{lat['p95']:.1f}",
                f"{lat['p99']:.1f}" + (" ✓" if lat["p99"] < TARGETS["p99_ms"] else " ✗"),
                str(run["errors"]),
            )
        console.print(table)
    v = result["database_after"]
    console.print(
        f"database after the runs: {v['reports']} reports, {v['dispatched']} dispatched to a grid "
        f"worker, {v['created_events']} created + {v['dispatched_events']} dispatched events, "
        f"{v['baseline_rows']} baseline rows"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    parser.add_argument("--requests", type=int, default=3000, help="requests per measured run")
    parser.add_argument("--seconds", type=float, default=60, help="time limit per measured run")
    parser.add_argument("--warmup", type=int, default=300, help="warm-up requests per target")
    parser.add_argument("--rounds", type=int, default=2, help="turns of baseline then ours")
    parser.add_argument("--residents", type=int, default=300, help="resident accounts")
    # The baseline's asyncpg pool keeps up to pool-size + max-overflow connections
    # open; ours gets the same number, all kept (an overflow connection is closed
    # when it comes back and opened again for the next request in excess).
    parser.add_argument("--pool-size", type=int, default=30, help="EJIAREN_DB_POOL_SIZE")
    parser.add_argument("--max-overflow", type=int, default=0, help="EJIAREN_DB_MAX_OVERFLOW")
    parser.add_argument(
        "--no-content-check",
        action="store_true",
        help="residents without an openid, so no WeChat content check runs",
    )
    parser.add_argument(
        "--redis-url",
        help="rate limits in Redis (e.g. redis://127.0.0.1:6379/15) instead of PostgreSQL",
    )
    parser.add_argument(
        "--open-rates",
        type=float,
        nargs="*",
        default=[],
        help="then run ours open loop at these rates (req/s), latency from each due time",
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--name", default="submit", help="result file name prefix")
    args = parser.parse_args(argv)

    console = Console()
    rng = random.Random(args.seed)
    console.print(f"preparing {DATABASE} …")
    tokens = asyncio.run(prepare(DATABASE, args.residents, with_openid=not args.no_content_check))
    work_dir = Path(tempfile.mkdtemp(prefix="ejiaren-bench-"))
    ours = Server(
        "ejiaren",
        "app.main:app",
        server_env(
            sqlalchemy_url(DATABASE),
            work_dir / "media",
            pool_size=args.pool_size,
            max_overflow=args.max_overflow,
            redis_url=args.redis_url,
        ),
    )
    base = Server(
        "baseline",
        "bench.baseline_app:app",
        {
            "BENCH_BASELINE_DSN": asyncpg_dsn(DATABASE),
            "BENCH_BASELINE_POOL": str(args.pool_size + args.max_overflow),
        },
    )
    runs: list[dict[str, Any]] = []
    open_loop: list[dict[str, Any]] = []
    try:
        for server in (ours, base):
            server.start(work_dir)
        for server in (ours, base):
            server.wait_ready()
        for round_ in range(args.rounds):
            for server in (base, ours):
                requests = report_requests(args.requests, tokens, rng)
                warmup = report_requests(args.warmup, tokens, rng) if round_ == 0 else []
                if server is base:
                    requests, warmup = baseline_requests(requests), baseline_requests(warmup)
                console.print(f"round {round_ + 1}: {server.name} …")
                run = run_load(
                    server,
                    requests,
                    warmup,
                    clients=args.clients,
                    seconds=args.seconds,
                    work_dir=work_dir,
                )
                runs.append({"target": server.name, "round": round_ + 1, **run})
                console.print(
                    f"  {run['throughput_rps']} req/s, p99 {run['latency_ms']['p99']:.1f} ms, "
                    f"{run['errors']} errors {run['error_samples'][:1]}"
                )
        for rate in args.open_rates:
            console.print(f"open loop: {ours.name} at {rate:g} req/s …")
            n = min(args.requests, int(rate * args.seconds))
            run = run_load(
                ours,
                report_requests(n, tokens, rng),
                [],
                clients=args.clients,
                seconds=args.seconds,
                work_dir=work_dir,
                rate=rate,
            )
            open_loop.append({"target": ours.name, "offered_rps": rate, **run})
            console.print(
                f"  {run['throughput_rps']} req/s, p50 {run['latency_ms']['p50']:.1f} ms, "
                f"p99 {run['latency_ms']['p99']:.1f} ms, {run['errors']} errors"
            )
    finally:
        for server in (ours, base):
            server.stop()
    after = asyncio.run(verify(DATABASE))
    facts = asyncio.run(postgres_facts(DATABASE))
    summary_ours, summary_base = summarise(runs, "ejiaren"), summarise(runs, "baseline")
    for r in runs + open_loop:
        r.pop("_latencies")
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "postgres": facts,
        "clients": args.clients,
        "rounds": args.rounds,
        "requests_per_run": args.requests,
        "seconds_limit_per_run": args.seconds,
        "warmup_per_target": args.warmup,
        "residents": args.residents,
        "content_check": not args.no_content_check,
        "rate_limit_store": "redis" if args.redis_url else "postgresql",
        "settings": {
            "ejiaren": {k: v for k, v in ours.env.items() if k != "EJIAREN_MEDIA_DIR"},
            "baseline_pool": base.env["BENCH_BASELINE_POOL"],
            "uvicorn": "1 process, uvloop, httptools, log level warning, no access log",
        },
        "ours": summary_ours,
        "baseline": summary_base,
        "ratio": round(summary_ours["throughput_rps"] / summary_base["throughput_rps"], 4),
        "database_after": after,
        "targets": TARGETS,
        "runs": runs,
        "open_loop": open_loop,
    }
    result["met"] = {
        "ratio": result["ratio"] >= TARGETS["ratio"],
        "p99": summary_ours["latency_ms"]["p99"] < TARGETS["p99_ms"],
        "no_errors": summary_ours["errors"] == 0 and summary_base["errors"] == 0,
    }
    report(result, console)
    path = write_result(args.name, result, args.out)
    console.print(f"written to {path}")
    if result["met"]["no_errors"]:
        shutil.rmtree(work_dir, ignore_errors=True)
    else:  # the servers' logs say why
        console.print(f"errors: server logs kept in {work_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
