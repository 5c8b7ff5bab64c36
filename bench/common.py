"""What the benchmarks share: the machine's description, bench databases on the
local PostgreSQL, servers in subprocesses, percentiles and result files.

Everything here talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
PG = "postgres@127.0.0.1:5432"
PG_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "synchronous_commit",
    "fsync",
    "max_connections",
    "effective_cache_size",
    "jit",
)


def asyncpg_dsn(database: str) -> str:
    return f"postgresql://{PG}/{database}"


def sqlalchemy_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG}/{database}"


def _check_name(database: str) -> None:
    # Test harnesses drop and recreate databases named ejiaren_test*; never touch theirs.
    if not database.startswith("ejiaren_bench"):
        raise ValueError(f"bench databases are named ejiaren_bench*, not {database!r}")


async def recreate_database(database: str) -> None:
    """Drop ``database`` (closing its connections) and create it empty."""
    import asyncpg

    _check_name(database)
    conn = await asyncpg.connect(asyncpg_dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


async def database_exists(database: str) -> bool:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn("postgres"))
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database))
    finally:
        await conn.close()


async def postgres_facts(database: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        version = await conn.fetchval("SHOW server_version")
        rows = await conn.fetch(
            "SELECT name, current_setting(name) AS value FROM pg_settings"
            " WHERE name = ANY($1::text[])",
            list(PG_SETTINGS),
        )
    finally:
        await conn.close()
    return {"version": version, "settings": {r["name"]: r["value"] for r in rows}}


def _memory_gb() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """The machine and software a result was measured on. The load average is
    there because the machine is shared: other work shows up in the tails."""
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpus": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "packages": {
            p: _version(p)
            for p in ("fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg", "pydantic")
        },
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentiles(values_ms: list[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(values_ms)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1], 3),
        "mean": round(sum(ordered) / len(ordered), 3),
    }


def write_result(name: str, result: dict[str, Any], out: Path = RESULTS) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{date.today().isoformat()}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- CPU accounting

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def postgres_backend_cpu(database: str) -> float:
    """CPU time used so far by the PostgreSQL backends connected to ``database``.

    Backends are found by their process title (``postgres: … <user> <database> …``),
    so the backends of other databases on the same server do not count."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres:") and f" {database} " in title:
            total += process_cpu_seconds(int(entry.name))
    return total


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    """One uvicorn process serving ``app`` on 127.0.0.1."""

    name: str
    app: str
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    factory: bool = False
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, log_dir: Path) -> None:
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name}.log"
        command = [
            sys.executable, "-m", "uvicorn", self.app, "--host", HOST, "--port", str(self.port),
            "--workers", "1", "--loop", "uvloop", "--http", "httptools",
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        if self.factory:
            command.append("--factory")
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.base_url + path, timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout} s: see {self.log_path}")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid) if self.process else 0.0

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Only the process this object started (it leads its own session).
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
