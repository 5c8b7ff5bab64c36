"""``python -m bench``: the suite runs scripts as subprocesses, records a crash
without stopping, reads results into checks, merges a day's runs and refreshes
the README between its markers. Runs a real script on a tiny profile; no
figure is compared with a time."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bench import suite


def tiny(name: str, args: list[str]) -> suite.Benchmark:
    return suite.Benchmark(name, "none", "bench.grid_lookup", args, args, suite.read_grid_lookup)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    benchmarks = [
        tiny("grid_lookup", ["--grids", "20", "--lookups", "1000"]),
        # Refused by the script's own argument check: exits without a result.
        tiny("broken", ["--grids", "0"]),
    ]
    runner = suite.Suite("quick", benchmarks, timeout=120, run_dir=tmp_path_factory.mktemp("runs"))
    return runner.run()


def test_a_benchmark_runs_as_a_subprocess_and_its_result_becomes_checks(run: dict) -> None:
    entry = run["benchmarks"][0]
    assert entry["name"] == "grid_lookup"
    assert entry["status"] in ("passed", "failed")
    assert entry["exit_code"] == 0
    assert entry["figures"]["grids"] == 20
    assert entry["figures"]["brute_force_disagreements"] == 0
    measures = [c["measure"] for c in entry["checks"]]
    assert measures == [
        "index build (s)",
        "lookup median (ms)",
        "disagreements with brute force",
    ]
    assert all(c["met"] in (True, False) and c["target"] for c in entry["checks"])
    assert Path(entry["result_file"]).name.startswith("grid_lookup-")
    assert len(entry["load_average_after"]) == 3


def test_a_crash_is_recorded_and_does_not_stop_the_others(run: dict) -> None:
    names = [e["name"] for e in run["benchmarks"]]
    assert names == ["grid_lookup", "broken"]
    broken = run["benchmarks"][1]
    assert broken["status"] == "crashed"
    assert broken["exit_code"] == 2
    assert "no result written" in broken["error"]
    assert "--grids" in broken["error"]  # the tail of its output says why


def test_the_run_describes_the_machine_and_the_profile(run: dict) -> None:
    m = run["machine"]
    assert m["cpus"] >= 1
    assert m["python"].count(".") == 2
    assert "sqlalchemy" in m["packages"]
    assert m["databases"]["sqlite"]
    assert run["profile"] == run["settings"]["profile"] == "quick"


def test_a_partial_run_replaces_only_its_entries_in_the_days_file(
    run: dict, tmp_path: Path
) -> None:
    path = suite.result_path("quick", date(2026, 1, 2), tmp_path)
    assert path.name == "2026-01-02-quick.json"
    assert suite.result_path("full", date(2026, 1, 2), tmp_path).name == "2026-01-02.json"
    suite.write(run, path)
    again = {**run, "benchmarks": [{**run["benchmarks"][1], "status": "passed", "checks": []}]}
    merged = suite.write(again, path)
    stored = json.loads(path.read_text())
    assert stored == json.loads(json.dumps(merged, default=str))
    assert [(b["name"], b["status"]) for b in stored["benchmarks"]] == [
        ("grid_lookup", run["benchmarks"][0]["status"]),
        ("broken", "passed"),
    ]


def test_the_readme_table_is_refreshed_between_its_markers(run: dict, tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "2026-01-02-quick.json").write_text(json.dumps(run, default=str))
    (results / "grid_lookup-2026-01-02.json").write_text("{}")  # a script's own file: ignored
    readme = tmp_path / "README.md"
    readme.write_text(f"# Bench\n\nbefore\n\n{suite.START}\nold table\n{suite.END}\n\nafter\n")

    assert suite.refresh_readme(results, readme)
    text = readme.read_text()
    assert text.startswith("# Bench\n\nbefore\n\n")
    assert text.endswith(f"{suite.END}\n\nafter\n")
    inside = text.split(suite.START)[1].split(suite.END)[0]
    assert "old table" not in inside
    assert "Quick profile" in inside and "Full profile" not in inside
    assert "| grid_lookup | none | index build (s) |" in inside
    assert "| broken | none | crashed |" in inside

    assert suite.refresh_readme(results, readme)
    assert readme.read_text() == text  # the same runs give the same section

    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers\n")
    assert not suite.refresh_readme(results, plain)
    assert plain.read_text() == "no markers\n"


def test_the_table_has_a_row_per_check(run: dict) -> None:
    rows = suite.rows(run)
    assert len(rows) == len(run["benchmarks"][0]["checks"]) + 1
    assert all(len(r) == len(suite.HEADERS) for r in rows)
    assert suite.rich_table(run).row_count == len(rows)


def test_submit_is_read_against_its_baseline() -> None:
    latency = {"p50": 50.0, "p95": 80.0, "p99": 150.0}
    result = {
        "clients": 32,
        "ratio": 0.3,
        "ours": {"throughput_rps": 30.0, "latency_ms": latency, "errors": 0,
                 "server_cpu_ms_per_request": 20.0},
        "baseline": {"throughput_rps": 100.0, "latency_ms": latency, "errors": 0,
                     "server_cpu_ms_per_request": 1.0},
    }  # fmt: skip
    figures, checks = suite.read_submit(result)
    assert figures["ratio_to_baseline"] == 0.3
    assert [c["met"] for c in checks] == [True, False, True]


def test_a_lost_case_or_a_5xx_fails_the_mixed_load() -> None:
    result = {
        "clients": 64, "seconds": 30, "requests": 10, "throughput_rps": 1.0,
        "latency_ms": {}, "endpoints": {}, "status_classes": {"2xx": 9, "5xx": 1},
        "cases": {"lost": 1, "doubled": 0, "unsent": 0},
    }  # fmt: skip
    _, checks = suite.read_mixed_load(result)
    assert [c["met"] for c in checks] == [False, False, True]


def test_only_selects_by_name_or_family() -> None:
    assert [b.name for b in suite.select("inbox")] == ["inbox-postgresql", "inbox-sqlite"]
    assert [b.name for b in suite.select("submit,bookings-sqlite")] == [
        "submit",
        "bookings-sqlite",
    ]
    assert suite.select(None) == suite.BENCHMARKS
    with pytest.raises(ValueError, match="nope"):
        suite.select("nope")
