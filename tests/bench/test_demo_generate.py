"""The bulk demo generator on a small scale: what it writes is complete,
consistent, deterministic for a seed, and served by the API like any other data.

The generator commits (it is a bulk load, not a request), so it cannot run in
the rolled-back test transaction: each test uses a throwaway SQLite file,
migrated with Alembic (``upgrade_async``) like the real databases.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select

from app.core.db import Database
from app.core.errors import Conflict
from app.core.migrations import upgrade_async
from app.core.security import issue_token
from app.core.settings import Settings
from app.demo_generate import Generated, generate, generated_marker
from app.main import create_app
from app.org.models import Region
from app.reports.models import Report, ReportEvent
from app.users.models import Membership, User

NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)
API = "/api/v1"


def _settings(path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=f"sqlite+aiosqlite:///{path}",
        media_dir=path.parent / "media",
        run_background=False,
        redis_url=None,
        log_level="WARNING",
    )


async def _fresh(path: Path, *, grids: int = 2, reports: int = 200, seed: int = 3) -> Generated:
    settings = _settings(path)
    await upgrade_async(settings.database_url)
    stages: list[str] = []
    result = await generate(
        settings.database_url,
        grids=grids,
        reports=reports,
        seed=seed,
        now=NOW,
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert {"regions", "users", "reports"} <= set(stages)
    return result


@pytest_asyncio.fixture(loop_scope="session")
async def generated(tmp_path: Path) -> AsyncIterator[tuple[Database, Generated]]:
    path = tmp_path / "generated.db"
    result = await _fresh(path)
    db = Database(_settings(path))
    yield db, result
    await db.dispose()


async def test_writes_the_whole_district(generated: tuple[Database, Generated]) -> None:
    db, result = generated
    async with db.session(write=False) as session:
        levels = dict(
            (await session.execute(select(Region.level, func.count()).group_by(Region.level))).all()
        )
        kinds = dict(
            (await session.execute(select(User.kind, func.count()).group_by(User.kind))).all()
        )
        roles = dict(
            (
                await session.execute(
                    select(Membership.role, func.count()).group_by(Membership.role)
                )
            ).all()
        )
        reports = list(await session.scalars(select(Report)))
        events = list(await session.scalars(select(ReportEvent).order_by(ReportEvent.id)))

    assert levels == {"district": 1, "street": 1, "community": 1, "grid": 2}
    assert kinds == {"staff": result.staff, "resident": result.residents}
    assert roles == {
        "community_admin": 1,
        "grid_leader": 1,
        "grid_worker": 2,
        "grid_worker_part": 1,
    }
    assert result.residents == 20  # one per ten cases
    assert len(reports) == result.reports == 200
    assert len(events) == result.events
    assert Counter(r.status for r in reports) == result.by_status
    # Most of a year's cases are finished (the service reports 98.5 %).
    finished = result.by_status.get("closed", 0) + result.by_status.get("resolved", 0)
    assert finished > 180

    by_report: dict[int, list[ReportEvent]] = {}
    for e in events:
        by_report.setdefault(e.report_id, []).append(e)
    for r in reports:
        timeline = by_report[r.id]
        assert [e.type for e in timeline[:2]] == ["created", "dispatched"]
        # Each transition starts where the previous one ended, in time order.
        moves = [e for e in timeline if e.to_status is not None]
        assert moves[-1].to_status == r.status
        for before, after in zip(moves, moves[1:], strict=False):
            assert after.from_status == before.to_status
        assert [e.created_at for e in timeline] == sorted(e.created_at for e in timeline)
        assert r.created_at <= NOW and r.updated_at == timeline[-1].created_at
        assert r.grid_id is not None and r.region_path.endswith(f"/{r.grid_id}/")
        if r.status in ("resolved", "closed"):
            assert r.resolved_at is not None and r.resolver_id is not None
        if r.status in ("closed", "rejected", "cancelled"):
            assert r.closed_at is not None
        if r.status in ("dispatched", "in_progress"):
            assert r.assignee_id is not None and r.response_due_at is not None
        if r.status == "in_progress":
            assert r.accepted_at is not None and r.resolve_due_at is not None
        if r.rating_score is not None:
            assert r.status == "closed" and r.rated_at is not None


async def test_the_api_serves_the_generated_cases(generated: tuple[Database, Generated]) -> None:
    db, result = generated
    settings = db.settings
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:

            def bearer(user_id: int) -> dict[str, str]:
                token = issue_token(settings, user_id=user_id, version=0, type="access")
                return {"Authorization": f"Bearer {token}"}

            async def everything(path: str, user_id: int) -> list[dict[str, object]]:
                items: list[dict[str, object]] = []
                cursor = None
                while True:
                    params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
                    r = await client.get(f"{API}{path}", headers=bearer(user_id), params=params)
                    assert r.status_code == 200, r.text
                    items += r.json()["items"]
                    cursor = r.json()["next_cursor"]
                    if cursor is None:
                        return items

            mine = await everything("/reports/mine", result.busiest_reporter_id)
            assert len(mine) == result.busiest_reporter_reports
            tasks = await everything("/worker/tasks", result.busiest_worker_id)
            assert len(tasks) == result.busiest_worker_reports

            detail = await client.get(
                f"{API}/reports/{mine[0]['id']}", headers=bearer(result.busiest_reporter_id)
            )
            assert detail.status_code == 200, detail.text
            body = detail.json()
            assert body["number"].startswith("E")
            assert [e["type"] for e in body["timeline"][:2]] == ["created", "dispatched"]

            # The boundaries are stored and the locator sees them.
            async with db.session(write=False) as session:
                grid = await session.scalar(
                    select(Region).where(Region.level == "grid").order_by(Region.id)
                )
            assert grid is not None and grid.boundary is not None
            (sw_lng, sw_lat), _, (ne_lng, ne_lat) = grid.boundary["coordinates"][0][:3]
            located = await client.get(
                f"{API}/grids/locate",
                params={
                    "lng": (sw_lng + ne_lng) / 2,
                    "lat": (sw_lat + ne_lat) / 2,
                    "coord": "wgs84",
                },
            )
            assert located.status_code == 200, located.text
            assert located.json()["grid"]["id"] == grid.id
    finally:
        await app.state.wechat.aclose()
        await app.state.db.dispose()


async def _fingerprint(path: Path) -> str:
    db = Database(_settings(path))
    try:
        async with db.session(write=False) as session:
            rows = (
                await session.execute(
                    select(
                        Report.id, Report.status, Report.reporter_id, Report.assignee_id,
                        Report.created_at, Report.resolved_at, Report.rating_score, Report.lat,
                    ).order_by(Report.id)
                )
            ).all()  # fmt: skip
            events = (
                await session.execute(
                    select(ReportEvent.type, ReportEvent.created_at).order_by(ReportEvent.id)
                )
            ).all()
    finally:
        await db.dispose()
    return hashlib.sha256(repr((rows, events)).encode()).hexdigest()


async def test_same_seed_same_data_and_a_second_run_is_refused(tmp_path: Path) -> None:
    await _fresh(tmp_path / "a.db", reports=120, seed=11)
    await _fresh(tmp_path / "b.db", reports=120, seed=11)
    await _fresh(tmp_path / "c.db", reports=120, seed=12)
    a, b, c = [await _fingerprint(tmp_path / name) for name in ("a.db", "b.db", "c.db")]
    assert a == b
    assert a != c

    settings = _settings(tmp_path / "a.db")
    with pytest.raises(Conflict):
        await generate(settings.database_url, grids=2, reports=10, seed=11, now=NOW)
    db = Database(settings)
    try:
        marker = await generated_marker(db)
        async with db.session(write=False) as session:
            count = await session.scalar(select(func.count()).select_from(Report))
    finally:
        await db.dispose()
    assert marker is not None and marker["reports"] == 120 and marker["seed"] == 11
    assert count == 120
