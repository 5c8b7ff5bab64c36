"""Memory of one API process with 20,000 grids: its resident set after warming.

1. ``ejiaren_bench_memory`` is dropped and created, migrated and seeded like
   the mixed-load database (demo street, residents, policies); then
   ``--grids`` grid boundaries are imported through the import service the
   admin route and ``ejiaren import-grids`` use: the jittered 28-vertex
   lattice of ``grid_lookup.py``, moved one degree east of the demo street so
   the two never overlap.
2. One uvicorn process serves the app on 127.0.0.1, as one API process of a
   multi-process deployment.
3. The load generator (its own process) sends ``--locates`` anonymous
   ``GET /grids/locate`` at random points over the lattice (the first builds
   the grid index), then ``--mixed-seconds`` of the mixed load of
   ``mixed_load.py`` (submissions, lists, inbox, accept and resolve, figures,
   policy search).
4. The process's resident set (``VmRSS``) is read from ``/proc`` after start,
   after the locates and after the mixed traffic, together with its peak
   (``VmHWM``). Target: the peak stays under 300 MB.

    python -m bench.memory --grids 20000

Prints a table and writes ``bench/results/memory-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import (  # noqa: E402
    Server,
    load_average,
    machine,
    postgres_facts,
    write_result,
)
from bench.mixed_load import (  # noqa: E402
    dispatched_cases,
    get,
    mixed_requests,
    prepare,
    run_generator,
    submissions,
)
from bench.submit import server_env  # noqa: E402

DATABASE = "ejiaren_bench_memory"
TARGET_MB = 300.0
SHIFT_LNG = 1.0  # degrees east of grid_lookup's lattice, away from the demo street
GRIDS_PER_COMMUNITY = 9
COMMUNITIES_PER_STREET = 9


def feature_collection(n: int, seed: int) -> dict[str, Any]:
    """``n`` grids of ``grid_lookup``'s lattice as an import file, with a
    district, streets of 81 grids and communities of 9."""
    from bench.grid_lookup import synthetic_grids

    features = []
    for i, (_, boundary) in enumerate(synthetic_grids(n, seed)):
        ring = [[round(x + SHIFT_LNG, 7), y] for x, y in boundary["coordinates"][0]]
        community = i // GRIDS_PER_COMMUNITY
        street = community // COMMUNITIES_PER_STREET
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "district": "基准县",
                    "street": f"基准{street + 1}街道",
                    "community": f"基准{street + 1}-{community + 1}社区",
                    "grid": f"第{i + 1}网格",
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


async def import_boundaries(url: str, data: dict[str, Any]) -> float:
    from app.core.db import Database
    from app.core.settings import Settings
    from app.org.grid_import import import_grids

    db = Database(Settings(env="test", database_url=url, _env_file=None))  # type: ignore[call-arg]
    started = time.perf_counter()
    try:
        async with db.session(write=True) as session:
            await import_grids(session, data)
            await session.commit()
    finally:
        await db.dispose()
    return time.perf_counter() - started


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def locate_requests(n: int, data: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    xs = [p[0] for f in data["features"] for p in f["geometry"]["coordinates"][0]]
    ys = [p[1] for f in data["features"] for p in f["geometry"]["coordinates"][0]]
    lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
    return [
        get(
            f"/api/v1/grids/locate?lat={rng.uniform(lo_y, hi_y):.6f}"
            f"&lng={rng.uniform(lo_x, hi_x):.6f}&coord=wgs84",
            None,
        )
        for _ in range(n)
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=20_000)
    parser.add_argument("--locates", type=int, default=5_000, help="GET /grids/locate requests")
    parser.add_argument("--mixed-seconds", type=float, default=30, help="then mixed traffic")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 120))
    rng = random.Random(args.seed)
    console.print(f"preparing {DATABASE} …")
    world = asyncio.run(prepare(DATABASE, 100, 100, console))
    data = feature_collection(args.grids, args.seed)
    console.print(f"importing {args.grids:,} grids …")
    import_s = asyncio.run(import_boundaries(world.settings_url, data))
    console.print(f"  {import_s:.1f} s")
    work_dir = Path(tempfile.mkdtemp(prefix="ejiaren-bench-"))
    server = Server(
        "ejiaren",
        "app.main:app",
        server_env(
            world.settings_url, work_dir / "media", pool_size=10, max_overflow=10, redis_url=None
        ),
    )
    phases: list[dict[str, Any]] = []
    try:
        server.start(work_dir)
        server.wait_ready()
        assert server.process is not None
        pid = server.process.pid

        def note(phase: str, statuses: dict[str, int] | None = None) -> None:
            phases.append(
                {
                    "phase": phase,
                    **memory_mb(pid),
                    "statuses": statuses,
                    "load_average": load_average(),
                }
            )
            console.print(f"  {phases[-1]}")

        note("started")
        located = run_generator(
            server, locate_requests(args.locates, data, rng), args.clients, 600, work_dir
        )
        note("after locates", located["statuses"])
        pre = [r for _, r in submissions(30, world, rng)]
        run_generator(server, pre, args.clients, 120, work_dir)
        labelled = mixed_requests(
            int(args.mixed_seconds * 150), world, asyncio.run(dispatched_cases(DATABASE)), rng
        )
        mixed = run_generator(
            server, [r for _, r in labelled], args.clients, args.mixed_seconds, work_dir
        )
        note("after mixed traffic", mixed["statuses"])
    finally:
        server.stop()
    peak = max(p["VmHWM"] for p in phases)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "postgres": asyncio.run(postgres_facts(DATABASE)),
        "grids": args.grids,
        "vertices_per_grid": round(
            sum(len(f["geometry"]["coordinates"][0]) - 1 for f in data["features"]) / args.grids, 1
        ),
        "import_s": round(import_s, 1),
        "locates": args.locates,
        "mixed_seconds": args.mixed_seconds,
        "clients": args.clients,
        "phases": phases,
        "rss_mb": phases[-1]["VmRSS"],
        "peak_rss_mb": peak,
        "target_mb": TARGET_MB,
        "met": peak < TARGET_MB,
        "load_average_after": load_average(),
        "settings": {k: v for k, v in server.env.items() if k != "EJIAREN_MEDIA_DIR"},
    }
    table = Table(title=f"one API process, {args.grids:,} grids (target: peak < {TARGET_MB:g} MB)")
    for column in ("phase", "RSS MB", "peak MB", "answers", "load 1m"):
        table.add_column(column, justify="left" if column in ("phase", "answers") else "right")
    for p in phases:
        table.add_row(
            p["phase"],
            f"{p['VmRSS']:.0f}",
            f"{p['VmHWM']:.0f}",
            ", ".join(f"{k}: {v}" for k, v in (p["statuses"] or {}).items()),
            f"{p['load_average'][0]}",
        )
    console.print(table)
    path = write_result("memory", result, args.out)
    console.print(f"written to {path}")
    shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
