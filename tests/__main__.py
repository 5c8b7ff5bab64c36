"""The whole test suite, as one command: ``python -m tests``.

Lint (ruff), types (mypy), the OpenAPI file, then pytest on SQLite and again on
PostgreSQL. Exits non-zero on the first failure, including "no tests collected".
``EJIAREN_TEST_PG_URL`` overrides the PostgreSQL test database; ``--sqlite-only``
skips PostgreSQL (for a quick local run).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

PG_URL = os.environ.get(
    "EJIAREN_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/ejiaren_test"
)


def run(title: str, cmd: list[str], env: dict[str, str] | None = None) -> None:
    started = time.monotonic()
    print(f"\n=== {title}: {' '.join(cmd)}", flush=True)
    code = subprocess.call(cmd, env={**os.environ, **(env or {})})
    print(f"=== {title}: exit {code} in {time.monotonic() - started:.0f}s", flush=True)
    if code != 0:
        sys.exit(code)


def main(argv: list[str]) -> None:
    py = sys.executable
    extra = [a for a in argv if a != "--sqlite-only"]
    run("ruff", [py, "-m", "ruff", "check", "app", "tests", "bench", "migrations"])
    run("ruff format", [py, "-m", "ruff", "format", "--check", "app", "tests", "bench"])
    run("mypy", [py, "-m", "mypy", "app"])
    run("openapi", [py, "-m", "app.cli", "openapi", "--check"])
    sqlite_env = {"EJIAREN_TEST_DATABASE_URL": ""}
    run("pytest (SQLite)", [py, "-m", "pytest", *extra], env=sqlite_env)
    if "--sqlite-only" not in argv:
        run(
            "pytest (PostgreSQL)",
            [py, "-m", "pytest", *extra],
            env={"EJIAREN_TEST_DATABASE_URL": PG_URL},
        )


if __name__ == "__main__":
    main(sys.argv[1:])
