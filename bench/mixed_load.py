"""Mixed load on a real server: no 5xx, and no case lost or made up.

The service runs as one uvicorn process on PostgreSQL (``ejiaren_bench_mixed``,
dropped and created, migrated, seeded with the demo street, residents and a
few hundred published policies). The load generator (``bench/loadgen.py``)
runs in its own process on loopback with ``--clients`` connections in a
closed loop for ``--seconds``, sending a mix of what people do:

- residents submit reports (each with its own ``Idempotency-Key``), read
  their list and the detail of their cases;
- grid workers read their inbox, accept the cases dispatched to them and,
  a few hundred requests later, resolve them;
- admins read the district's figures;
- anyone searches the policies.

Before the measured phase, ``--preseed`` reports are submitted the same way,
so that workers have cases to accept and residents cases to read.

Afterwards the database is checked against every answer: each submission
answered 201 must exist exactly once with the id it was given, and no report
may exist that no client sent (each description carries a number only its
request knows). Target: zero 5xx and no lost case.

    python -m bench.mixed_load --clients 64 --seconds 300

Prints a table and writes ``bench/results/mixed_load-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from bench.common import (  # noqa: E402
    HOST,
    Server,
    asyncpg_dsn,
    load_average,
    machine,
    percentiles,
    postgres_facts,
    recreate_database,
    sqlalchemy_url,
    write_result,
)
from bench.submit import report_requests, server_env  # noqa: E402

DATABASE = "ejiaren_bench_mixed"
API = "/api/v1"
# Share of each kind of request in the measured phase.
MIX = {
    "submit": 0.20,
    "mine": 0.15,
    "detail": 0.15,
    "inbox": 0.14,
    "work": 0.12,  # accept, then resolve a few hundred requests later
    "stats": 0.06,
    "policies": 0.18,
}
RESOLVE_AFTER = 300  # requests between a case's accept and its resolve
POLICY_QUERIES = [
    "医保报销", "低保怎么申请", "高龄津贴", "养老认证", "临时救助", "残疾人两项补贴",
    "医疗保险", "最低生活保障", "补贴", "办理",
]  # fmt: skip
_MARK = re.compile(r"〔(mx-[0-9a-f]{12})〕")


@dataclass
class World:
    settings_url: str
    residents: dict[int, str]  # user id → token
    workers: dict[int, str]  # every staff member who may hold a case → token
    admin: str


async def prepare(database: str, residents: int, policies: int, console: Console) -> World:
    """A fresh database: the demo street, ``residents`` residents (with an openid,
    so content security checks their texts) and ``policies`` published policies."""
    from sqlalchemy import select

    from app.core.db import Database
    from app.core.migrations import upgrade_async
    from app.core.security import issue_token
    from app.core.settings import Settings
    from app.demo import seed
    from app.users.models import Membership, User
    from app.wechat.fake import openid_for
    from bench.policy_search import fill, generate

    await recreate_database(database)
    url = sqlalchemy_url(database)
    await upgrade_async(url)
    settings = Settings(env="test", database_url=url, run_background=False, _env_file=None)  # type: ignore[call-arg]
    db = Database(settings)
    try:
        async with db.session(write=True) as session:
            await seed(session)
            users = [
                User(
                    kind="resident",
                    openid=openid_for(f"bench-mixed-{i}"),
                    nickname=f"压测居民{i}",
                )
                for i in range(residents)
            ]
            session.add_all(users)
            await session.flush()
            resident_ids = [u.id for u in users]
            staff = (
                await session.execute(
                    select(User.id, User.token_version, Membership.role)
                    .join(Membership, Membership.user_id == User.id)
                    .where(User.kind == "staff")
                )
            ).all()
            await session.commit()
        console.print(f"  {policies} policies …")
        await fill(db, generate(policies, 20261123), console)
    finally:
        await db.dispose()

    def token(user_id: int, version: int = 0) -> str:
        return issue_token(settings, user_id=user_id, version=version, type="access")

    admin = next(uid for uid, _, role in staff if role == "superadmin")
    return World(
        settings_url=url,
        residents={i: token(i) for i in resident_ids},
        workers={uid: token(uid, v) for uid, v, role in staff if role != "superadmin"},
        admin=token(admin),
    )


def submissions(n: int, world: World, rng: random.Random) -> list[tuple[int, dict[str, Any]]]:
    """``n`` report submissions as (resident id, request); each description
    carries a mark that only its request knows."""
    ids = list(world.residents)
    tokens = [world.residents[i] for i in ids]
    requests = report_requests(n, tokens, rng)
    out = []
    for i, request in enumerate(requests):
        body = json.loads(request["body"])
        body["description"] = f"{body['description']}〔mx-{uuid.uuid4().hex[:12]}〕"
        request["body"] = json.dumps(body, ensure_ascii=False)
        request["keep_body"] = True
        out.append((ids[i % len(ids)], request))
    return out


def get(path: str, token: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return {"method": "GET", "path": path, "headers": headers, "body": ""}


def post(path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = json.dumps(body, ensure_ascii=False) if body is not None else ""
    return {
        "method": "POST",
        "path": path,
        "headers": {"Authorization": f"Bearer {token}"},
        "body": payload,
    }


def mixed_requests(
    n: int,
    world: World,
    cases: list[dict[str, Any]],
    rng: random.Random,
) -> list[tuple[str, dict[str, Any]]]:
    """``n`` (label, request) in the order the clients will take them.

    ``cases`` are dispatched reports (id, reporter, assignee) from the preseed."""
    from urllib.parse import quote

    kinds, weights = zip(*MIX.items(), strict=True)

    def more() -> Iterator[tuple[int, dict[str, Any]]]:
        while True:  # the mix is random: make submissions as they are drawn
            yield from submissions(max(50, int(n * MIX["submit"] / 4)), world, rng)

    new = more()
    to_accept = [c for c in cases if c["assignee_id"] in world.workers]
    rng.shuffle(to_accept)
    resolves: list[tuple[int, dict[str, Any]]] = []  # (due position, case)
    by_reporter: dict[int, list[int]] = defaultdict(list)
    for c in cases:
        by_reporter[c["reporter_id"]].append(c["id"])
    readers = [r for r in world.residents if by_reporter.get(r)] or list(world.residents)
    workers = sorted({c["assignee_id"] for c in to_accept}) or list(world.workers)
    out: list[tuple[str, dict[str, Any]]] = []
    for position in range(n):
        kind = rng.choices(kinds, weights)[0]
        if kind == "work":
            if resolves and resolves[0][0] <= position:
                _, case = resolves.pop(0)
                token = world.workers[case["assignee_id"]]
                body = {"note": "已到现场处理完毕（压测）"}
                out.append(("resolve", post(f"{API}/reports/{case['id']}/resolve", token, body)))
                continue
            if to_accept:
                case = to_accept.pop()
                token = world.workers[case["assignee_id"]]
                out.append(("accept", post(f"{API}/reports/{case['id']}/accept", token)))
                resolves.append((position + RESOLVE_AFTER, case))
                continue
            kind = "inbox"
        if kind == "submit":
            _, request = next(new)
            out.append(("submit", request))
        elif kind == "mine":
            resident = rng.choice(readers)
            out.append(("mine", get(f"{API}/reports/mine", world.residents[resident])))
        elif kind == "detail":
            resident = rng.choice(readers)
            report_id = rng.choice(by_reporter[resident]) if by_reporter.get(resident) else 1
            out.append(("detail", get(f"{API}/reports/{report_id}", world.residents[resident])))
        elif kind == "inbox":
            worker = rng.choice(workers)
            out.append(("inbox", get(f"{API}/worker/tasks", world.workers[worker])))
        elif kind == "stats":
            out.append(("stats", get(f"{API}/stats/summary", world.admin)))
        else:
            q = quote(rng.choice(POLICY_QUERIES))
            out.append(("policies", get(f"{API}/policies?q={q}", None)))
    return out


def run_generator(
    server: Server, requests: list[dict[str, Any]], clients: int, seconds: float, work_dir: Path
) -> dict[str, Any]:
    spec = {
        "host": HOST,
        "port": server.port,
        "concurrency": clients,
        "max_seconds": seconds,
        "warmup": [],
        "requests": requests,
        "outcomes": True,
    }
    spec_path = work_dir / f"spec-{uuid.uuid4().hex[:6]}.json"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False))
    generator = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", str(spec_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        timeout=seconds * 3 + 180,
        check=True,
    )
    spec_path.unlink()
    return json.loads(generator.stdout)["measured"]


def sent_marks(requests: list[dict[str, Any]]) -> dict[int, str]:
    """Request index → the mark in its description, for submissions."""
    marks = {}
    for i, request in enumerate(requests):
        if request["method"] == "POST" and request["path"] == f"{API}/reports":
            found = _MARK.search(json.loads(request["body"])["description"])
            assert found
            marks[i] = found.group(1)
    return marks


async def dispatched_cases(database: str) -> list[dict[str, Any]]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        rows = await conn.fetch(
            "SELECT id, reporter_id, assignee_id FROM report"
            " WHERE status = 'dispatched' AND assignee_id IS NOT NULL ORDER BY id"
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def stored_reports(database: str) -> list[tuple[int, str]]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(database))
    try:
        rows = await conn.fetch("SELECT id, description FROM report")
    finally:
        await conn.close()
    return [(r["id"], r["description"] or "") for r in rows]


def audit_cases(
    answered: dict[str, int],  # mark → id answered with 201
    sent: set[str],
    stored: list[tuple[int, str]],
) -> dict[str, Any]:
    """Compare the 201 answers with what the database holds.

    lost: answered 201 but not stored under that id; doubled: a mark stored
    more than once; unsent: a stored report whose mark no request carried."""
    by_mark: dict[str, list[int]] = defaultdict(list)
    unmarked = 0
    for report_id, description in stored:
        found = _MARK.search(description)
        if found:
            by_mark[found.group(1)].append(report_id)
        else:
            unmarked += 1
    lost = [m for m, i in answered.items() if by_mark.get(m) != [i]]
    doubled = [m for m, ids in by_mark.items() if len(ids) > 1]
    unsent = [m for m in by_mark if m not in sent] + [None] * unmarked
    stored_without_201 = [m for m in by_mark if m in sent and m not in answered]
    return {
        "answered_201": len(answered),
        "stored": len(stored),
        "lost": len(lost),
        "doubled": len(doubled),
        "unsent": len(unsent),
        "stored_without_201": len(stored_without_201),
        "lost_sample": lost[:5],
    }


def summarise(
    labels: list[str], measured: dict[str, Any]
) -> tuple[dict[str, Any], Counter[str], list[dict[str, Any]]]:
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {"statuses": Counter(), "lat": []})
    classes: Counter[str] = Counter()
    errors: list[dict[str, Any]] = []
    for index, status, latency, body in measured["outcomes"]:
        entry = per[labels[index]]
        entry["statuses"][str(status)] += 1
        entry["lat"].append(latency)
        classes[f"{status // 100}xx" if status else "no answer"] += 1
        if (status >= 500 or status == 0) and len(errors) < 10:
            errors.append({"endpoint": labels[index], "status": status, "body": (body or "")[:300]})
    endpoints = {
        label: {
            "count": len(v["lat"]),
            "statuses": dict(sorted(v["statuses"].items())),
            "latency_ms": percentiles(v["lat"]),
        }
        for label, v in sorted(per.items())
    }
    return endpoints, classes, errors


def answered_201(
    requests: list[dict[str, Any]], outcomes: list[list[Any]], marks: dict[int, str]
) -> dict[str, int]:
    out = {}
    for index, status, _, body in outcomes:
        if status == 201 and index in marks:
            out[marks[index]] = int(json.loads(body)["id"])
    return out


def report(result: dict[str, Any], console: Console) -> None:
    table = Table(
        title=f"mixed load — {result['clients']} clients, {result['seconds']} s, "
        f"{result['throughput_rps']} req/s (load {result['load_average_after'][0]})"
    )
    for column in ("endpoint", "count", "statuses", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="left" if column in ("endpoint", "statuses") else "right")
    for label, e in result["endpoints"].items():
        lat = e["latency_ms"]
        table.add_row(
            label,
            str(e["count"]),
            ", ".join(f"{k}: {v}" for k, v in e["statuses"].items()),
            f"{lat['p50']:.0f}",
            f"{lat['p95']:.0f}",
            f"{lat['p99']:.0f}",
        )
    console.print(table)
    c = result["cases"]
    console.print(
        f"status classes: {result['status_classes']}; cases: {c['answered_201']} answered 201, "
        f"{c['stored']} stored, {c['lost']} lost, {c['doubled']} doubled, {c['unsent']} unsent, "
        f"{c['stored_without_201']} stored without a 201 seen"
    )
    console.print(f"targets met: {result['met']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--preseed", type=int, default=400, help="reports submitted beforehand")
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--policies", type=int, default=300)
    # One process takes all the clients' requests at once: with fewer connections
    # than requests in flight, the slowest wait out EJIAREN_DB_POOL_TIMEOUT
    # (503 service.busy). Size the pool to the concurrency, as docs/deploy.md says.
    parser.add_argument("--pool-size", type=int, default=20, help="EJIAREN_DB_POOL_SIZE")
    parser.add_argument("--max-overflow", type=int, default=50, help="EJIAREN_DB_MAX_OVERFLOW")
    parser.add_argument(
        "--pool-timeout", type=float, help="EJIAREN_DB_POOL_TIMEOUT (default: the app's)"
    )
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    console = Console(width=max(Console().width, 120))
    rng = random.Random(args.seed)
    console.print(f"preparing {DATABASE} …")
    world = asyncio.run(prepare(DATABASE, args.residents, args.policies, console))
    work_dir = Path(tempfile.mkdtemp(prefix="ejiaren-bench-"))
    server = Server(
        "ejiaren",
        "app.main:app",
        server_env(
            world.settings_url,
            work_dir / "media",
            pool_size=args.pool_size,
            max_overflow=args.max_overflow,
            redis_url=None,
        ),
    )
    if args.pool_timeout is not None:
        server.env["EJIAREN_DB_POOL_TIMEOUT"] = str(args.pool_timeout)
    # Enough requests that the time limit, not the list, ends the run.
    n = int(max(2000, args.seconds * 150))
    try:
        server.start(work_dir)
        server.wait_ready()
        console.print(f"preseed: {args.preseed} submissions …")
        pre = [r for _, r in submissions(args.preseed, world, rng)]
        pre_measured = run_generator(server, pre, min(16, args.clients), 600, work_dir)
        cases = asyncio.run(dispatched_cases(DATABASE))
        labelled = mixed_requests(n, world, cases, rng)
        labels = [label for label, _ in labelled]
        requests = [r for _, r in labelled]
        console.print(f"mixed load: {args.clients} clients for {args.seconds:g} s …")
        load_before = load_average()
        cpu_before = server.cpu_seconds()
        measured = run_generator(server, requests, args.clients, args.seconds, work_dir)
        server_cpu = server.cpu_seconds() - cpu_before
        load_after = load_average()
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace") if server.log_path else ""
    # The exception line of each traceback in the server's log, counted.
    server_errors = Counter(
        line.strip()[:300]
        for line in log.splitlines()
        if re.match(r"^[\w.]+(Error|Exception|Timeout)\b", line.strip())
    )

    pre_marks, marks = sent_marks(pre), sent_marks(requests)
    answered = answered_201(pre, pre_measured["outcomes"], pre_marks)
    answered |= answered_201(requests, measured["outcomes"], marks)
    # A request the time limit left unsent carries a mark nobody sent.
    sent_indexes = {o[0] for o in measured["outcomes"]}
    sent = set(pre_marks.values()) | {m for i, m in marks.items() if i in sent_indexes}
    cases_check = audit_cases(answered, sent, asyncio.run(stored_reports(DATABASE)))
    endpoints, classes, errors = summarise(labels, measured)
    pre_classes = Counter(
        f"{s // 100}xx" if s else "no answer" for _, s, _, _ in pre_measured["outcomes"]
    )
    latencies = [o[2] for o in measured["outcomes"]]
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "postgres": asyncio.run(postgres_facts(DATABASE)),
        "clients": args.clients,
        "seconds": args.seconds,
        "mix": MIX,
        "preseed": {"requests": len(pre), "status_classes": dict(pre_classes)},
        "requests": measured["requests"],
        "elapsed_s": measured["elapsed_s"],
        "throughput_rps": measured["throughput_rps"],
        "latency_ms": percentiles(latencies),
        "status_classes": dict(sorted(classes.items())),
        "endpoints": endpoints,
        "error_samples": errors,
        "server_log_errors": dict(server_errors.most_common(20)),
        "server_cpu_s": round(server_cpu, 1),
        "cases": cases_check,
        "settings": {k: v for k, v in server.env.items() if k != "EJIAREN_MEDIA_DIR"},
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    five_xx = classes.get("5xx", 0) + pre_classes.get("5xx", 0)
    result["met"] = {
        "no_5xx": five_xx == 0,
        "no_lost_case": cases_check["lost"] == 0 and cases_check["doubled"] == 0,
        "no_unsent_case": cases_check["unsent"] == 0,
    }
    result["status_classes"]["5xx"] = five_xx
    report(result, console)
    path = write_result("mixed_load", result, args.out)
    console.print(f"written to {path}")
    shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
