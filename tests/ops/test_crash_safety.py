"""Crash safety: the service runs as a real process on PostgreSQL while
residents submit cases concurrently with Idempotency-Keys; it is killed with
SIGKILL mid-load and started again, and the clients retry until answered. Then
every case answered 201 exists exactly once, no case exists that no client
sent, and each key gave one case whatever number of attempts it took.

Then two ``ejiaren worker`` processes run at once on the same database: every
case's ``report.created`` webhook reaches a local receiver exactly once (one
delivery id per case, signature valid), and the sweep reminds each overdue
case exactly once — no piece of work is done twice."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.core.migrations import upgrade_async
from app.core.settings import Settings
from tests.factories import auth, make_staff, make_tree, make_user

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 12
CASES_PER_CLIENT = 6
IN_GRID = {"lat": 35.005, "lng": 112.905, "coord": "wgs84"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-proxy-headers",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as c:
            for _ in range(300):
                try:
                    if (await c.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
                await asyncio.sleep(0.1)
        raise AssertionError("the service did not become ready:\n" + self.log.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Receiver:
    """A webhook receiver on loopback that checks signatures and records deliveries."""

    def __init__(self) -> None:
        self.secret = ""
        self.deliveries: list[tuple[str, dict[str, Any]]] = []
        self.bad_signatures = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                expected = hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
                if self.headers.get("X-Ejiaren-Signature") != f"sha256={expected}":
                    receiver.bad_signatures += 1
                receiver.deliveries.append(
                    (self.headers.get("X-Ejiaren-Delivery", ""), json.loads(body))
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Outcome:
    answered: dict[str, int] = field(default_factory=dict)  # key → report id from the 201
    attempts: int = 0
    transport_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


async def _client(
    server: Server, headers: dict[str, str], cases: list[tuple[str, str]], out: Outcome
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
        for key, text in cases:
            body = {
                "kind": "issue",
                "category": "environment",
                "description": text,
                "location": IN_GRID,
            }
            for _ in range(600):
                out.attempts += 1
                try:
                    r = await c.post(
                        "/api/v1/reports", json=body, headers={**headers, "Idempotency-Key": key}
                    )
                except httpx.TransportError:
                    out.transport_errors += 1
                    await asyncio.sleep(0.1)
                    continue
                out.statuses[r.status_code] = out.statuses.get(r.status_code, 0) + 1
                if r.status_code == 201:
                    out.answered[key] = r.json()["id"]
                    break
                # In flight (the first attempt died holding the key) or the
                # service is starting: wait as told and try again.
                assert r.status_code in (409, 503), r.text
                await asyncio.sleep(min(float(r.headers.get("Retry-After", "1")), 0.5))
            else:
                raise AssertionError(f"no answer for {key}")


async def test_sigkill_mid_load_loses_and_duplicates_nothing(
    fresh_database: URL, tmp_path: Path
) -> None:
    url = fresh_database.render_as_string(hide_password=False)
    await upgrade_async(url)
    settings = Settings(env="test", database_url=url)
    engine = create_async_engine(url)
    async with async_sessionmaker(engine, expire_on_commit=False)() as s:
        tree = await make_tree(s)
        await make_staff(s, "grid_worker", tree.grid, name="王网格")
        admin = await make_staff(s, "superadmin", tree.district, name="管理员")
        residents = [await make_user(s, name=f"居民{i}") for i in range(CLIENTS)]
        await s.commit()
    port = _free_port()
    server = Server(
        url=f"http://127.0.0.1:{port}",
        env={
            **os.environ,
            "EJIAREN_ENV": "test",
            "EJIAREN_DATABASE_URL": url,
            "EJIAREN_RUN_BACKGROUND": "false",
            "EJIAREN_RATE_LIMIT_REPORTS": "10000/minute",
            "EJIAREN_IDEMPOTENCY_LEASE_SECONDS": "2",
            "EJIAREN_MEDIA_DIR": str(tmp_path / "media"),
            "EJIAREN_LOG_LEVEL": "WARNING",
        },
        port=port,
        log=tmp_path / "server.log",
    )
    out = Outcome()
    sent: dict[str, str] = {}
    work = []
    for i, user in enumerate(residents):
        cases = [
            (f"crash-{i}-{j}-{uuid.uuid4().hex[:6]}", f"第{i}号居民反映的第{j}个问题，请处理")
            for j in range(CASES_PER_CLIENT)
        ]
        sent.update(cases)
        work.append((auth(settings, user), cases))
    receiver = Receiver()
    try:
        server.start()
        await server.ready()
        async with httpx.AsyncClient(base_url=server.url, headers=auth(settings, admin)) as c:
            r = await c.post(
                "/api/v1/admin/api-clients",
                json={
                    "name": "12345 平台",
                    "scopes": ["reports:read"],
                    "region_id": tree.district.id,
                },
            )
            assert r.status_code == 201, r.text
            r = await c.post(
                f"/api/v1/admin/api-clients/{r.json()['id']}/webhooks",
                json={"url": receiver.url, "events": ["report.created"]},
            )
            assert r.status_code == 201, r.text
            receiver.secret = r.json()["secret"]
        tasks = [asyncio.create_task(_client(server, h, cases, out)) for h, cases in work]
        # Kill it once some cases are in and many more are on their way.
        while len(out.answered) < len(sent) // 4:  # noqa: ASYNC110 (polls a counter)
            await asyncio.sleep(0.01)
        server.kill()
        killed_at = len(out.answered)
        await asyncio.sleep(0.3)
        server.start()
        await server.ready()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=180)
        server.stop()

        # Every case is past its response deadline: the sweep will remind each.
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute("UPDATE report SET response_due_at = now() - interval '1 minute'")
        finally:
            await conn.close()
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "app.cli",
                "worker",
                "--once",
                cwd=ROOT,
                env=server.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        for w in workers:
            output, _ = await asyncio.wait_for(w.communicate(), timeout=120)
            assert w.returncode == 0, output.decode(errors="replace")[-3000:]
    finally:
        server.stop()
        receiver.close()

    assert killed_at < len(sent), "the kill came after the load was over"
    assert out.transport_errors > 0, "no request was cut by the kill"
    assert set(out.answered) == set(sent)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        rows = await conn.fetch("SELECT id, description FROM report ORDER BY id")
        keys = await conn.fetch("SELECT key, state, response FROM idempotency_record")
        reminders = await conn.fetch(
            "SELECT report_id, count(*) AS n FROM report_event WHERE type = 'reminded'"
            " GROUP BY report_id"
        )
        hooks = await conn.fetch(
            "SELECT status, count(*) AS n FROM outbox_message WHERE kind = 'webhook' GROUP BY status"
        )
    finally:
        await conn.close()
        await engine.dispose()
    by_text: dict[str, list[int]] = {}
    for row in rows:
        by_text.setdefault(row["description"], []).append(row["id"])
    # Exactly one case per key sent, and none that nobody sent.
    assert sorted(by_text) == sorted(sent.values())
    assert all(len(ids) == 1 for ids in by_text.values()), by_text
    # Every 201 names the case made for its key.
    for key, rid in out.answered.items():
        assert by_text[sent[key]] == [rid]
    assert {k["key"] for k in keys} == set(sent)
    assert all(k["state"] == "done" for k in keys)
    # The two workers: each case reminded once, each webhook delivered once.
    assert {r["report_id"]: r["n"] for r in reminders} == {row["id"]: 1 for row in rows}
    assert {h["status"]: h["n"] for h in hooks} == {"sent": len(rows)}
    delivery_ids = [d for d, _ in receiver.deliveries]
    assert len(delivery_ids) == len(set(delivery_ids)) == len(rows)
    assert sorted(body["data"]["report"]["id"] for _, body in receiver.deliveries) == [
        r["id"] for r in rows
    ]
    assert {body["event"] for _, body in receiver.deliveries} == {"report.created"}
    assert receiver.bad_signatures == 0
    report: dict[str, Any] = {
        "starts": server.starts,
        "attempts": out.attempts,
        "statuses": out.statuses,
        "cut": out.transport_errors,
    }
    print("crash test:", report)
