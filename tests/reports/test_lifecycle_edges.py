"""Edges of the lifecycle (DESIGN §4): a reopen whose last owner can no longer
act, duplicates of dead cases, escalation that is not upward, queue deadlines,
the resolution clock after an escalation, extension requests across a
resolution and a reopen, the approver of a department's request, and the
order of the checks (role, then scope, then state)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from app.org.models import Department
from app.reports.models import ExtensionRequest, Report
from app.reports.sweeps import run_sweeps
from app.users.models import Membership, User
from tests.factories import make_staff
from tests.reports.helpers import IN_GRID, NOWHERE, World, act, make_world, submit, wgs

# A working-day Wednesday morning, far from any holiday.
T0 = datetime(2026, 11, 18, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def at(body: dict[str, Any], key: str) -> datetime:
    return datetime.fromisoformat(body[key])


async def _case(client: httpx.AsyncClient, world: World, **fields: Any) -> int:
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID), **fields)
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == world.worker.id
    return r.json()["id"]  # type: ignore[no-any-return]


async def _accepted(client: httpx.AsyncClient, world: World) -> int:
    rid = await _case(client, world)
    assert (await act(client, world.h(world.worker), rid, "accept")).status_code == 200
    return rid


async def _resolved(client: httpx.AsyncClient, world: World) -> int:
    rid = await _accepted(client, world)
    r = await act(client, world.h(world.worker), rid, "resolve", {"note": "已清运"})
    assert r.status_code == 200, r.text
    return rid


async def _timeline(client: httpx.AsyncClient, world: World, rid: int) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.street_admin))
    assert r.status_code == 200, r.text
    return r.json()["timeline"]  # type: ignore[no-any-return]


async def _column(session: AsyncSession, rid: int, column: Any) -> Any:
    return await session.scalar(select(column).where(Report.id == rid))


# ------------------------------------------------------------ 1. reopen


async def _lose(session: AsyncSession, user: User, how: str) -> None:
    """``user`` can no longer act: disabled, deleted, or without their role."""
    if how == "disabled":
        await session.execute(update(User).where(User.id == user.id).values(disabled=True))
    elif how == "deleted":
        await session.execute(update(User).where(User.id == user.id).values(deleted_at=clock.now()))
    else:
        await session.execute(delete(Membership).where(Membership.user_id == user.id))
    await session.flush()


@pytest.mark.parametrize("how", ["disabled", "deleted", "role_removed"])
async def test_reopen_goes_through_dispatch_when_the_last_owner_cannot_act(
    client: httpx.AsyncClient, world: World, session: AsyncSession, how: str
) -> None:
    rid = await _resolved(client, world)
    await _lose(session, world.worker, how)
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    body = r.json()
    # The grid's chain picks the next person (no other worker: the grid leader),
    # who signs for it like any dispatched case.
    assert body["status"] == "dispatched"
    assert body["assignee"]["id"] == world.leader.id
    assert body["response_due_at"] is not None
    assert body["resolve_due_at"] is not None
    assert body["reopen_count"] == 1
    events = await _timeline(client, world, rid)
    reopened = next(e for e in events if e["type"] == "reopened")
    assert reopened["to_status"] == "submitted"
    assert events[-1]["type"] == "dispatched"
    assert events[-1]["from_status"] == "submitted"
    assert events[-1]["to_status"] == "dispatched"
    r = await act(client, world.h(world.leader), rid, "accept")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"


async def test_reopen_with_nobody_to_take_it_waits_in_the_community_queue(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    with clock.frozen(T0):
        rid = await _resolved(client, world)
        for user in (world.worker, world.leader, world.community_admin):
            await _lose(session, user, "disabled")
        clock.advance(timedelta(hours=2))
        r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "submitted"
    assert body["assignee"] is None
    # The queue has a response deadline from the reopen.
    assert at(body, "response_due_at") == T0 + timedelta(hours=2, minutes=60)
    assert await _column(session, rid, Report.owner_level) == "community"
    assert await _column(session, rid, Report.owner_region_id) == world.tree.community.id
    reopened = next(e for e in await _timeline(client, world, rid) if e["type"] == "reopened")
    assert reopened["to_status"] == "submitted"
    # An admin over the case dispatches it again.
    r = await act(
        client, world.h(world.street_admin), rid, "dispatch", {"assignee_id": world.other_worker.id}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"


async def test_a_departments_case_reopened_without_its_staff_goes_to_the_departments_queue(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    department = Department(
        name="城管局", region_id=world.tree.district.id, category_codes=["environment"]
    )
    session.add(department)
    await session.flush()
    staff, colleague = [
        await make_staff(session, "department_staff", world.tree.district, department=department)
        for _ in range(2)
    ]
    rid = await _accepted(client, world)
    r = await act(client, world.h(world.worker), rid, "escalate",
                  {"reason": "需要职能部门处理", "to": "department", "department_id": department.id})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await act(client, world.h(staff), rid, "accept")).status_code == 200
    assert (
        await act(client, world.h(staff), rid, "resolve", {"note": "已处理"})
    ).status_code == 200
    await _lose(session, staff, "disabled")
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["assignee"]) == ("dispatched", None)
    r = await client.get("/api/v1/worker/tasks", headers=world.h(colleague))
    assert rid in [i["id"] for i in r.json()["items"]]
    r = await act(client, world.h(colleague), rid, "accept")
    assert r.status_code == 200, r.text
    assert r.json()["assignee"]["id"] == colleague.id


async def test_a_case_a_community_took_over_goes_back_to_the_communitys_queue(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    rid = await _accepted(client, world)
    r = await act(client, world.h(world.worker), rid, "escalate",
                  {"reason": "需社区协调", "to": "community"})  # fmt: skip
    assert r.status_code == 200, r.text
    admin = world.h(world.community_admin)
    assert (await act(client, admin, rid, "accept")).status_code == 200
    assert (await act(client, admin, rid, "resolve", {"note": "已协调处理"})).status_code == 200
    await _lose(session, world.community_admin, "role_removed")
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    # Not handed back down to the grid it was escalated from.
    assert (r.json()["status"], r.json()["assignee"]) == ("submitted", None)
    assert await _column(session, rid, Report.owner_level) == "community"
    r = await act(
        client, world.h(world.street_admin), rid, "dispatch", {"assignee_id": world.leader.id}
    )
    assert r.status_code == 200, r.text


async def test_reopen_records_why_the_last_owner_was_passed_over(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    rid = await _resolved(client, world)
    await _lose(session, world.worker, "disabled")
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    from app.reports.models import ReportEvent

    data = await session.scalar(
        select(ReportEvent.data).where(ReportEvent.report_id == rid, ReportEvent.type == "reopened")
    )
    assert data["previous_assignee_id"] == world.worker.id
    assert data["reason"] == "last_owner_unavailable"


async def test_reopen_still_goes_back_to_an_owner_who_can_act(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = await _resolved(client, world)
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    assert r.json()["assignee"]["id"] == world.worker.id


# ------------------------------------------------------------ 2. duplicates


async def _reject(
    client: httpx.AsyncClient, world: World, rid: int, duplicate_of: int | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"reason": "重复提交"}
    if duplicate_of is not None:
        body["duplicate_of"] = duplicate_of
    return await act(client, world.h(world.community_admin), rid, "reject", body)


@pytest.mark.parametrize("fate", ["rejected", "cancelled"])
async def test_a_duplicate_must_point_at_a_live_case(
    client: httpx.AsyncClient, world: World, fate: str
) -> None:
    original = await _case(client, world)
    second = await _case(client, world)
    if fate == "rejected":
        assert (await _reject(client, world, original)).status_code == 200
    else:
        assert (await act(client, world.h(world.resident), original, "cancel")).status_code == 200
    r = await _reject(client, world, second, original)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "report.duplicate_of_invalid"
    assert r.json()["error"]["message"]
    r = await client.get(f"/api/v1/reports/{second}", headers=world.h(world.community_admin))
    assert r.json()["status"] == "dispatched"


async def test_duplicates_cannot_form_a_cycle(client: httpx.AsyncClient, world: World) -> None:
    a = await _case(client, world)
    b = await _case(client, world)
    c = await _case(client, world)
    assert (await _reject(client, world, a, b)).status_code == 200
    # B is the live original of A: marking it a duplicate of A would lose both.
    r = await _reject(client, world, b, a)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "report.duplicate_of_invalid"
    # A third copy names the duplicate: refused too, with the original to use.
    r = await _reject(client, world, c, a)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["original_id"] == b
    assert (await _reject(client, world, c, b)).status_code == 200


# ------------------------------------------------------------ 3. escalation


async def test_escalation_only_goes_up(client: httpx.AsyncClient, world: World) -> None:
    worker, community = world.h(world.worker), world.h(world.community_admin)
    rid = await _accepted(client, world)
    r = await act(client, worker, rid, "escalate", {"reason": "需社区协调", "to": "community"})
    assert r.status_code == 200, r.text
    r = await act(client, community, rid, "accept")
    assert r.status_code == 200, r.text
    before = r.json()
    r = await act(client, community, rid, "escalate", {"reason": "再报一次", "to": "community"})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "report.escalate_not_upward"
    assert r.json()["error"]["message"]
    after = (await client.get(f"/api/v1/reports/{rid}", headers=community)).json()
    assert after["status"] == "in_progress"
    assert after["response_due_at"] == before["response_due_at"]

    r = await act(client, community, rid, "escalate", {"reason": "需街道协调", "to": "street"})
    assert r.status_code == 200, r.text
    street = world.h(world.street_admin)
    assert (await act(client, street, rid, "accept")).status_code == 200
    for to in ("community", "street"):
        r = await act(client, street, rid, "escalate", {"reason": "往回推", "to": to})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "report.escalate_not_upward"
    events = [e["type"] for e in await _timeline(client, world, rid)]
    assert events.count("escalated") == 2


# ------------------------------------------------------------ 5. queue deadlines


async def test_return_gives_the_queue_a_response_deadline(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    with clock.frozen(T0):
        rid = await _case(client, world)
        first = await _column(session, rid, Report.first_response_due_at)
        clock.advance(timedelta(minutes=20))
        r = await act(client, world.h(world.worker), rid, "return", {"reason": "不属于本网格"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted"
    assert at(r.json(), "response_due_at") == T0 + timedelta(minutes=80)
    assert await _column(session, rid, Report.first_response_due_at) == first


async def test_dispatch_keeps_the_first_response_deadline_from_receipt(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    with clock.frozen(T0):
        r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
        rid = r.json()["id"]
        assert r.json()["status"] == "submitted"
        # A queued case's response clock runs from receipt.
        received = T0 + timedelta(minutes=60)
        await session.execute(
            update(Report).where(Report.id == rid).values(first_response_due_at=received)
        )
        await session.flush()
        clock.advance(timedelta(hours=3))
        r = await act(
            client, world.h(world.street_admin), rid, "dispatch", {"assignee_id": world.worker.id}
        )
    assert r.status_code == 200, r.text
    assert at(r.json(), "response_due_at") == T0 + timedelta(hours=3, minutes=60)
    assert await _column(session, rid, Report.first_response_due_at) == received


# ------------------------------------------------------------ 6. resolution clock


async def test_accepting_an_escalated_case_keeps_the_resolution_deadline(
    client: httpx.AsyncClient, world: World
) -> None:
    worker, community = world.h(world.worker), world.h(world.community_admin)
    with clock.frozen(T0):
        rid = await _case(client, world)
        due = at((await act(client, worker, rid, "accept")).json(), "resolve_due_at")
        clock.advance(timedelta(hours=5))
        r = await act(client, worker, rid, "escalate", {"reason": "需社区协调", "to": "community"})
        assert r.status_code == 200, r.text
        clock.advance(timedelta(hours=5))
        r = await act(client, community, rid, "accept")
    assert r.status_code == 200, r.text
    assert at(r.json(), "resolve_due_at") == due


async def test_accepting_an_overdue_escalated_case_keeps_it_overdue(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    with clock.frozen(T0):
        rid = await _case(client, world)
        due = at((await act(client, world.h(world.worker), rid, "accept")).json(), "resolve_due_at")
        clock.set_now(due + timedelta(minutes=1))
        assert (await run_sweeps(app.state.db)).escalated == 1
        clock.advance(timedelta(hours=1))
        r = await act(client, world.h(world.community_admin), rid, "accept")
        assert r.status_code == 200, r.text
        assert at(r.json(), "resolve_due_at") == due
        assert r.json()["overdue"] is True
        r = await client.get(
            "/api/v1/admin/reports",
            params={"overdue": "true"},
            headers=world.h(world.community_admin),
        )
        assert rid in [i["id"] for i in r.json()["items"]]


async def test_a_case_escalated_for_being_late_stays_overdue_while_it_waits(
    client: httpx.AsyncClient, world: World, app: Any
) -> None:
    """DESIGN §6 超期数: past a deadline. The overdue sweep escalates a case past
    its resolution deadline and gives the new owner a response deadline; while
    the case waits for them it is still past its resolution deadline, so the
    flag, both lists, the figures and the metrics all keep counting it."""
    from app.ops.metrics import METRICS

    admin = world.h(world.community_admin)
    with clock.frozen(T0):
        rid = await _case(client, world)
        due = at((await act(client, world.h(world.worker), rid, "accept")).json(), "resolve_due_at")
        clock.set_now(due + timedelta(minutes=1))
        assert (await run_sweeps(app.state.db)).escalated == 1
        clock.advance(timedelta(minutes=5))  # well inside the new response window
        r = await client.get(f"/api/v1/reports/{rid}", headers=admin)
        assert (r.json()["status"], r.json()["overdue"]) == ("escalated", True)
        for flag, expected in (("true", True), ("false", False)):
            r = await client.get("/api/v1/admin/reports", params={"overdue": flag}, headers=admin)
            assert (rid in [i["id"] for i in r.json()["items"]]) is expected, flag
        day = due.astimezone(SHANGHAI).date()
        window = {"from": str(day - timedelta(days=7)), "to": str(day + timedelta(days=1))}
        r = await client.get("/api/v1/stats/summary", params=window, headers=admin)
        assert r.json()["overdue_open"] == 1, r.text
        METRICS._db_read_at = 0.0
        text = (await client.get("/metrics")).text
        assert "ejiaren_reports_overdue 1.0" in text.splitlines()


async def test_answering_an_escalated_consultation_keeps_the_resolution_deadline(
    client: httpx.AsyncClient, world: World
) -> None:
    worker, community = world.h(world.worker), world.h(world.community_admin)
    with clock.frozen(T0):
        r = await submit(
            client,
            world.h(world.resident),
            kind="consultation",
            category="consultation",
            description="高龄津贴怎么申请，需要什么材料？",
            location=wgs(IN_GRID),
        )
        rid = r.json()["id"]
        due = at((await act(client, worker, rid, "accept")).json(), "resolve_due_at")
        r = await act(client, worker, rid, "escalate", {"reason": "需社区答复", "to": "community"})
        assert r.status_code == 200, r.text
        clock.advance(timedelta(days=1))
        r = await act(client, community, rid, "answer", {"note": "到社区党群服务中心办理"})
    assert r.status_code == 200, r.text
    assert at(r.json(), "resolve_due_at") == due


# ------------------------------------------------------------ 7. extensions


async def _ask(client: httpx.AsyncClient, world: World, rid: int, hours: int = 24) -> int:
    r = await act(
        client, world.h(world.worker), rid, "extension", {"hours": hours, "reason": "等配件"}
    )
    assert r.status_code == 200, r.text
    return r.json()["pending_extension"]["id"]  # type: ignore[no-any-return]


async def test_resolving_lapses_a_pending_extension(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    worker, resident = world.h(world.worker), world.h(world.resident)
    rid = await _accepted(client, world)
    ext_id = await _ask(client, world, rid)
    assert (await act(client, worker, rid, "resolve", {"note": "已清运"})).status_code == 200
    assert (
        await session.scalar(select(ExtensionRequest.status).where(ExtensionRequest.id == ext_id))
        == "lapsed"
    )
    r = await act(client, resident, rid, "reopen", {"reason": "又堆起来了"})
    assert r.status_code == 200, r.text
    assert r.json()["pending_extension"] is None
    due = at(r.json(), "resolve_due_at")
    # The old request can no longer be approved onto the new deadline …
    r = await act(
        client,
        world.h(world.community_admin),
        rid,
        f"extension/{ext_id}/decision",
        {"approve": True},
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "extension.lapsed"
    r = await client.get(f"/api/v1/reports/{rid}", headers=worker)
    assert at(r.json(), "resolve_due_at") == due
    # … and a new one may be asked for.
    await _ask(client, world, rid, hours=12)


@pytest.mark.parametrize("how", ["escalate", "transfer"])
async def test_a_pending_extension_lapses_when_the_case_leaves_the_asker(
    client: httpx.AsyncClient, world: World, session: AsyncSession, how: str
) -> None:
    """The new owner cannot grant themselves the old owner's request."""
    worker, community = world.h(world.worker), world.h(world.community_admin)
    rid = await _accepted(client, world)
    ext_id = await _ask(client, world, rid)
    if how == "escalate":
        r = await act(client, worker, rid, "escalate", {"reason": "需社区协调", "to": "community"})
        assert r.status_code == 200, r.text
        assert (await act(client, community, rid, "accept")).status_code == 200
    else:
        r = await act(
            client, community, rid, "transfer", {"assignee_id": world.leader.id, "reason": "改派"}
        )
        assert r.status_code == 200, r.text
    assert (
        await session.scalar(select(ExtensionRequest.status).where(ExtensionRequest.id == ext_id))
        == "lapsed"
    )
    before = at(
        (await client.get(f"/api/v1/reports/{rid}", headers=community)).json(), "resolve_due_at"
    )
    r = await act(client, community, rid, f"extension/{ext_id}/decision", {"approve": True})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "extension.lapsed"
    after = at(
        (await client.get(f"/api/v1/reports/{rid}", headers=community)).json(), "resolve_due_at"
    )
    assert after == before


async def test_answering_lapses_a_pending_extension(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    worker = world.h(world.worker)
    r = await submit(
        client,
        world.h(world.resident),
        kind="consultation",
        category="consultation",
        description="高龄津贴怎么申请，需要什么材料？",
        location=wgs(IN_GRID),
    )
    rid = r.json()["id"]
    assert (await act(client, worker, rid, "accept")).status_code == 200
    ext_id = await _ask(client, world, rid)
    assert (await act(client, worker, rid, "answer", {"note": "到社区办理"})).status_code == 200
    assert (
        await session.scalar(select(ExtensionRequest.status).where(ExtensionRequest.id == ext_id))
        == "lapsed"
    )


async def test_a_reopen_starts_a_fresh_deadline_without_old_extensions(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    worker, resident = world.h(world.worker), world.h(world.resident)
    with clock.frozen(T0):
        rid = await _accepted(client, world)
        ext_id = await _ask(client, world, rid, hours=24)
        r = await act(
            client,
            world.h(world.community_admin),
            rid,
            f"extension/{ext_id}/decision",
            {"approve": True},
        )
        assert r.status_code == 200, r.text
        assert (await act(client, worker, rid, "resolve", {"note": "已清运"})).status_code == 200
        clock.advance(timedelta(hours=3))
        r = await act(client, resident, rid, "reopen", {"reason": "又堆起来了"})
    assert r.status_code == 200, r.text
    # environment: simple, one natural day from the reopen.
    assert at(r.json(), "resolve_due_at") == T0 + timedelta(hours=3, days=1)
    assert await _column(session, rid, Report.extension_hours) == 0


# ------------------------------------------------------------ 8. department approver


async def test_a_street_departments_request_is_approved_by_the_street_not_the_community(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    department = Department(
        name="街道城管中队", region_id=world.tree.street.id, category_codes=["environment"]
    )
    session.add(department)
    await session.flush()
    staff = await make_staff(session, "department_staff", world.tree.street, department=department)
    rid = await _accepted(client, world)
    r = await act(client, world.h(world.worker), rid, "escalate",
                  {"reason": "需要职能部门处理", "to": "department", "department_id": department.id})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await act(client, world.h(staff), rid, "accept")).status_code == 200
    r = await act(client, world.h(staff), rid, "extension", {"hours": 48, "reason": "需协调施工"})
    assert r.status_code == 200, r.text
    ext_id = r.json()["pending_extension"]["id"]
    decision = f"extension/{ext_id}/decision"
    r = await act(client, world.h(world.community_admin), rid, decision, {"approve": True})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "extension.approver_level"
    r = await act(client, world.h(world.street_admin), rid, decision, {"approve": True})
    assert r.status_code == 200, r.text


# ------------------------------------------------------------ 9. role before state


STAFF_ACTIONS = [
    ("accept", None),
    ("progress", {"note": "我来看看"}),
    ("resolve", {"note": "已处理"}),
    ("answer", {"note": "已答复"}),
    ("return", {"reason": "不属于本网格"}),
    ("escalate", {"reason": "需社区协调", "to": "community"}),
    ("extension", {"hours": 24, "reason": "等配件"}),
    ("transfer", {"assignee_id": 1, "reason": "转给别人"}),
    ("dispatch", {"assignee_id": 1}),
    ("reject", {"reason": "无效"}),
    ("supervise", {"note": "请尽快处理"}),
]


@pytest.mark.parametrize("state", ["dispatched", "in_progress"])
@pytest.mark.parametrize(("action", "body"), STAFF_ACTIONS)
async def test_a_resident_on_a_staff_action_is_403_whatever_the_state(
    client: httpx.AsyncClient,
    world: World,
    state: str,
    action: str,
    body: dict[str, Any] | None,
) -> None:
    rid = await (_case if state == "dispatched" else _accepted)(client, world)
    for caller in (world.resident, world.other_resident):  # the reporter, and anyone else
        r = await act(client, world.h(caller), rid, action, body)
        assert r.status_code == 403, (caller.id, r.text)
        assert r.json()["error"]["code"] == "auth.staff_only"
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.resident))
    assert r.json()["status"] == state


async def test_rejecting_lapses_a_pending_extension(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    rid = await _accepted(client, world)
    ext_id = await _ask(client, world, rid)
    community = world.h(world.community_admin)
    r = await act(client, community, rid, "reject", {"reason": "不属于本辖区职责"})
    assert r.status_code == 200, r.text
    status = select(ExtensionRequest.status).where(ExtensionRequest.id == ext_id)
    assert await session.scalar(status) == "lapsed"
    r = await act(client, community, rid, f"extension/{ext_id}/decision", {"approve": True})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "extension.lapsed"
    assert "已办结" not in r.json()["error"]["message"] or "驳回" in r.json()["error"]["message"]


@pytest.mark.parametrize("action", ["dispatch", "transfer", "reject"])
async def test_an_admin_below_the_level_holding_a_case_does_not_move_it(
    client: httpx.AsyncClient, world: World, action: str
) -> None:
    """Escalated to the street, the case is the street's: the community admin
    (who may still supervise it) cannot hand it back to a grid worker, move it
    or reject it, which would undo the escalation; the street admin can."""
    rid = await _accepted(client, world)
    body = {"reason": "需街道协调", "to": "street"}
    assert (await act(client, world.h(world.worker), rid, "escalate", body)).status_code == 200
    bodies = {
        "dispatch": {"assignee_id": world.worker.id},
        "transfer": {"assignee_id": world.worker.id, "reason": "改派"},
        "reject": {"reason": "无效"},
    }
    r = await act(client, world.h(world.community_admin), rid, action, bodies[action])
    assert r.status_code == 403, r.text
    r = await act(client, world.h(world.community_admin), rid, "supervise", {"note": "请尽快"})
    assert r.status_code == 200, r.text
    r = await act(client, world.h(world.street_admin), rid, action, bodies[action])
    assert r.status_code == 200, r.text


async def test_dispatching_an_escalated_case_sets_who_holds_it(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    """Given to a grid worker, the case is back at the grid (no department left
    recorded as its owner); given to the admin of the level holding it, it stays
    at that level, and can still be escalated only upward."""
    department = Department(name="城管中队", region_id=world.tree.street.id, category_codes=[])
    session.add(department)
    await session.flush()
    rid = await _accepted(client, world)
    body = {"reason": "需职能部门", "to": "department", "department_id": department.id}
    assert (await act(client, world.h(world.worker), rid, "escalate", body)).status_code == 200
    street = world.h(world.street_admin)
    r = await act(client, street, rid, "dispatch", {"assignee_id": world.worker.id})
    assert r.status_code == 200, r.text
    report = await session.get(Report, rid)
    assert report is not None
    await session.refresh(report)
    assert (report.owner_level, report.owner_region_id, report.owner_department_id) == (
        "grid",
        world.tree.grid.id,
        None,
    )

    other = await _accepted(client, world)
    body = {"reason": "需街道协调", "to": "street"}
    assert (await act(client, world.h(world.worker), other, "escalate", body)).status_code == 200
    r = await act(client, street, other, "dispatch", {"assignee_id": world.street_admin.id})
    assert r.status_code == 200, r.text
    report = await session.get(Report, other)
    assert report is not None
    await session.refresh(report)
    assert (report.owner_level, report.owner_region_id) == ("street", world.tree.street.id)
    assert (await act(client, street, other, "accept")).status_code == 200
    r = await act(client, street, other, "escalate", {"reason": "下放社区", "to": "community"})
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "report.escalate_not_upward"


async def test_only_residents_follow_cases(client: httpx.AsyncClient, world: World) -> None:
    """Staff read the cases of their scope; a follow would open any other case's
    public view to them by its id."""
    rid = await _case(client, world)
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=world.h(world.far_worker))
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "report.follow_residents_only"
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.far_worker))
    assert r.status_code == 404
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=world.h(world.other_resident))
    assert r.status_code == 200, r.text
