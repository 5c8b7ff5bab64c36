"""Benchmark of concurrent bookings: throughput, latency and correctness under load.

Seeds a bench database (PostgreSQL by default, ``ejiaren_bench_bookings``,
dropped and created again), then fires ``POST /api/v1/bookings`` at it with
many residents at once, through the real application (auth, idempotency
claim, the conditional UPDATE of the slot counter, commit):

- ``hot``: every booker at one slot (all contend for one row);
- ``spread``: each booker at a random one of many slots.

Afterwards it checks, in SQL, that no slot holds more bookings than seats,
that every slot's counter equals its active bookings, and that exactly
``min(capacity, attempts)`` bookings succeeded per slot. Run from the
repository root:

    python -m bench.bookings
    python -m bench.bookings --server uvicorn --workers 2

Prints a table and writes ``bench/results/bookings-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Started as ``python bench/bookings.py``: make ``app`` importable.
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from app.convenience.models import Booking, Service, ServicePoint, ServiceSlot  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.security import issue_token  # noqa: E402
from app.core.settings import Settings  # noqa: E402
from app.org.models import Region  # noqa: E402
from app.users.models import User  # noqa: E402

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/ejiaren_bench_bookings"
HERE = (112.905, 35.005)


def check_database_name(url: str) -> None:
    """Refuse test databases (their harness drops them) and anything not named for benchmarks."""
    name = make_url(url).database or ""
    stem = Path(name).name if url.startswith("sqlite") else name
    if stem.startswith("ejiaren_test") or "bench" not in stem:
        raise SystemExit(f"refusing database {name!r}: use a name containing 'bench'")


def _remove_sqlite(database: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{suffix}").unlink()


async def recreate(url: str) -> None:
    parsed = make_url(url)
    if url.startswith("sqlite"):
        await asyncio.to_thread(_remove_sqlite, parsed.database or "")
        return
    import asyncpg

    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database="postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await conn.close()


@dataclass
class World:
    user_ids: list[int]
    hot_slot: int
    spread_slots: list[int]


async def seed(url: str, *, residents: int, hot_capacity: int, slots: int, capacity: int) -> World:
    """A street with one grid, a bookable service, a point, the slots and the residents."""
    engine = create_async_engine(url)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            district = (
                await conn.execute(
                    insert(Region)
                    .values(
                        level="district", name="基准区", path="", created_at=now, updated_at=now
                    )
                    .returning(Region.id)
                )
            ).scalar_one()
            street = (
                await conn.execute(
                    insert(Region)
                    .values(
                        level="street",
                        name="基准街道",
                        parent_id=district,
                        path="",
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(Region.id)
                )
            ).scalar_one()
            path = f"/{district}/{street}/"
            await conn.execute(
                update(Region).where(Region.id == district).values(path=f"/{district}/")
            )
            await conn.execute(update(Region).where(Region.id == street).values(path=path))
            service = (
                await conn.execute(
                    insert(Service)
                    .values(
                        name="养老保险资格认证",
                        category="社会保障",
                        description="基准测试事项",
                        materials=["身份证"],
                        where_text="党群服务中心",
                        hours="工作日",
                        bookable=True,
                        errand=False,
                        region_id=street,
                        region_path=path,
                        active=True,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(Service.id)
                )
            ).scalar_one()
            point = (
                await conn.execute(
                    insert(ServicePoint)
                    .values(
                        name="基准便民服务站",
                        type="便民服务站",
                        lng=HERE[0],
                        lat=HERE[1],
                        coord_in="wgs84",
                        address="基准路 1 号",
                        opening_hours=[],
                        open_on_holidays=False,
                        region_id=street,
                        region_path=path,
                        active=True,
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(ServicePoint.id)
                )
            ).scalar_one()
            start = now + timedelta(days=1)

            def slot(i: int, cap: int) -> dict[str, Any]:
                begins = start + timedelta(minutes=30 * i)
                return {
                    "service_id": service,
                    "point_id": point,
                    "start_at": begins,
                    "end_at": begins + timedelta(minutes=30),
                    "capacity": cap,
                    "booked": 0,
                    "created_at": now,
                }

            slot_ids = list(
                (
                    await conn.execute(
                        insert(ServiceSlot).returning(ServiceSlot.id, sort_by_parameter_order=True),
                        [slot(0, hot_capacity)] + [slot(i + 1, capacity) for i in range(slots)],
                    )
                ).scalars()
            )
            user_ids = list(
                (
                    await conn.execute(
                        insert(User).returning(User.id, sort_by_parameter_order=True),
                        [
                            {
                                "kind": "resident",
                                "openid": f"bench-{i}",
                                "nickname": f"居民{i}",
                                "on_duty": True,
                                "disabled": False,
                                "token_version": 0,
                                "created_at": now,
                                "updated_at": now,
                            }
                            for i in range(residents)
                        ],
                    )
                ).scalars()
            )
    finally:
        await engine.dispose()
    return World(user_ids=user_ids, hot_slot=slot_ids[0], spread_slots=slot_ids[1:])


# ---------------------------------------------------------------- servers


def settings_for(url: str, concurrency: int) -> Settings:
    return Settings(
        env="test",
        database_url=url,
        run_background=False,
        redis_url=None,
        log_level="WARNING",
        db_pool_size=min(concurrency, 80),
        db_max_overflow=10,
        db_pool_timeout=120,
        _env_file=None,  # type: ignore[call-arg]
    )


@contextlib.asynccontextmanager
async def inprocess_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from app.main import create_app

    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=300
        ) as c:
            yield c
    finally:
        await app.state.wechat.aclose()
        await app.state.db.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(settings: Settings, workers: int) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "EJIAREN_ENV": "test",
        "EJIAREN_DATABASE_URL": settings.database_url,
        "EJIAREN_RUN_BACKGROUND": "false",
        "EJIAREN_LOG_LEVEL": "WARNING",
        # Connections are per process: split the pool across the workers.
        "EJIAREN_DB_POOL_SIZE": str(max(5, settings.db_pool_size // workers)),
        "EJIAREN_DB_MAX_OVERFLOW": "10",
        "EJIAREN_DB_POOL_TIMEOUT": "120",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise SystemExit("uvicorn did not start")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---------------------------------------------------------------- load


@dataclass
class Attempt:
    slot_id: int
    status: int
    code: str | None
    ms: float


async def fire(
    client: httpx.AsyncClient,
    settings: Settings,
    plan: list[tuple[int, int]],
    concurrency: int,
    tag: str,
) -> tuple[list[Attempt], float, float]:
    """Book ``(user_id, slot_id)`` pairs, at most ``concurrency`` in flight; returns
    the attempts, the wall time and this process's CPU time."""
    tokens = {uid: issue_token(settings, user_id=uid, version=0, type="access") for uid, _ in plan}
    gate = asyncio.Semaphore(concurrency)
    start_line = asyncio.Event()

    async def one(i: int, uid: int, slot_id: int) -> Attempt:
        await start_line.wait()
        async with gate:
            t0 = time.perf_counter()
            r = await client.post(
                "/api/v1/bookings",
                json={"slot_id": slot_id},
                headers={
                    "Authorization": f"Bearer {tokens[uid]}",
                    "Idempotency-Key": f"{tag}-{i}",
                },
            )
            ms = (time.perf_counter() - t0) * 1000
        code = None
        if r.status_code >= 400:
            code = r.json().get("error", {}).get("code")
        return Attempt(slot_id, r.status_code, code, ms)

    tasks = [asyncio.create_task(one(i, u, s)) for i, (u, s) in enumerate(plan)]
    await asyncio.sleep(0)
    t0, cpu0 = time.perf_counter(), time.process_time()
    start_line.set()
    attempts = await asyncio.gather(*tasks)
    return list(attempts), time.perf_counter() - t0, time.process_time() - cpu0


async def audit(url: str, slot_ids: list[int]) -> dict[int, tuple[int, int, int]]:
    """Per slot: (capacity, counter, active bookings), read from the database."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            active = (
                select(Booking.slot_id, func.count().label("n"))
                .where(Booking.status != "cancelled")
                .group_by(Booking.slot_id)
                .subquery()
            )
            rows = await conn.execute(
                select(ServiceSlot.id, ServiceSlot.capacity, ServiceSlot.booked, active.c.n)
                .outerjoin(active, active.c.slot_id == ServiceSlot.id)
                .where(ServiceSlot.id.in_(slot_ids))
            )
            return {sid: (cap, booked, int(n or 0)) for sid, cap, booked, n in rows}
    finally:
        await engine.dispose()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(
    name: str,
    attempts: list[Attempt],
    wall_s: float,
    cpu_s: float | None,
    seats: dict[int, tuple[int, int, int]],
) -> dict[str, Any]:
    by_slot = Counter(a.slot_id for a in attempts)
    wins = Counter(a.slot_id for a in attempts if a.status == 201)
    expected = sum(min(seats[s][0], n) for s, n in by_slot.items())
    statuses = Counter(f"{a.status} {a.code or ''}".strip() for a in attempts)
    latencies = [a.ms for a in attempts]
    overbooked = [s for s, (cap, booked, active) in seats.items() if active > cap or booked > cap]
    drift = [s for s, (_, booked, active) in seats.items() if booked != active]
    wrong_wins = [s for s in by_slot if wins[s] != min(seats[s][0], by_slot[s])]
    return {
        "scenario": name,
        "requests": len(attempts),
        "slots": len(by_slot),
        "seats": sum(seats[s][0] for s in by_slot),
        "booked_201": sum(wins.values()),
        "expected_201": expected,
        "statuses": dict(statuses),
        "wall_s": round(wall_s, 3),
        "requests_per_s": round(len(attempts) / wall_s, 1),
        "bookings_per_s": round(sum(wins.values()) / wall_s, 1),
        # In-process runs only: client and application share this process, so
        # this is the whole cost of a request in Python, whatever else loads the machine.
        "cpu_ms_per_request": round(cpu_s * 1000 / len(attempts), 2) if cpu_s is not None else None,
        "latency_ms": {
            "p50": round(statistics.median(latencies), 1),
            "p95": round(percentile(latencies, 0.95), 1),
            "p99": round(percentile(latencies, 0.99), 1),
            "max": round(max(latencies), 1),
        },
        "overbooked_slots": len(overbooked),
        "counter_drift_slots": len(drift),
        "slots_with_wrong_winner_count": len(wrong_wins),
        "correct": not overbooked and not drift and not wrong_wins,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    check_database_name(args.database_url)
    await recreate(args.database_url)
    await asyncio.to_thread(upgrade, args.database_url)
    world = await seed(
        args.database_url,
        residents=max(args.hot_bookers, args.spread_bookers),
        hot_capacity=args.hot_capacity,
        slots=args.slots,
        capacity=args.capacity,
    )
    settings = settings_for(args.database_url, args.concurrency)
    rng = random.Random(args.seed)
    hot_plan = [(u, world.hot_slot) for u in world.user_ids[: args.hot_bookers]]
    spread_plan = [
        (u, rng.choice(world.spread_slots)) for u in world.user_ids[: args.spread_bookers]
    ]

    @contextlib.asynccontextmanager
    async def client() -> AsyncIterator[httpx.AsyncClient]:
        if args.server == "inprocess":
            async with inprocess_client(settings) as c:
                yield c
        else:
            with uvicorn_server(settings, args.workers) as base:
                limits = httpx.Limits(max_connections=args.concurrency)
                async with httpx.AsyncClient(base_url=base, timeout=300, limits=limits) as c:
                    yield c

    load_before = os.getloadavg()[0]
    scenarios = []
    async with client() as c:
        # A few requests first, so pools and caches are warm for both scenarios alike.
        warm = [(u, world.spread_slots[0]) for u in world.user_ids[:3]]
        await fire(c, settings, warm, 3, "warm")
        for name, plan in (("hot", hot_plan), ("spread", spread_plan)):
            attempts, wall, cpu = await fire(c, settings, plan, args.concurrency, name)
            seats = await audit(args.database_url, sorted({s for _, s in plan}))
            if name == "spread":
                # The warm-up bookings count in the database but not among the attempts.
                warm_slot = world.spread_slots[0]
                if warm_slot in seats:
                    cap, booked, active = seats[warm_slot]
                    seats[warm_slot] = (cap - 3, booked - 3, active - 3)
            in_process = args.server == "inprocess"
            scenarios.append(summarise(name, attempts, wall, cpu if in_process else None, seats))
    return {
        "benchmark": "bookings",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_1min_before": round(load_before, 2),
            "load_1min_after": round(os.getloadavg()[0], 2),
        },
        "database": "sqlite" if args.database_url.startswith("sqlite") else "postgresql",
        "server": args.server if args.server == "inprocess" else f"uvicorn x{args.workers}",
        "concurrency": args.concurrency,
        "parameters": {
            "hot_bookers": args.hot_bookers,
            "hot_capacity": args.hot_capacity,
            "spread_bookers": args.spread_bookers,
            "slots": args.slots,
            "capacity": args.capacity,
            "seed": args.seed,
        },
        "scenarios": scenarios,
    }


def report(result: dict[str, Any], console: Console) -> None:
    table = Table(
        title=(
            f"bookings — {result['database']}, {result['server']}, "
            f"concurrency {result['concurrency']}"
        )
    )
    for column in (
        "scenario",
        "requests",
        "seats",
        "201",
        "409 full",
        "other",
        "req/s",
        "CPU ms/req",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "correct",
    ):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for s in result["scenarios"]:
        statuses = dict(s["statuses"])
        full = statuses.pop("409 booking.full", 0)
        statuses.pop("201", None)
        table.add_row(
            s["scenario"],
            str(s["requests"]),
            str(s["seats"]),
            f"{s['booked_201']} / {s['expected_201']}",
            str(full),
            ", ".join(f"{k}: {v}" for k, v in statuses.items()) or "0",
            f"{s['requests_per_s']:.0f}",
            f"{s['cpu_ms_per_request']:.1f}" if s["cpu_ms_per_request"] is not None else "—",
            f"{s['latency_ms']['p50']:.0f}",
            f"{s['latency_ms']['p95']:.0f}",
            f"{s['latency_ms']['p99']:.0f}",
            "✓" if s["correct"] else "✗",
        )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL, help="a bench database (dropped!)")
    parser.add_argument("--server", choices=("inprocess", "uvicorn"), default="inprocess")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once")
    parser.add_argument("--hot-bookers", type=int, default=1000)
    parser.add_argument("--hot-capacity", type=int, default=100)
    parser.add_argument("--spread-bookers", type=int, default=2000)
    parser.add_argument("--slots", type=int, default=50)
    parser.add_argument("--capacity", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    if min(args.concurrency, args.hot_bookers, args.spread_bookers, args.slots) < 1:
        parser.error("counts must be positive")
    if (
        not 1
        <= min(args.hot_capacity, args.capacity)
        <= max(args.hot_capacity, args.capacity)
        <= 1000
    ):
        parser.error("capacities are 1..1000")

    console = Console(width=max(Console().width, 120))
    result = asyncio.run(run(args))
    report(result, console)
    args.out.mkdir(parents=True, exist_ok=True)
    # The default run (PostgreSQL, in-process) is bookings-<date>.json; others say what they ran.
    variant = (
        ""
        if result["database"] == "postgresql" and args.server == "inprocess"
        else (f"-{result['database']}-{args.server}")
    )
    path = args.out / f"bookings{variant}-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written to {path}")
    return 0 if all(s["correct"] for s in result["scenarios"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
