"""Two admins acting on the same case at the same moment (DESIGN §4: "two
people acting on the same report at once: exactly one wins"), where the state
table alone cannot tell them apart: two transfers (the status stays), and two
cases marked duplicates of each other.

Real concurrent requests on committed data, each on its own connection. The
cases' rows are held by a third transaction while both requests arrive, so
both have read the case before either may change it; then they are released.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.main import create_app
from app.notify.models import SubscribeConsent
from app.outbox.models import OutboxMessage
from app.reports.models import (
    Report,
    ReportEvent,
)
from app.users.models import User
from tests.factories import make_staff, make_tree, make_user
from tests.reports.helpers import IN_GRID, wgs
from tests.reports.live import bearer, wipe


@dataclass
class Live:
    app: FastAPI
    client: httpx.AsyncClient
    worker: User
    community_admin: User
    street_admin: User
    picks: list[User]
    resident: User

    def h(self, user: User) -> dict[str, str]:
        return bearer(self.app, user)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    app = create_app(settings)
    await wipe(app)
    template = settings.wechat_subscribe_templates["task_new"].template_id
    async with app.state.db.session(write=True) as s:
        tree = await make_tree(s)
        worker = await make_staff(s, "grid_worker", tree.grid)
        community_admin = await make_staff(s, "community_admin", tree.community)
        street_admin = await make_staff(s, "street_admin", tree.street)
        # The two people the admins hand the case to: told of a new task by WeChat.
        picks = [
            await make_staff(s, "grid_worker", tree.other_grid),
            await make_staff(s, "grid_leader", tree.grid),
        ]
        for n, pick in enumerate(picks):
            pick.openid = f"openid-pick-{n}"
            s.add(SubscribeConsent(user_id=pick.id, template_id=template, remaining=5))
        resident = await make_user(s)
        await s.commit()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://live") as client:
            yield Live(app, client, worker, community_admin, street_admin, picks, resident)
    finally:
        await wipe(app)
        await app.state.wechat.aclose()
        await app.state.db.dispose()


async def _until(condition: Any, what: str) -> None:
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def _at_once(
    live: Live, held: list[int], calls: list[tuple[str, User, dict[str, Any]]]
) -> list[httpx.Response]:
    """Send ``calls`` (path, caller, body) while another transaction holds the
    cases ``held``; release them once every call waits for them (PostgreSQL:
    for the row lock; SQLite: for the write lock, ``BEGIN IMMEDIATE``)."""
    db = live.app.state.db
    engine = db.engine
    waiting = 0

    def _count_immediate(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        nonlocal waiting
        if statement == "BEGIN IMMEDIATE":
            waiting += 1

    async def all_waiting() -> bool:
        if db.is_sqlite:
            return waiting >= len(calls)
        async with engine.connect() as conn:
            blocked = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return int(blocked or 0) >= len(calls)

    holder: AsyncSession = db.session(write=True)
    await holder.execute(select(Report.id).where(Report.id.in_(held)).with_for_update())
    if db.is_sqlite:
        event.listen(engine.sync_engine, "before_cursor_execute", _count_immediate)
    try:
        pending = [
            asyncio.ensure_future(live.client.post(path, headers=live.h(caller), json=json))
            for path, caller, json in calls
        ]
        await _until(all_waiting, "every request to wait for the case")
    finally:
        if db.is_sqlite:
            event.remove(engine.sync_engine, "before_cursor_execute", _count_immediate)
        await holder.rollback()
        await holder.close()
    return list(await asyncio.gather(*pending))


async def _new_case(live: Live) -> int:
    r = await live.client.post(
        "/api/v1/reports",
        headers=live.h(live.resident),
        json={
            "kind": "issue",
            "category": "environment",
            "description": "楼道堆放杂物堵塞消防通道",
            "location": wgs(IN_GRID),
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == live.worker.id
    return r.json()["id"]  # type: ignore[no-any-return]


async def test_two_admins_transfer_at_once_exactly_one_wins(live: Live) -> None:
    rid = await _new_case(live)
    path = f"/api/v1/reports/{rid}/transfer"
    results = await _at_once(
        live,
        [rid],
        [
            (path, live.community_admin, {"assignee_id": live.picks[0].id, "reason": "换人处理"}),
            (path, live.street_admin, {"assignee_id": live.picks[1].id, "reason": "换人处理"}),
        ],
    )

    codes = sorted(x.status_code for x in results)
    assert codes == [200, 409], [x.text for x in results]
    loser = next(x for x in results if x.status_code == 409)
    assert loser.json()["error"]["code"] == "conflict.concurrent_update"
    assert loser.json()["error"]["message"]
    winner = next(i for i, x in enumerate(results) if x.status_code == 200)
    chosen = live.picks[winner]
    assert results[winner].json()["assignee"]["id"] == chosen.id

    async with live.app.state.db.session(write=False) as s:
        report = await s.get(Report, rid)
        assert report is not None and report.assignee_id == chosen.id
        transferred = await s.scalar(
            select(func.count())
            .select_from(ReportEvent)
            .where(ReportEvent.report_id == rid, ReportEvent.type == "transferred")
        )
        told = list(await s.scalars(select(OutboxMessage.payload)))
    assert transferred == 1
    # Only the winner's pick is told of a new task: the loser's never holds it.
    assert [(m["type"], m["user_id"]) for m in told if m.get("type") == "task_new"] == [
        ("task_new", chosen.id)
    ]


async def test_two_cases_marked_duplicates_of_each_other_at_once(live: Live) -> None:
    a, b = await _new_case(live), await _new_case(live)
    results = await _at_once(
        live,
        [a, b],
        [
            (f"/api/v1/reports/{a}/reject", live.community_admin,
             {"reason": "重复提交", "duplicate_of": b}),
            (f"/api/v1/reports/{b}/reject", live.street_admin,
             {"reason": "重复提交", "duplicate_of": a}),
        ],
    )  # fmt: skip
    codes = sorted(x.status_code for x in results)
    assert codes == [200, 422], [x.text for x in results]
    loser = next(x for x in results if x.status_code == 422)
    assert loser.json()["error"]["code"] == "report.duplicate_of_invalid"
    async with live.app.state.db.session(write=False) as s:
        statuses = dict(
            (await s.execute(select(Report.id, Report.status).where(Report.id.in_((a, b))))).all()
        )
    assert sorted(statuses.values()) == ["dispatched", "rejected"]


@pytest.mark.parametrize("round_", range(4))
async def test_merging_into_a_case_whose_duplicates_another_admin_holds(
    live: Live, round_: int
) -> None:
    """A was marked a duplicate of B. At once, B is marked a duplicate of C (so
    A moves to C) and C a duplicate of A. Each request locks its cases first;
    A must be among the first's, or the two deadlock over A and C (PostgreSQL
    then kills one: it was a 500). One wins, the other finds its original
    merged away: 422, and no case points at a duplicate."""
    a, b, c = await _new_case(live), await _new_case(live), await _new_case(live)
    r = await live.client.post(
        f"/api/v1/reports/{a}/reject",
        headers=live.h(live.community_admin),
        json={"reason": "重复提交", "duplicate_of": b},
    )
    assert r.status_code == 200, r.text
    results = await _at_once(
        live,
        [a, b, c],
        [
            (f"/api/v1/reports/{b}/reject", live.community_admin,
             {"reason": "重复提交", "duplicate_of": c}),
            (f"/api/v1/reports/{c}/reject", live.street_admin,
             {"reason": "重复提交", "duplicate_of": a}),
        ],
    )  # fmt: skip
    assert sorted(x.status_code for x in results) == [200, 422], [x.text for x in results]
    loser = next(x for x in results if x.status_code == 422)
    assert loser.json()["error"]["code"] == "report.duplicate_of_invalid"
    async with live.app.state.db.session(write=False) as s:
        rows = (
            await s.execute(
                select(Report.id, Report.status, Report.duplicate_of_id).where(
                    Report.id.in_((a, b, c))
                )
            )
        ).all()
    status = {row.id: row.status for row in rows}
    points = {row.id: row.duplicate_of_id for row in rows if row.duplicate_of_id}
    assert sorted(status.values()) == ["dispatched", "rejected", "rejected"]
    for target in points.values():
        assert status[target] == "dispatched", (points, status)


async def test_the_same_follow_sent_at_once_is_one_follow(live: Live) -> None:
    """A resident's double tap (or a client's retry) following a case: every
    answer is the 200 a second follow gets one after the other, one row."""
    from app.reports.models import ReportFollow

    async with live.app.state.db.session(write=True) as s:
        neighbour = await make_user(s)
        await s.commit()
    rid = await _new_case(live)
    path = f"/api/v1/reports/{rid}/follow"
    results = await asyncio.gather(
        *(live.client.post(path, headers=live.h(neighbour)) for _ in range(10))
    )
    assert [r.status_code for r in results] == [200] * 10, [r.text for r in results]
    async with live.app.state.db.session(write=False) as s:
        rows = await s.scalar(
            select(func.count()).select_from(ReportFollow).where(ReportFollow.report_id == rid)
        )
    assert rows == 1
