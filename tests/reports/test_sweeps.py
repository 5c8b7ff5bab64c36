"""Sweeps with a frozen clock: reminder, reassignment, overdue escalation across a
weekend and a statutory holiday, and auto-close."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from app.reports import sweeps
from app.reports.models import Category
from app.reports.sweeps import run_sweeps
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    w = await make_world(session, settings)
    # Resolution in working days for this test's category: 1 day for simple cases.
    await session.execute(
        update(Category)
        .where(Category.code == "environment")
        .values(sla_calendar="working", complexity="simple", response_sla_minutes=60)
    )
    await session.flush()
    return w


def _next_workday(day: date) -> date:
    day += timedelta(days=1)
    while not chinese_calendar.is_workday(day):
        day += timedelta(days=1)
    return day


async def _timeline(client: httpx.AsyncClient, world: World, rid: int) -> list[str]:
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.resident))
    return [e["type"] for e in r.json()["timeline"]]


async def test_remind_reassign_then_overdue_escalation_across_national_day(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    # Wednesday 30 September 2026, 10:00 in Shanghai; National Day follows.
    start = datetime(2026, 9, 30, 10, 0, tzinfo=SHANGHAI)
    with clock.frozen(start):
        rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
        assert (await run_sweeps(app.state.db)).total() == 0

        clock.advance(timedelta(minutes=61))  # past the 60-minute response deadline
        result = await run_sweeps(app.state.db)
        assert result.reminded == 1 and result.reassigned == 0
        assert (await run_sweeps(app.state.db)).reminded == 0  # idempotent

        clock.advance(timedelta(minutes=60))  # one more response period: to the leader
        assert (await run_sweeps(app.state.db)).reassigned == 1
        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.resident))
        assert r.json()["status"] == "dispatched"
        assert r.json()["assignee"]["id"] == world.leader.id

        r = await act(client, world.h(world.leader), rid, "accept")
        assert r.status_code == 200, r.text
        due = datetime.fromisoformat(r.json()["resolve_due_at"]).astimezone(SHANGHAI)
        # One working day after Wed 30 Sep skips the whole holiday week.
        expected_day = _next_workday(date(2026, 9, 30))
        assert due.date() == expected_day
        assert (due.date() - date(2026, 9, 30)).days >= 7

        clock.set_now(due - timedelta(minutes=1))
        assert (await run_sweeps(app.state.db)).escalated == 0
        clock.set_now(due + timedelta(minutes=1))
        assert (await run_sweeps(app.state.db)).escalated == 1
        assert (await run_sweeps(app.state.db)).escalated == 0

        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.community_admin))
        body = r.json()
        assert body["status"] == "escalated"
        assert body["assignee"] is None
        types = [e["type"] for e in body["timeline"]]
        assert types == ["created", "dispatched", "reminded", "reassigned", "accepted", "escalated"]
        r = await act(client, world.h(world.community_admin), rid, "accept")
        assert r.status_code == 200, r.text


async def test_working_day_deadline_skips_weekend(client: httpx.AsyncClient, world: World) -> None:
    # Friday 20 November 2026, 10:30: one working day later is Monday 10:30.
    with clock.frozen(datetime(2026, 11, 20, 10, 30, tzinfo=SHANGHAI)):
        rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
        r = await act(client, world.h(world.worker), rid, "accept")
        due = datetime.fromisoformat(r.json()["resolve_due_at"]).astimezone(SHANGHAI)
        assert due == datetime(2026, 11, 23, 10, 30, tzinfo=SHANGHAI)


async def test_overdue_flag_and_filter(client: httpx.AsyncClient, world: World) -> None:
    with clock.frozen(datetime(2026, 11, 20, 10, 30, tzinfo=SHANGHAI)):
        rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
        worker = world.h(world.worker)
        r = await client.get("/api/v1/worker/tasks", params={"overdue": "true"}, headers=worker)
        assert rid not in [i["id"] for i in r.json()["items"]]
        clock.advance(timedelta(minutes=90))  # past the 60-minute response deadline
        r = await client.get("/api/v1/worker/tasks", params={"overdue": "true"}, headers=worker)
        assert r.status_code == 200, r.text
        items = {i["id"]: i for i in r.json()["items"]}
        assert items[rid]["overdue"] is True
        r = await client.get("/api/v1/worker/tasks", params={"overdue": "false"}, headers=worker)
        assert rid not in [i["id"] for i in r.json()["items"]]


async def test_unrated_resolved_case_closes_after_seven_days(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    with clock.frozen(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)):
        rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
        await act(client, world.h(world.worker), rid, "accept")
        await act(client, world.h(world.worker), rid, "resolve", {"note": "已处理"})
        clock.advance(timedelta(days=7) - timedelta(minutes=1))
        assert (await run_sweeps(app.state.db)).closed == 0
        clock.advance(timedelta(minutes=2))
        assert (await run_sweeps(app.state.db)).closed == 1
        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.resident))
        assert r.json()["status"] == "closed"
        assert r.json()["timeline"][-1]["type"] == "closed"
        # Reopen is still allowed only within 7 days of resolution: now it is too late.
        r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "没解决"})
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "report.reopen_window_passed"


async def test_cases_the_reassignment_cannot_move_do_not_hold_back_the_others(
    client: httpx.AsyncClient, app: FastAPI, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case already with the 网格长, reminded again, has no one further to go
    to. It was claimed and skipped on every pass: once a batch was full of
    such cases, no case after them was ever handed to its leader."""
    monkeypatch.setattr(sweeps, "BATCH", 1)
    start = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a Monday
    with clock.frozen(start):
        first = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
        # The first case goes to the leader, who lets it lapse as well.
        r = await act(
            client,
            world.h(world.community_admin),
            first,
            "transfer",
            {"assignee_id": world.leader.id, "reason": "网格长处理"},
        )
        assert r.status_code == 200, r.text
        for _ in range(2):
            clock.advance(timedelta(minutes=61))
            await run_sweeps(app.state.db)  # reminded; nobody further to hand it to
        second = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
        clock.advance(timedelta(minutes=61))
        assert (await run_sweeps(app.state.db)).reminded == 1  # the second case
        clock.advance(timedelta(minutes=61))
        assert (await run_sweeps(app.state.db)).reassigned == 1
        r = await client.get(f"/api/v1/reports/{second}", headers=world.h(world.resident))
        assert r.json()["assignee"]["id"] == world.leader.id
        r = await client.get(f"/api/v1/reports/{first}", headers=world.h(world.resident))
        assert r.json()["assignee"]["id"] == world.leader.id
