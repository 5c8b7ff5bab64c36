"""Real concurrent requests on committed data (not inside a rolled-back
transaction): each request has its own connection, as in production.

Runs on both databases; on PostgreSQL the winner is decided by row locks
(``SELECT … FOR UPDATE``), on SQLite by ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from app.core.settings import Settings
from app.main import create_app
from app.privacy.models import AuditEntry
from app.reports.models import (
    Holiday,
    Report,
    ReportEvent,
)
from app.users.models import Membership, User
from tests.factories import make_staff, make_tree, make_user
from tests.reports.helpers import IN_GRID, wgs
from tests.reports.live import bearer, wipe


@dataclass
class Live:
    app: FastAPI
    client: httpx.AsyncClient
    worker: User
    leader: User
    residents: list[User]

    def h(self, user: User) -> dict[str, str]:
        return bearer(self.app, user)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    await wipe(app)
    async with app.state.db.session(write=True) as s:
        tree = await make_tree(s)
        worker = await make_staff(s, "grid_worker", tree.grid)
        leader = await make_staff(s, "grid_leader", tree.grid)
        residents = [await make_user(s) for _ in range(8)]
        await s.commit()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://live") as client:
            yield Live(app, client, worker, leader, residents)
    finally:
        await wipe(app)
        await app.state.wechat.aclose()
        await app.state.db.dispose()


async def _count_reports(app: FastAPI) -> int:
    async with app.state.db.session(write=False) as s:
        return int(await s.scalar(select(func.count()).select_from(Report)) or 0)


async def test_two_handlers_accept_at_once_exactly_one_wins(live: Live) -> None:
    r = await live.client.post(
        "/api/v1/reports",
        headers=live.h(live.residents[0]),
        json={"kind": "sos", "category": "sos", "location": wgs(IN_GRID)},
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    # The grid worker and the grid leader may both act on an SOS case.
    results = await asyncio.gather(
        live.client.post(f"/api/v1/reports/{rid}/accept", headers=live.h(live.worker)),
        live.client.post(f"/api/v1/reports/{rid}/accept", headers=live.h(live.leader)),
    )
    codes = sorted(x.status_code for x in results)
    assert codes == [200, 409], [x.text for x in results]
    loser = next(x for x in results if x.status_code == 409)
    assert loser.json()["error"]["code"] in (
        "report.illegal_transition",
        "conflict.concurrent_update",
    )
    async with live.app.state.db.session(write=False) as s:
        accepted = await s.scalar(
            select(func.count())
            .select_from(ReportEvent)
            .where(ReportEvent.report_id == rid, ReportEvent.type == "accepted")
        )
    assert accepted == 1


async def test_concurrent_retries_with_one_key_create_one_report(live: Live) -> None:
    headers = {**live.h(live.residents[0]), "Idempotency-Key": "same-key"}
    body = {
        "kind": "issue",
        "category": "environment",
        "description": "楼道堆放杂物堵塞消防通道",
        "location": wgs(IN_GRID),
    }
    results = await asyncio.gather(
        *[live.client.post("/api/v1/reports", headers=headers, json=body) for _ in range(6)]
    )
    created = [x for x in results if x.status_code == 201]
    in_flight = [x for x in results if x.status_code == 409]
    assert len(created) + len(in_flight) == 6, [x.text for x in results]
    assert created, "at least the first attempt succeeds"
    assert len({x.json()["id"] for x in created}) == 1
    assert all(
        x.json()["error"]["code"] == "idempotency.in_flight" and x.headers.get("retry-after")
        for x in in_flight
    )
    assert await _count_reports(live.app) == 1
    # A later retry gets the stored answer.
    again = await live.client.post("/api/v1/reports", headers=headers, json=body)
    assert again.status_code == 201
    assert again.json()["id"] == created[0].json()["id"]


async def test_many_residents_submit_at_once(live: Live) -> None:
    results = await asyncio.gather(
        *[
            live.client.post(
                "/api/v1/reports",
                json={
                    "kind": "issue",
                    "category": "environment",
                    "description": f"第{i}号楼路灯不亮",
                    "location": wgs(IN_GRID),
                },
                headers={**live.h(resident), "Idempotency-Key": f"k-{i}"},
            )
            for i, resident in enumerate(live.residents)
        ]
    )
    assert [x.status_code for x in results] == [201] * len(live.residents), [
        x.text for x in results if x.status_code != 201
    ]
    assert await _count_reports(live.app) == len(live.residents)


async def test_two_sweepers_never_do_one_case_twice(live: Live, settings: Settings) -> None:
    from datetime import timedelta

    from app.core import clock
    from app.core.db import Database
    from app.reports.sweeps import run_sweeps

    ids = []
    for resident in live.residents:
        r = await live.client.post(
            "/api/v1/reports",
            headers=live.h(resident),
            json={
                "kind": "issue",
                "category": "environment",
                "description": "单元门禁损坏无法关闭",
                "location": wgs(IN_GRID),
            },
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    # Two independent "processes" (own engines and pools) sweep at the same moment.
    first, second = Database(settings), Database(settings)
    try:
        with clock.frozen(clock.now() + timedelta(minutes=61)):
            results = await asyncio.gather(run_sweeps(first), run_sweeps(second))
    finally:
        await first.dispose()
        await second.dispose()
    assert sum(r.reminded for r in results) == len(ids)
    async with live.app.state.db.session(write=False) as s:
        reminders = await s.scalar(
            select(func.count())
            .select_from(ReportEvent)
            .where(ReportEvent.type == "reminded", ReportEvent.report_id.in_(ids))
        )
    assert reminders == len(ids)


async def test_concurrent_audited_reads_all_answer(live: Live) -> None:
    """A read that writes its audit entry (reporter-contact), by several tabs of
    the handler's console at once: on SQLite a read transaction that then
    writes was refused at once ("database is locked", a 503) whenever another
    held the lock; it now begins as a writer and waits its turn."""
    r = await live.client.post(
        "/api/v1/reports",
        json={
            "kind": "issue",
            "category": "environment",
            "description": "小区门口垃圾堆积三天无人清运",
            "location": wgs(IN_GRID),
        },
        headers=live.h(live.residents[0]),
    )
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == live.worker.id
    url = f"/api/v1/reports/{r.json()['id']}/reporter-contact"
    results = await asyncio.gather(
        *(live.client.get(url, headers=live.h(live.worker)) for _ in range(8))
    )
    assert [r.status_code for r in results] == [200] * 8, [r.text for r in results]
    async with live.app.state.db.session(write=False) as s:
        entries = await s.scalar(select(func.count()).select_from(AuditEntry))
    assert entries == 8


async def test_two_admins_saving_the_same_new_holiday_both_succeed(live: Live) -> None:
    """PUT creates or replaces: the insert that loses the race becomes an
    update (on PostgreSQL it was a 409 from the primary key)."""
    async with live.app.state.db.session(write=True) as s:
        # Superadmins: the committed data of other tests holds several districts,
        # where a district admin may not change what they share.
        admins = [await make_user(s, kind="staff", name=f"系统管理员{i}") for i in range(4)]
        s.add_all(Membership(user_id=a.id, role="superadmin", region_id=None) for a in admins)
        await s.commit()
    day = date(2026, 12, 22)
    try:
        results = await asyncio.gather(
            *(
                live.client.put(
                    f"/api/v1/admin/holidays/{day}",
                    json={"is_workday": False, "name": f"调整{i}"},
                    headers=live.h(admin),
                )
                for i, admin in enumerate(admins)
            )
        )
        assert [r.status_code for r in results] == [200] * len(admins), [r.text for r in results]
        async with live.app.state.db.session(write=False) as s:
            rows = list(await s.scalars(select(Holiday).where(Holiday.day_date == day)))
        assert len(rows) == 1 and rows[0].is_workday is False
    finally:
        async with live.app.state.db.session(write=True) as s:
            await s.execute(delete(Holiday).where(Holiday.day_date == day))
            await s.commit()
