"""The whole test suite, as one command: ``python -m tests``.

Lint (ruff), types (mypy) and the OpenAPI file first; then pytest on SQLite and
on PostgreSQL at the same time (two processes: the suite is single-threaded,
so on a machine with two or more cores this halves the wall time). Each run's
output goes to a log that is printed whole when both are done. Exits non-zero
on any failure, including "no tests collected".

``EJIAREN_TEST_PG_URL`` overrides the PostgreSQL test database; ``--sqlite-only``
skips PostgreSQL (for a quick local run); ``--serial`` runs the two one after
the other with live output. Other arguments go to pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_URL = os.environ.get(
    "EJIAREN_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/ejiaren_test"
)
OURS = ("--sqlite-only", "--serial")


def run(title: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
    started = time.monotonic()
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd, env={**os.environ, **(env or {})})
    print(f"=== {title}: exit {code} in {time.monotonic() - started:.0f}s", flush=True)
    if code != 0:
        sys.exit(code)


def run_together(runs: list[tuple[str, list[str], dict[str, str]]]) -> None:
    """Start every run, wait for all, print each log, fail if any failed."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ejiaren-tests-") as tmp:
        procs = []
        for i, (title, cmd, env) in enumerate(runs):
            log = Path(tmp) / f"{i}.log"
            print(f"\n=== {title}: {' '.join(cmd)} (started)", flush=True)
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
                )
            procs.append((title, proc, log))
        codes = []
        for title, proc, log in procs:
            code = proc.wait()
            codes.append(code)
            print(f"\n=== {title}: output", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
            print(f"=== {title}: exit {code}", flush=True)
    print(f"\n=== pytest: {time.monotonic() - started:.0f}s in all", flush=True)
    failed = [c for c in codes if c != 0]
    if failed:
        sys.exit(failed[0])


def main(argv: list[str]) -> None:
    py = sys.executable
    extra = [a for a in argv if a not in OURS]
    run("ruff", [py, "-m", "ruff", "check", "app", "tests", "bench", "migrations"])
    run("ruff format", [py, "-m", "ruff", "format", "--check", "app", "tests", "bench"])
    run("mypy", [py, "-m", "mypy", "app"])
    run("openapi", [py, "-m", "app.cli", "openapi", "--check"])
    pytest = [py, "-m", "pytest", "-p", "no:cacheprovider", *extra]
    runs = [("pytest (SQLite)", pytest, {"EJIAREN_TEST_DATABASE_URL": ""})]
    if "--sqlite-only" not in argv:
        runs.append(("pytest (PostgreSQL)", pytest, {"EJIAREN_TEST_DATABASE_URL": PG_URL}))
    if "--serial" in argv or len(runs) == 1:
        for title, cmd, env in runs:
            run(title, cmd, env)
    else:
        run_together(runs)


if __name__ == "__main__":
    main(sys.argv[1:])
