"""A case waiting in a manual-dispatch queue (DESIGN §4 ``submitted``, §5 step
1) has a response deadline from its creation, like a case dispatched at once:
it becomes overdue, shows in the overdue lists and figures, its response is
measured from creation (DESIGN §6), and the sweep reminds the queue's admins."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from app.org.models import Department
from app.reports.models import Category, Report
from app.reports.sweeps import run_sweeps
from tests.factories import auth, make_staff, make_tree, make_user
from tests.reports.helpers import IN_GRID, NOWHERE, World, act, make_world, submit, wgs

START = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
RESPONSE = timedelta(minutes=60)  # category ``environment``
WINDOW = {"from": "2026-11-20", "to": "2026-11-27"}


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _deadlines(session: AsyncSession, rid: int) -> tuple[datetime | None, datetime | None]:
    row = (
        await session.execute(
            select(Report.response_due_at, Report.first_response_due_at).where(Report.id == rid)
        )
    ).one()
    return row[0], row[1]


async def _listed(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[int]:
    r = await client.get("/api/v1/admin/reports", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


async def _summary(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, object]:
    r = await client.get("/api/v1/stats/summary", params=WINDOW, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_case_without_a_grid_is_due_from_creation_and_becomes_overdue(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    admin = world.h(world.street_admin)
    with clock.frozen(START):
        r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
        assert r.status_code == 201, r.text
        case = r.json()
        rid = case["id"]
        assert (case["status"], case["assignee"]) == ("submitted", None)
        assert datetime.fromisoformat(case["response_due_at"]) == START + RESPONSE
        assert case["overdue"] is False
        assert await _deadlines(session, rid) == (START + RESPONSE, START + RESPONSE)
        assert rid in await _listed(client, admin, overdue="false")
        assert rid not in await _listed(client, admin, overdue="true")

        clock.advance(RESPONSE + timedelta(minutes=1))
        r = await client.get(f"/api/v1/reports/{rid}", headers=admin)
        assert r.json()["overdue"] is True
        assert rid in await _listed(client, admin, overdue="true")
        assert rid not in await _listed(client, admin, overdue="false")
        [item] = [
            i
            for i in (await client.get("/api/v1/admin/reports", headers=admin)).json()["items"]
            if i["id"] == rid
        ]
        assert item["overdue"] is True
        assert (await _summary(client, admin))["overdue_open"] == 1

        # Dispatched two days later and accepted at once: late against the
        # deadline it was given at creation, and measured from creation.
        clock.advance(timedelta(days=2))
        r = await act(client, admin, rid, "dispatch", {"assignee_id": world.worker.id})
        assert r.status_code == 200, r.text
        assert (await _deadlines(session, rid))[1] == START + RESPONSE
        assert (await act(client, world.h(world.worker), rid, "accept")).status_code == 200
        figures = await _summary(client, admin)
        assert (figures["received"], figures["accepted_on_time"]) == (1, 0)
        assert figures["response_rate"] == 0
        assert figures["overdue_open"] == 0
        assert figures["avg_response_minutes"] == pytest.approx(2 * 24 * 60 + 61)


async def test_a_case_in_a_grid_with_nobody_waits_in_the_community_queue_with_a_deadline(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "community_admin", tree.community)
    resident = await make_user(session)
    # The community admin is the last resort of automatic dispatch: without
    # anyone on the grid and no admin, the case waits in the community queue.
    admin.disabled = True
    await session.flush()
    with clock.frozen(START):
        r = await submit(client, auth(settings, resident), location=wgs(IN_GRID))
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert r.json()["status"] == "submitted"
        assert datetime.fromisoformat(r.json()["response_due_at"]) == START + RESPONSE
        assert await _deadlines(session, rid) == (START + RESPONSE, START + RESPONSE)
        owner = (
            await session.execute(
                select(Report.owner_level, Report.owner_region_id).where(Report.id == rid)
            )
        ).one()
        assert tuple(owner) == ("community", tree.community.id)


async def test_the_sweep_reminds_a_queue_once_and_never_reassigns_it(
    client: httpx.AsyncClient, app: FastAPI, world: World, session: AsyncSession
) -> None:
    with clock.frozen(START):
        rid = (await submit(client, world.h(world.resident), location=wgs(NOWHERE))).json()["id"]
        assert (await run_sweeps(app.state.db)).total() == 0
        clock.advance(RESPONSE + timedelta(minutes=1))
        result = await run_sweeps(app.state.db)
        assert (result.reminded, result.reassigned) == (1, 0)
        clock.advance(RESPONSE * 3)
        assert (await run_sweeps(app.state.db)).total() == 0  # once per deadline

        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.street_admin))
        case = r.json()
        assert (case["status"], case["assignee"]) == ("submitted", None)
        reminders = [e for e in case["timeline"] if e["type"] == "reminded"]
        assert len(reminders) == 1 and reminders[0]["actor"]["role"] == "system"
        assert reminders[0]["from_status"] is None and reminders[0]["to_status"] is None


async def test_a_queue_reminder_given_for_an_earlier_deadline_does_not_count(
    client: httpx.AsyncClient, app: FastAPI, world: World, session: AsyncSession
) -> None:
    """A case reminded while it was with a person, then sent back to the queue
    with a new deadline, is reminded again once that deadline passes."""
    with clock.frozen(START):
        rid = (await submit(client, world.h(world.resident), location=wgs(NOWHERE))).json()["id"]
        await session.execute(
            update(Report)
            .where(Report.id == rid)
            .values(reminded_at=START + timedelta(minutes=30), response_due_at=START + 2 * RESPONSE)
        )
        await session.flush()
        clock.advance(RESPONSE + timedelta(minutes=1))
        assert (await run_sweeps(app.state.db)).reminded == 0  # the new deadline has not passed
        clock.advance(RESPONSE)
        assert (await run_sweeps(app.state.db)).reminded == 1
        assert (await run_sweeps(app.state.db)).reminded == 0


async def test_a_case_dispatched_from_a_reminded_queue_is_reminded_before_it_is_reassigned(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    """The queue's reminder was for the queue's deadline: the person the case is
    then given to is reminded of their own before it goes to the 网格长."""
    with clock.frozen(START):
        rid = (await submit(client, world.h(world.resident), location=wgs(NOWHERE))).json()["id"]
        clock.advance(RESPONSE + timedelta(minutes=1))
        assert (await run_sweeps(app.state.db)).reminded == 1
        clock.advance(timedelta(minutes=30))
        body = {"assignee_id": world.worker.id}
        r = await act(client, world.h(world.street_admin), rid, "dispatch", body)
        assert r.status_code == 200, r.text
        due = datetime.fromisoformat(r.json()["response_due_at"])

        clock.set_now(due + timedelta(minutes=1))
        result = await run_sweeps(app.state.db)
        assert (result.reminded, result.reassigned) == (1, 0)
        clock.set_now(due + RESPONSE + timedelta(minutes=1))
        result = await run_sweeps(app.state.db)
        assert (result.reminded, result.reassigned) == (0, 1)
        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.street_admin))
        assert r.json()["assignee"]["id"] == world.leader.id
        types = [e["type"] for e in r.json()["timeline"]]
        assert types[-4:] == ["reminded", "dispatched", "reminded", "reassigned"]


async def test_a_departments_queue_is_reminded_and_never_handed_to_a_grid_leader(
    client: httpx.AsyncClient, app: FastAPI, world: World, session: AsyncSession
) -> None:
    """A case routed to a department waits in the department's shared queue
    (``dispatched``, nobody assigned): past its deadline it is reminded once,
    like every queue, and stays with the department."""
    department = Department(name="供电公司", region_id=world.tree.district.id, category_codes=[])
    session.add(department)
    await session.flush()
    await session.execute(
        update(Category)
        .where(Category.code == "water_power")
        .values(routing="department", department_id=department.id)
    )
    await session.flush()
    with clock.frozen(START):
        r = await submit(
            client, world.h(world.resident), category="water_power", location=wgs(IN_GRID)
        )
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert (r.json()["status"], r.json()["assignee"]) == ("dispatched", None)
        clock.advance(timedelta(days=2))
        result = await run_sweeps(app.state.db)
        assert (result.reminded, result.reassigned) == (1, 0)
        assert (await run_sweeps(app.state.db)).reminded == 0
        report = await session.get(Report, rid)
        assert report is not None
        await session.refresh(report)
        assert (report.status, report.assignee_id, report.owner_level) == (
            "dispatched",
            None,
            "department",
        )
