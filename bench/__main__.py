"""Run every benchmark: ``python -m bench [--quick] [--only NAME[,NAME]]``.

Each benchmark runs as its own subprocess (the scripts in this directory, with
the profile's arguments); the suite collects their results into
``bench/results/<date>.json`` (``<date>-quick.json`` for the quick profile),
prints a table and refreshes the summary in bench/README.md. The exit code is
1 when a benchmark crashed; a missed target is a figure, not a failure of the
command.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from rich.console import Console

from bench import suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small data and short runs (a few minutes): checks that everything works",
    )
    parser.add_argument(
        "--only", help="comma-separated names or families, e.g. inbox,mixed_load,submit"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds one benchmark may take (default 900 quick, 6 h full)",
    )
    parser.add_argument("--results", type=Path, default=suite.RESULTS, help="where to write")
    parser.add_argument("--no-readme", action="store_true", help="leave bench/README.md alone")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    profile = "quick" if args.quick else "full"
    console = Console(width=max(Console().width, 120))
    try:
        chosen = suite.select(args.only)
    except ValueError as exc:
        parser.error(str(exc))
    if args.list:
        for b in chosen:
            console.print(
                f"{b.name:22} {b.database:11} {' '.join(b.command(profile, Path('OUT'))[1:])}"
            )
        return 0
    timeout = args.timeout or (900.0 if args.quick else 6 * 3600.0)
    runner = suite.Suite(profile, chosen, timeout)
    console.print(
        f"[bold]{len(chosen)} benchmark(s), {profile} profile[/bold]; logs in {runner.run_dir}"
    )

    def done(entry: dict) -> None:
        colour = {"passed": "green", "failed": "yellow", "crashed": "red"}[entry["status"]]
        console.print(
            f"  [{colour}]{entry['status']:7}[/{colour}] {entry['name']} "
            f"in {entry['seconds']} s (load {entry['load_average_after'][0]})"
            + (f": {entry['error']}" if entry["status"] == "crashed" else "")
        )

    run = runner.run(on_done=done)
    path = suite.result_path(profile, date.today(), args.results)
    merged = suite.write(run, path)
    console.print(suite.rich_table(merged))
    console.print(f"written to {path}")
    if not args.no_readme and suite.refresh_readme(args.results):
        console.print(f"summary refreshed in {suite.README.relative_to(suite.ROOT)}")
    crashed = [e["name"] for e in run["benchmarks"] if e["status"] == "crashed"]
    if crashed:
        console.print(f"[red]crashed: {', '.join(crashed)}[/red]")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
