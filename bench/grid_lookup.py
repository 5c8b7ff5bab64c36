"""Benchmark of the in-memory grid index (``app.org.locator.GridIndex``).

Builds the index from synthetic grid boundaries exactly as an API process
does after loading them from the database (GeoJSON dicts → shapely → STRtree),
then times single-point lookups. Run from the repository root:

    python -m bench.grid_lookup --grids 20000 --lookups 100000

Prints a table and writes ``bench/results/grid_lookup-<date>.json``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import resource
import statistics
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Started as ``python bench/grid_lookup.py``: make ``app`` importable.
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import shapely  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from app.org.geo import gcj02_to_wgs84, wgs84_to_gcj02  # noqa: E402
from app.org.locator import GridIndex, GridRow, geometry_from_geojson  # noqa: E402

ORIGIN = (112.90, 35.00)  # 沁阳
# About 365 m × 445 m at 35° N: the size of a grid of ~400 urban households.
SPACING = 0.004
CORNER_JITTER = 0.25  # × SPACING
EDGE_POINTS = 6  # extra vertices per edge, so a grid has 28 vertices like a hand-drawn one
EDGE_JITTER = 0.04  # × SPACING, across the edge
TARGETS = {"build_s": 5.0, "median_ms": 0.2}
BUILD_REPEATS = 3


def synthetic_grids(n: int, seed: int) -> list[GridRow]:
    """``n`` non-overlapping grid polygons tiling a jittered lattice.

    Neighbouring cells share their corner and edge vertices, so the cells tile
    the plane with shared edges and no overlap, as real grid maps do.
    """
    rng = random.Random(seed)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    x0, y0 = ORIGIN

    corners = [
        [
            (
                x0 + (c + rng.uniform(-CORNER_JITTER, CORNER_JITTER)) * SPACING,
                y0 + (r + rng.uniform(-CORNER_JITTER, CORNER_JITTER)) * SPACING,
            )
            for c in range(cols + 1)
        ]
        for r in range(rows + 1)
    ]

    def edge(a: tuple[float, float], b: tuple[float, float]) -> list[tuple[float, float]]:
        # Interior points of the edge a→b, pushed a little to either side.
        (ax, ay), (bx, by) = a, b
        length = math.hypot(bx - ax, by - ay)
        nx, ny = -(by - ay) / length, (bx - ax) / length
        points = []
        for k in range(1, EDGE_POINTS + 1):
            t = k / (EDGE_POINTS + 1)
            off = rng.uniform(-EDGE_JITTER, EDGE_JITTER) * SPACING
            points.append((ax + (bx - ax) * t + nx * off, ay + (by - ay) * t + ny * off))
        return points

    horizontal = [
        [edge(corners[r][c], corners[r][c + 1]) for c in range(cols)] for r in range(rows + 1)
    ]
    vertical = [
        [edge(corners[r][c], corners[r + 1][c]) for c in range(cols + 1)] for r in range(rows)
    ]

    grids: list[GridRow] = []
    for i in range(n):
        r, c = divmod(i, cols)
        ring = [corners[r][c], *horizontal[r][c], corners[r][c + 1], *vertical[r][c + 1]]
        ring += [corners[r + 1][c + 1], *reversed(horizontal[r + 1][c]), corners[r + 1][c]]
        ring += [*reversed(vertical[r][c]), corners[r][c]]
        coordinates = [[[round(x, 7), round(y, 7)] for x, y in ring]]
        grids.append((i + 1, {"type": "Polygon", "coordinates": coordinates}))
    return grids


def rss_bytes() -> int:
    """Resident set size now (Linux), else the peak as a stand-in."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def run(n_grids: int, n_lookups: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed + 1)
    rows = synthetic_grids(n_grids, seed)
    vertices = sum(len(b["coordinates"][0]) - 1 for _, b in rows)

    # Build timings without tracemalloc, which slows every allocation several-fold.
    gc.collect()
    rss_before = rss_bytes()
    started = time.perf_counter()
    index = GridIndex.from_geojson(rows, stamp=(1, "bench"))
    build_times = [time.perf_counter() - started]
    gc.collect()
    rss_delta = rss_bytes() - rss_before
    for _ in range(BUILD_REPEATS - 1):
        started = time.perf_counter()
        GridIndex.from_geojson(rows, stamp=(1, "bench"))
        build_times.append(time.perf_counter() - started)
    build_s = statistics.median(build_times)

    # Python-side allocations only: GEOS geometries live in C memory that
    # tracemalloc does not see, hence the RSS figure next to it.
    gc.collect()
    tracemalloc.start()
    traced_index = GridIndex.from_geojson(rows, stamp=(1, "bench"))
    traced_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced_index

    cols = math.ceil(math.sqrt(n_grids))
    lattice_rows = math.ceil(n_grids / cols)
    x0, y0 = ORIGIN
    # A small margin around the lattice, so some lookups miss every grid.
    margin = 2 * SPACING
    points = [
        (
            rng.uniform(x0 - margin, x0 + cols * SPACING + margin),
            rng.uniform(y0 - margin, y0 + lattice_rows * SPACING + margin),
        )
        for _ in range(n_lookups)
    ]

    for lng, lat in points[:1000]:  # warm caches before timing
        index.locate(lng, lat)
    timings_ns: list[int] = []
    hits = 0
    clock = time.perf_counter_ns
    for lng, lat in points:
        t0 = clock()
        found = index.locate(lng, lat)
        timings_ns.append(clock() - t0)
        hits += found is not None

    gcj_points = [wgs84_to_gcj02(lng, lat) for lng, lat in points[: n_lookups // 10]]
    timings_gcj_ns: list[int] = []
    for lng, lat in gcj_points:
        t0 = clock()
        index.locate(*gcj02_to_wgs84(lng, lat))
        timings_gcj_ns.append(clock() - t0)

    # The index must agree with a brute-force scan over all polygons.
    geometries = np.asarray([geometry_from_geojson(b) for _, b in rows], dtype=object)
    ids = np.asarray([i for i, _ in rows])
    shapely.prepare(geometries)
    disagreements = 0
    for lng, lat in points[:500]:
        covering = ids[shapely.covers(geometries, shapely.Point(lng, lat))]
        expected = int(covering.min()) if covering.size else None
        disagreements += index.locate(lng, lat) != expected
    valid = int(shapely.is_valid(geometries).sum())

    lookup_ms = sorted(t / 1e6 for t in timings_ns)
    gcj_ms = sorted(t / 1e6 for t in timings_gcj_ns)
    return {
        "date": date.today().isoformat(),
        "machine": {
            "python": platform.python_version(),
            "shapely": shapely.__version__,
            "geos": shapely.geos_version_string,
            "cpus": os.cpu_count(),
            # Other work on the machine shows up in p99 and max; record it.
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
        },
        "grids": n_grids,
        "valid_grids": valid,
        "vertices_per_grid": round(vertices / n_grids, 1),
        "build_s": round(build_s, 3),
        "build_s_all": [round(t, 3) for t in build_times],
        "lookups": n_lookups,
        "hit_rate": round(hits / n_lookups, 4),
        "lookup_median_ms": round(statistics.median(lookup_ms), 4),
        "lookup_p99_ms": round(percentile(lookup_ms, 0.99), 4),
        "lookup_max_ms": round(lookup_ms[-1], 4),
        "gcj02_lookup_median_ms": round(statistics.median(gcj_ms), 4),
        "gcj02_lookup_p99_ms": round(percentile(gcj_ms, 0.99), 4),
        "index_tracemalloc_mb": round(traced_bytes / 2**20, 1),
        "index_rss_delta_mb": round(rss_delta / 2**20, 1),
        "brute_force_disagreements": disagreements,
        "targets": TARGETS,
    }


def report(result: dict[str, Any], console: Console) -> None:
    table = Table(title=f"grid lookup — {result['grids']} grids, {result['lookups']} lookups")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")

    def ok(value: float, target: float) -> str:
        return f"< {target}  {'✓' if value < target else '✗'}"

    table.add_row(
        f"index build, median of {BUILD_REPEATS} (s)",
        f"{result['build_s']:.3f}",
        ok(result["build_s"], 5.0),
    )
    table.add_row(
        "lookup median (ms)",
        f"{result['lookup_median_ms']:.4f}",
        ok(result["lookup_median_ms"], 0.2),
    )
    table.add_row("lookup p99 (ms)", f"{result['lookup_p99_ms']:.4f}", "")
    table.add_row("lookup max (ms)", f"{result['lookup_max_ms']:.4f}", "")
    table.add_row(
        "GCJ-02 → WGS-84 + lookup median (ms)", f"{result['gcj02_lookup_median_ms']:.4f}", ""
    )
    table.add_row("GCJ-02 → WGS-84 + lookup p99 (ms)", f"{result['gcj02_lookup_p99_ms']:.4f}", "")
    table.add_row("index memory, tracemalloc (MB)", f"{result['index_tracemalloc_mb']}", "")
    table.add_row("index memory, RSS delta (MB)", f"{result['index_rss_delta_mb']}", "")
    table.add_row("hit rate", f"{result['hit_rate']:.2%}", "")
    table.add_row("valid grids", f"{result['valid_grids']} / {result['grids']}", "")
    table.add_row("vertices per grid", f"{result['vertices_per_grid']}", "")
    table.add_row(
        "disagreements with brute force (500 pts)", f"{result['brute_force_disagreements']}", "0"
    )
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=20_000, help="number of grid polygons")
    parser.add_argument("--lookups", type=int, default=100_000, help="number of timed lookups")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="directory for the JSON result"
    )
    args = parser.parse_args(argv)
    if args.grids < 1 or args.lookups < 1000:
        parser.error("need at least 1 grid and 1000 lookups")

    console = Console()
    result = run(args.grids, args.lookups, args.seed)
    report(result, console)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"grid_lookup-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    console.print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
