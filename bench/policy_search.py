"""Benchmark of policy search (``GET /api/v1/policies?q=``) on SQLite and PostgreSQL.

Fills a fresh database with N published policies generated from the relevance
corpus (tests/policies/corpus.py) with variations, through the same service
calls the admin routes make (jieba segmentation, postings), then times
searches through the whole HTTP route in-process (validation, ranking SQL,
snippets, JSON), one request at a time. Run from the repository root:

    python -m bench.policy_search --policies 10000 --searches 2000

PostgreSQL: the database named by ``--pg-url`` (default
``ejiaren_bench_policies``) is dropped and created again. Prints a table and
writes ``bench/results/policy_search-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    # Started as ``python bench/policy_search.py``: make ``app`` importable.
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.auth.principal import Grant, Principal  # noqa: E402
from app.core.db import Database  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.settings import Settings  # noqa: E402
from app.main import create_app  # noqa: E402
from app.org.models import Region  # noqa: E402
from app.policies import service  # noqa: E402
from app.policies import text as policy_text  # noqa: E402
from app.policies.models import PolicyTerm  # noqa: E402
from app.policies.schemas import PolicyCreate  # noqa: E402
from app.users.models import Membership, User  # noqa: E402
from tests.policies.corpus import DOCS, QUERIES  # noqa: E402

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/ejiaren_bench_policies"
TARGET_P95_MS = 30.0
WARMUP = 100
BATCH = 250  # policies per committed transaction while filling

STREETS = ["太行", "怀庆", "覃怀", "沁园", "紫陵", "西向", "山王庄", "王召"]
YEARS = ["2023", "2024", "2025", "2026"]
TITLE_FORMS = [
    "{title}",
    "关于印发《{title}》的通知",
    "{year}年{title}",
    "{street}街道{title}",
    "{title}（{year}年修订）",
    "关于进一步做好{title}工作的通知",
]
# The words a resident types alone: common ones match thousands of policies,
# which is the slow case for any ranking.
SINGLE_WORDS = ["补贴", "申请", "办理", "老人", "报销", "低保", "医保", "证明", "社区", "标准"]


# ------------------------------------------------------------------ corpus


def generate(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` policies: a corpus document each, its title in another form, its
    paragraphs shuffled, a paragraph borrowed from another document, and its
    amounts changed, so terms and lengths vary as in a real collection."""
    rng = random.Random(seed)
    paragraphs = [[p for p in d.body.split("\n\n") if p.strip()] for d in DOCS]
    out = []
    for i in range(n):
        k = i % len(DOCS)
        doc = DOCS[k]
        parts = paragraphs[k][:]
        rng.shuffle(parts)
        donor = paragraphs[rng.randrange(len(DOCS))]
        parts.insert(rng.randrange(len(parts) + 1), rng.choice(donor))
        body = re.sub(
            r"\d+", lambda m: str(max(1, int(m.group()) + rng.randint(-2, 2))), "\n\n".join(parts)
        )
        form = rng.choice(TITLE_FORMS)
        title = form.format(title=doc.title, year=rng.choice(YEARS), street=rng.choice(STREETS))
        out.append(
            {
                "title": title[:100],
                "body": body,
                "category": doc.category,
                "tags": doc.tags,
                "issuer": doc.issuer,
                "doc_number": doc.doc_number,
                # Most policies are district-wide; some are for one street.
                "street": rng.randrange(len(STREETS)) if rng.random() < 0.3 else None,
            }
        )
    return out


def search_queries(n: int, seed: int) -> list[tuple[str, str]]:
    """(kind, query): residents' questions, single common words, and pairs of
    governance words, in a fixed random order."""
    rng = random.Random(seed + 1)
    vocabulary = sorted(set(policy_text.USER_WORDS) | set(policy_text.CANONICAL))
    pool: list[tuple[str, str]] = []
    while len(pool) < n:
        roll = rng.random()
        if roll < 0.5:
            pool.append(("question", rng.choice(QUERIES)[0]))
        elif roll < 0.75:
            pool.append(("common word", rng.choice(SINGLE_WORDS)))
        else:
            pool.append(("two terms", " ".join(rng.sample(vocabulary, 2))))
    return pool


# ------------------------------------------------------------------ database


async def recreate_postgres(url: str) -> None:
    import asyncpg

    parsed = make_url(url)
    name = parsed.database
    if not name or name.startswith("ejiaren_test"):
        raise SystemExit("refusing to drop a test database; name the benchmark's own")
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database="postgres",
    )
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def fill(db: Database, policies: list[dict[str, Any]], console: Console) -> dict[str, Any]:
    async with db.session(write=True) as session:
        district = Region(level="district", name="基准区", path="")
        session.add(district)
        await session.flush()
        district.path = f"/{district.id}/"
        streets = []
        for name in STREETS:
            street = Region(level="street", name=f"{name}街道", parent_id=district.id, path="")
            session.add(street)
            await session.flush()
            street.path = f"{district.path}{street.id}/"
            streets.append(street)
        admin = User(kind="staff", name="基准管理员", nickname="基准管理员", username="bench-admin")
        session.add(admin)
        await session.flush()
        session.add(Membership(user_id=admin.id, role="superadmin", region_id=None))
        await session.commit()
        street_ids = [s.id for s in streets]
    principal = Principal(
        user=admin,
        grants=[Grant(0, "superadmin", None, "", "district", "", None)],
    )

    started = time.perf_counter()
    for start in range(0, len(policies), BATCH):
        async with db.session(write=True) as session:
            for item in policies[start : start + BATCH]:
                street = item["street"]
                body = PolicyCreate.model_validate(
                    {
                        k: v
                        for k, v in item.items()
                        if k in ("title", "body", "category", "tags", "issuer", "doc_number")
                    }
                    | {"region_id": street_ids[street] if street is not None else None}
                )
                policy = await service.create_policy(session, principal=principal, body=body)
                await service.transition(
                    session, principal=principal, policy_id=policy.id, action="publish"
                )
            await session.commit()
        done = min(start + BATCH, len(policies))
        if done % 2000 == 0 or done == len(policies):
            console.print(f"  {done:,} policies indexed ({time.perf_counter() - started:.0f} s)")
    seconds = time.perf_counter() - started
    async with db.session(write=False) as session:
        postings = await session.scalar(select(func.count()).select_from(PolicyTerm))
        if db.is_sqlite:
            await session.execute(text("ANALYZE"))
        else:
            await session.execute(text("ANALYZE policy_term"))
            await session.execute(text("ANALYZE policy"))
        await session.commit()
    return {"fill_seconds": round(seconds, 1), "postings": int(postings or 0)}


async def vacuum_postgres(url: str) -> None:
    # VACUUM sets the visibility map, as autovacuum would on a live database,
    # so index-only scans of the postings do not visit the table.
    import asyncpg

    parsed = make_url(url)
    conn = await asyncpg.connect(
        user=parsed.username or "postgres",
        password=parsed.password,
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        database=parsed.database,
    )
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


# ------------------------------------------------------------------ timing


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 2),
        "p95_ms": round(percentile(values, 0.95), 2),
        "p99_ms": round(percentile(values, 0.99), 2),
        "max_ms": round(max(values), 2),
    }


async def time_requests(
    client: httpx.AsyncClient, requests: list[tuple[str, str, dict[str, Any]]]
) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = {}
    for kind, path, params in requests:
        started = time.perf_counter()
        r = await client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        if r.status_code != 200:
            raise SystemExit(f"{path} {params} → {r.status_code}: {r.text[:300]}")
        timings.setdefault(kind, []).append(elapsed)
    return timings


async def run_database(
    name: str, url: str, policies: list[dict[str, Any]], searches: int, seed: int, console: Console
) -> dict[str, Any]:
    console.print(f"[bold]{name}[/bold]: {url}")
    if url.startswith("postgresql"):
        await recreate_postgres(url)
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        env="test", database_url=url, run_background=False, log_level="WARNING", _env_file=None
    )  # type: ignore[call-arg]
    db = Database(settings)
    filled = await fill(db, policies, console)
    await db.dispose()
    if url.startswith("postgresql"):
        await vacuum_postgres(url)

    app = create_app(settings)
    queries = search_queries(searches, seed)
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("search", "/api/v1/policies", {"q": q}) for _, q in queries
    ]
    kinds = [k for k, _ in queries]
    suggest = [
        ("suggest", "/api/v1/policies/suggest", {"q": q[:2]})
        for _, q in queries[: max(200, searches // 5)]
    ]
    browse = [("browse", "/api/v1/policies", {}) for _ in range(200)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await time_requests(client, requests[:WARMUP])
        timed = await time_requests(client, requests)
        by_kind: dict[str, list[float]] = {}
        for kind, ms in zip(kinds, timed["search"], strict=True):
            by_kind.setdefault(kind, []).append(ms)
        other = await time_requests(client, suggest + browse)
        sample = (await client.get("/api/v1/policies", params={"q": "医保怎么报销"})).json()
    await app.state.db.dispose()
    return {
        "database": name,
        **filled,
        "search": summary(timed["search"]),
        "search_by_kind": {k: summary(v) for k, v in sorted(by_kind.items())},
        "suggest": summary(other["suggest"]),
        "browse": summary(other["browse"]),
        "sample_top3": [i["title"] for i in sample["items"][:3]],
    }


# ------------------------------------------------------------------ report


def report(result: dict[str, Any], console: Console) -> None:
    table = Table(
        title=(
            f"Policy search: {result['policies']:,} policies, {result['searches']:,} searches "
            f"(target p95 < {TARGET_P95_MS:.0f} ms)"
        )
    )
    table.add_column("measure")
    for run in result["runs"]:
        table.add_column(run["database"], justify="right")

    def row(label: str, pick: Any) -> None:
        table.add_row(label, *[str(pick(r)) for r in result["runs"]])

    row("fill (segment + index), s", lambda r: r["fill_seconds"])
    row("postings", lambda r: f"{r['postings']:,}")
    for key in ("median_ms", "p95_ms", "p99_ms", "max_ms"):
        row(f"search {key}", lambda r, key=key: r["search"][key])
    for kind in result["runs"][0]["search_by_kind"]:
        row(f"  {kind} p95 ms", lambda r, kind=kind: r["search_by_kind"][kind]["p95_ms"])
    row("suggest p95 ms", lambda r: r["suggest"]["p95_ms"])
    row("browse p95 ms", lambda r: r["browse"]["p95_ms"])
    row("top 3 for 医保怎么报销", lambda r: " / ".join(r["sample_top3"]))
    row(
        "p95 within target",
        lambda r: "yes" if r["search"]["p95_ms"] < TARGET_P95_MS else "[red]no[/red]",
    )
    console.print(table)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    console = Console()
    policies = generate(args.policies, args.seed)
    runs = []
    with tempfile.TemporaryDirectory(prefix="ejiaren-bench-") as tmp:
        targets = []
        if args.db in ("sqlite", "both"):
            targets.append(("SQLite", f"sqlite+aiosqlite:///{tmp}/bench.db"))
        if args.db in ("postgres", "both"):
            targets.append(("PostgreSQL", args.pg_url))
        for name, url in targets:
            runs.append(await run_database(name, url, policies, args.searches, args.seed, console))
    import sqlite3

    result = {
        "benchmark": "policy_search",
        "date": date.today().isoformat(),
        "policies": args.policies,
        "searches": args.searches,
        "seed": args.seed,
        "target_p95_ms": TARGET_P95_MS,
        "machine": {
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
            "platform": platform.platform(),
        },
        "runs": runs,
    }
    report(result, console)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policies", type=int, default=10_000)
    parser.add_argument("--searches", type=int, default=2_000, help="timed searches per database")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="directory for the JSON result"
    )
    args = parser.parse_args(argv)
    if args.policies < 1 or args.searches < WARMUP:
        parser.error(f"need at least 1 policy and {WARMUP} searches")
    result = asyncio.run(amain(args))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"policy_search-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    Console().print(f"written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
