"""Every benchmark the issues ask for, as one run: what runs, how its result is
read, and how the whole run is written down.

Each benchmark is an existing script started as a subprocess with its own
arguments and its own ``--out`` directory; the suite reads the JSON it leaves
there and keeps the key figures, each with its target and whether it was met.
A benchmark that exits without leaving a result has crashed: that is recorded
and the others still run.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
README = ROOT / "bench" / "README.md"
RUNS = ROOT / "var" / "bench" / "suite"
START, END = "<!-- bench:summary:start -->", "<!-- bench:summary:end -->"
PACKAGES = (
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg", "aiosqlite", "pydantic",
    "shapely", "jieba", "httpx", "uvloop", "httptools",
)  # fmt: skip

Check = dict[str, Any]  # {"measure", "value", "target", "met"}


# ---------------------------------------------------------------- checks


def check(measure: str, value: Any, target: str, met: bool | None) -> Check:
    return {"measure": measure, "value": value, "target": target, "met": met}


def below(measure: str, value: float | None, limit: float, unit: str) -> Check:
    met = None if value is None else value < limit
    shown = None if value is None else round(value, 4)
    return check(measure, shown, f"< {limit:g} {unit}".strip(), met)


def equals(measure: str, value: Any, wanted: Any) -> Check:
    return check(measure, value, f"= {fmt(wanted)}", value == wanted)


# ---------------------------------------------------------------- readers
# Each turns one script's JSON into (figures, checks).

Reader = Callable[[dict[str, Any]], tuple[dict[str, Any], list[Check]]]


def read_submit(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    ours, base = r["ours"], r["baseline"]
    figures = {
        "clients": r["clients"],
        "ours_rps": ours["throughput_rps"],
        "baseline_rps": base["throughput_rps"],
        "ratio_to_baseline": r["ratio"],
        "ours_latency_ms": ours["latency_ms"],
        "baseline_latency_ms": base["latency_ms"],
        "ours_cpu_ms_per_request": ours["server_cpu_ms_per_request"],
        "baseline_cpu_ms_per_request": base["server_cpu_ms_per_request"],
        "errors": {"ours": ours["errors"], "baseline": base["errors"]},
    }
    checks = [
        check("throughput ÷ baseline", r["ratio"], "≥ 0.25", r["ratio"] >= 0.25),
        below("p99 at 32 clients (ms)", ours["latency_ms"]["p99"], 100, "ms"),
        equals("non-2xx answers", ours["errors"] + base["errors"], 0),
    ]
    return figures, checks


def read_inbox(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    lists = [v for v in r["variants"] if v.get("expected_index")]
    worst = max(lists, key=lambda v: v["median_ms"])
    figures = {
        "reports": r["data"].get("reports"),
        "medians_ms": {f"{v['route']}?{v.get('query', '')}": v["median_ms"] for v in r["variants"]},
        "slowest": f"{worst['route']}?{worst.get('query', '')}",
    }
    checks = [
        below("slowest list median (ms)", worst["median_ms"], r["target_median_ms"], "ms"),
        equals("every list uses its index", r["all_use_expected_index"], True),
    ]
    return figures, checks


def read_stats(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    timings, targets = r["timings"], r["targets_ms"]
    figures = {
        "reports": (r["data"].get("generated") or {}).get("reports"),
        "medians_ms": {k: v["median_ms"] for k, v in timings.items()},
    }
    checks = [
        below(f"{timings[k]['label']} median (ms)", timings[k]["median_ms"], limit, "ms")
        for k, limit in targets.items()
        if k in timings
    ]
    if r.get("exactness") is not None:
        checks.append(equals("exact after changes", r["exactness"]["exact"], True))
    return figures, checks


def read_policy_search(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    figures = {"policies": r["policies"], "searches": r["searches"]}
    checks = []
    for run in r["runs"]:
        figures[run["database"]] = {k: run["search"][k] for k in ("median_ms", "p95_ms", "p99_ms")}
        checks.append(
            below(f"{run['database']} search p95 (ms)", run["search"]["p95_ms"], 30, "ms")
        )
    return figures, checks


def read_grid_lookup(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    figures = {
        k: r[k]
        for k in (
            "grids",
            "lookups",
            "build_s",
            "lookup_median_ms",
            "lookup_p99_ms",
            "index_rss_delta_mb",
            "brute_force_disagreements",
        )  # fmt: skip
    }
    checks = [
        below("index build (s)", r["build_s"], 5, "s"),
        below("lookup median (ms)", r["lookup_median_ms"], 0.2, "ms"),
        equals("disagreements with brute force", r["brute_force_disagreements"], 0),
    ]
    return figures, checks


def read_bookings(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    figures: dict[str, Any] = {"concurrency": r["concurrency"]}
    checks = []
    for s in r["scenarios"]:
        figures[s["scenario"]] = {
            "requests": s["requests"],
            "booked": s["booked_201"],
            "seats": s["expected_201"],
            "rps": s["requests_per_s"],
            "latency_ms": s["latency_ms"],
        }
        checks.append(equals(f"{s['scenario']}: capacity held, counters exact", s["correct"], True))
    return figures, checks


def read_mixed_load(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    figures = {
        "clients": r["clients"],
        "seconds": r["seconds"],
        "requests": r["requests"],
        "throughput_rps": r["throughput_rps"],
        "latency_ms": r["latency_ms"],
        "status_classes": r["status_classes"],
        "endpoints": {
            k: {"count": v["count"], "p50": v["latency_ms"]["p50"], "p99": v["latency_ms"]["p99"]}
            for k, v in r["endpoints"].items()
        },
        "load_average": r.get("load_average_after"),
    }
    checks = [
        equals("5xx answers", r["status_classes"].get("5xx", 0), 0),
        equals(
            "answered 201 but missing or doubled", r["cases"]["lost"] + r["cases"]["doubled"], 0
        ),
        equals("cases nobody sent", r["cases"]["unsent"], 0),
    ]
    return figures, checks


def read_memory(r: dict[str, Any]) -> tuple[dict[str, Any], list[Check]]:
    figures = {
        "grids": r["grids"],
        "rss_mb": r["rss_mb"],
        "peak_rss_mb": r["peak_rss_mb"],
        "load_average": r.get("load_average_after"),
    }
    checks = [below("peak RSS of one API process (MB)", r["peak_rss_mb"], 300, "MB")]
    return figures, checks


# ---------------------------------------------------------------- the benchmarks


@dataclass
class Benchmark:
    name: str
    database: str  # postgresql, sqlite, both, none
    module: str
    quick: list[str]
    full: list[str]
    reader: Reader
    baseline: bool = False  # its figures hold a ratio against the bare baseline

    def command(self, profile: str, out: Path) -> list[str]:
        args = self.quick if profile == "quick" else self.full
        return [sys.executable, "-m", self.module, *args, "--out", str(out)]


SQLITE_BOOKINGS = f"sqlite+aiosqlite:///{ROOT / 'var' / 'bench' / 'ejiaren_bench_bookings.db'}"

BENCHMARKS: list[Benchmark] = [
    Benchmark(
        "submit", "postgresql", "bench.submit",
        ["--clients", "32", "--requests", "300", "--seconds", "15", "--warmup", "50",
         "--rounds", "1", "--residents", "50"],
        [],
        read_submit,
        baseline=True,
    ),
    Benchmark(
        "inbox-postgresql", "postgresql", "bench.inbox",
        ["--reports", "5000", "--grids", "10", "--requests", "50", "--reuse"],
        ["--reports", "1000000", "--reuse"],
        read_inbox,
    ),
    Benchmark(
        "inbox-sqlite", "sqlite", "bench.inbox",
        ["--database", "sqlite", "--reports", "5000", "--grids", "10", "--requests", "50",
         "--reuse"],
        ["--database", "sqlite", "--reports", "1000000", "--reuse"],
        read_inbox,
    ),
    # The million cases of the inbox benchmark serve the figures too (same
    # generator, seed and grids); generating them twice would take an hour more.
    Benchmark(
        "stats", "postgresql", "bench.stats",
        ["--reports", "5000", "--grids", "10", "--runs", "3",
         "--database", "ejiaren_bench_stats_quick"],
        ["--reports", "1000000", "--grids", "2000", "--runs", "5",
         "--database", "ejiaren_bench_1m"],
        read_stats,
    ),
    Benchmark(
        "policy_search", "both", "bench.policy_search",
        ["--policies", "300", "--searches", "200"],
        ["--policies", "10000", "--searches", "2000"],
        read_policy_search,
    ),
    Benchmark(
        "grid_lookup", "none", "bench.grid_lookup",
        ["--grids", "2000", "--lookups", "10000"],
        ["--grids", "20000", "--lookups", "100000"],
        read_grid_lookup,
    ),
    Benchmark(
        "bookings-postgresql", "postgresql", "bench.bookings",
        ["--hot-bookers", "100", "--hot-capacity", "10", "--spread-bookers", "200",
         "--slots", "10", "--capacity", "20", "--concurrency", "20"],
        [],
        read_bookings,
    ),
    Benchmark(
        "bookings-sqlite", "sqlite", "bench.bookings",
        ["--database-url", SQLITE_BOOKINGS, "--hot-bookers", "100", "--hot-capacity", "10",
         "--spread-bookers", "200", "--slots", "10", "--capacity", "20", "--concurrency", "20"],
        ["--database-url", SQLITE_BOOKINGS],
        read_bookings,
    ),
    Benchmark(
        "mixed_load", "postgresql", "bench.mixed_load",
        ["--seconds", "30", "--clients", "64", "--preseed", "60"],
        ["--seconds", "300", "--clients", "64", "--preseed", "400"],
        read_mixed_load,
    ),
    Benchmark(
        "memory", "postgresql", "bench.memory",
        ["--grids", "2000", "--locates", "1000", "--mixed-seconds", "10"],
        ["--grids", "20000", "--locates", "5000", "--mixed-seconds", "30"],
        read_memory,
    ),
]  # fmt: skip


def select(names: str | None, benchmarks: list[Benchmark] = BENCHMARKS) -> list[Benchmark]:
    """``--only`` names: a full name (``inbox-sqlite``) or a family (``inbox``)."""
    if not names:
        return list(benchmarks)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    chosen = [
        b for b in benchmarks if any(b.name == w or b.name.split("-")[0] == w for w in wanted)
    ]
    unknown = [
        w for w in wanted if not any(b.name == w or b.name.split("-")[0] == w for b in benchmarks)
    ]
    if unknown:
        raise ValueError(f"unknown benchmark(s): {', '.join(unknown)}")
    return chosen


# ---------------------------------------------------------------- running


def run_one(
    bench: Benchmark, profile: str, run_dir: Path, *, timeout: float | None
) -> dict[str, Any]:
    """Run one benchmark script; return its entry for the suite's result."""
    out = run_dir / bench.name
    out.mkdir(parents=True, exist_ok=True)
    command = bench.command(profile, out)
    log = out / "output.log"
    entry: dict[str, Any] = {
        "name": bench.name,
        "database": bench.database,
        "command": " ".join(command[1:]).replace(str(out), "<out>"),
        "load_average_before": load_average(),
    }
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Only the process group this run started.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                process.wait()
            code = None
    entry["seconds"] = round(time.monotonic() - started, 1)
    entry["exit_code"] = code
    entry["load_average_after"] = load_average()
    entry["log"] = str(log.relative_to(ROOT)) if log.is_relative_to(ROOT) else str(log)
    results = sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime)
    return collect(entry, bench, results[-1] if results else None, log)


def collect(
    entry: dict[str, Any], bench: Benchmark, result_path: Path | None, log: Path | None = None
) -> dict[str, Any]:
    """Read a script's result into its entry. No result (or one that cannot be
    read) is a crash; a result with a missed target is not."""
    if result_path is None:
        reason = "timed out" if entry.get("exit_code") is None else "no result written"
        return {**entry, "status": "crashed", "error": f"{reason}: {tail(log)}"}
    try:
        raw = json.loads(result_path.read_text())
        figures, checks = bench.reader(raw)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {**entry, "status": "crashed", "error": f"unreadable result: {exc!r}"}
    met = [c["met"] for c in checks if c["met"] is not None]
    return {
        **entry,
        "status": "passed" if all(met) else "failed",
        "result_file": str(result_path),
        "figures": figures,
        "checks": checks,
    }


def tail(log: Path | None, lines: int = 8) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").strip().splitlines()
    return " | ".join(line.strip() for line in text[-lines:])[-800:]


# ---------------------------------------------------------------- the machine


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or None


def memory_gb() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"') + f" ({platform.release()})"
    return platform.platform()


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def postgres_version() -> str | None:
    import asyncio

    import asyncpg

    async def ask() -> str:
        conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres", timeout=5)
        try:
            return str(await conn.fetchval("SELECT version()"))
        finally:
            await conn.close()

    try:
        return asyncio.run(ask())
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None


def machine() -> dict[str, Any]:
    import sqlite3

    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "memory_gb": memory_gb(),
        "os": os_name(),
        "python": platform.python_version(),
        "packages": package_versions(),
        "databases": {"postgresql": postgres_version(), "sqlite": sqlite3.sqlite_version},
        "load_average": load_average(),
    }


# ---------------------------------------------------------------- the run's file


def result_path(profile: str, day: date, results: Path = RESULTS) -> Path:
    suffix = "" if profile == "full" else f"-{profile}"
    return results / f"{day.isoformat()}{suffix}.json"


def merge(previous: dict[str, Any] | None, run: dict[str, Any]) -> dict[str, Any]:
    """A run of some benchmarks replaces their entries in the day's file and
    keeps the others, so the file always describes every benchmark run that day."""
    if not previous:
        return run
    names = {b["name"] for b in run["benchmarks"]}
    kept = [b for b in previous.get("benchmarks", []) if b["name"] not in names]
    order = {b.name: i for i, b in enumerate(BENCHMARKS)}
    merged = sorted(kept + run["benchmarks"], key=lambda b: order.get(b["name"], len(order)))
    return {**run, "benchmarks": merged}


def write(run: dict[str, Any], path: Path) -> dict[str, Any]:
    previous = None
    if path.exists():
        with contextlib.suppress(ValueError):
            previous = json.loads(path.read_text())
    merged = merge(previous, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=2, ensure_ascii=False, default=str) + "\n")
    return merged


# ---------------------------------------------------------------- the table


def fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "—" if value is None else str(value)


MARK = {True: "✓", False: "✗", None: "—"}


def rows(run: dict[str, Any]) -> list[list[str]]:
    """One row per check: benchmark, database, measure, value, target, met, load."""
    out = []
    for b in run["benchmarks"]:
        load = b.get("load_average_after") or [None]
        if b["status"] == "crashed":
            out.append([b["name"], b["database"], "crashed", b.get("error", "")[:80], "", "✗", ""])
            continue
        for i, c in enumerate(b["checks"]):
            out.append(
                [
                    b["name"] if i == 0 else "",
                    b["database"] if i == 0 else "",
                    c["measure"],
                    fmt(c["value"]),
                    c["target"],
                    MARK[c["met"]],
                    fmt(load[0]) if i == 0 else "",
                ]
            )
    return out


HEADERS = ["benchmark", "database", "measure", "value", "target", "met", "load 1m"]


def rich_table(run: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title=f"benchmarks — {run['profile']} profile, {run['date']}")
    for h in HEADERS:
        table.add_column(h, justify="right" if h in ("value", "load 1m") else "left")
    for row in rows(run):
        table.add_row(*row)
    return table


def markdown(run: dict[str, Any], source: str) -> str:
    m = run["machine"]
    lines = [
        f"**{run['profile'].capitalize()} profile, {run['date']}** (`{source}`): "
        f"{m['cpus']} × {m.get('cpu_model') or 'CPU'}, {m.get('memory_gb')} GB, "
        f"{m.get('os')}, Python {m['python']}, "
        f"PostgreSQL {short_pg(m['databases'].get('postgresql'))}, "
        f"SQLite {m['databases'].get('sqlite')}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    for row in rows(run):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines)


def short_pg(version: str | None) -> str:
    if not version:
        return "—"
    found = re.match(r"PostgreSQL (\S+)", version)
    return found.group(1) if found else version


def refresh_readme(results: Path = RESULTS, readme: Path = README) -> bool:
    """Put the latest full and quick runs between the markers of the README."""
    text = readme.read_text()
    if START not in text or END not in text:
        return False
    parts = []
    for profile, pattern in (
        ("full", r"\d{4}-\d{2}-\d{2}\.json"),
        ("quick", r"\d{4}-\d{2}-\d{2}-quick\.json"),
    ):
        files = sorted(p for p in results.glob("*.json") if re.fullmatch(pattern, p.name))
        if not files:
            continue
        run = json.loads(files[-1].read_text())
        heading = (
            "Full profile: the sizes the issues name"
            if profile == "full"
            else (
                "Quick profile: small data, to check that the command works; "
                "its figures are not comparable with the targets"
            )
        )
        source = (
            files[-1].relative_to(readme.parent)
            if files[-1].is_relative_to(readme.parent)
            else files[-1]
        )
        parts.append(f"#### {heading}\n\n{markdown(run, str(source))}")
    if not parts:
        return False
    body = "\n\n".join(parts)
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    readme.write_text(f"{before}{START}\n{body}\n{END}{after}")
    return True


@dataclass
class Suite:
    profile: str
    benchmarks: list[Benchmark]
    timeout: float | None
    run_dir: Path = field(default_factory=lambda: RUNS / time.strftime("%Y%m%d-%H%M%S"))

    def run(self, on_done: Callable[[dict[str, Any]], None] = lambda _: None) -> dict[str, Any]:
        entries = []
        # Data kept between runs (SQLite files, generated databases' files) lives here.
        (ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
        for bench in self.benchmarks:
            entry = run_one(bench, self.profile, self.run_dir, timeout=self.timeout)
            entries.append(entry)
            on_done(entry)
        return {
            "date": date.today().isoformat(),
            "profile": self.profile,
            "machine": machine(),
            "settings": {
                "profile": self.profile,
                "timeout_per_benchmark_s": self.timeout,
                "run_dir": str(self.run_dir),
            },
            "benchmarks": entries,
        }
