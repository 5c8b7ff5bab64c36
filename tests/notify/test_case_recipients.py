"""Who a case event notifies beyond dispatch and resolution (DESIGN §8):
a reopened case its owner, a 督办 note its handler, a case arriving in a queue
(no grid, returned, escalated, routed to a department) the admins of that
queue or the department's staff, an overdue queue its admins. Consents are
used as for every message, and nobody who cannot open the case is told."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from app.notify.models import SubscribeConsent
from app.notify.service import KIND
from app.org.models import Department, Region
from app.outbox.models import OutboxMessage
from app.reports.models import Category, Report
from app.reports.service import add_event
from app.reports.sweeps import run_sweeps
from app.users.models import Membership, User
from tests.factories import auth, make_staff, make_tree, make_user
from tests.reports.helpers import IN_GRID, NOWHERE, World, act, make_world, submit, wgs

START = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
TYPES = (
    "report_dispatched",
    "report_resolved",
    "report_rejected",
    "task_new",
    "task_reminder",
    "task_escalated",
)


async def reachable(session: AsyncSession, settings: Settings, *users: User) -> None:
    """Bound to WeChat, with consents left for every message type."""
    for user in users:
        user.openid = user.openid or f"wx-{user.id}"
        for message_type in TYPES:
            template = settings.wechat_subscribe_templates[message_type].template_id
            session.add(SubscribeConsent(user_id=user.id, template_id=template, remaining=5))
    await session.flush()


class Outbox:
    """The subscribe messages written since the last ``new()``."""

    def __init__(self, session: AsyncSession) -> None:
        self.session, self.seen = session, 0

    async def mark(self) -> None:
        last = await self.session.scalar(select(func.max(OutboxMessage.id)))
        self.seen = last or 0

    async def new(self) -> list[tuple[str, int]]:
        rows = await self.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == KIND, OutboxMessage.id > self.seen)
            .order_by(OutboxMessage.id)
        )
        told = [(m.payload["type"], m.payload["user_id"]) for m in rows]
        await self.mark()
        return told

    async def last_message(self) -> dict[str, object]:
        row = await self.session.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.kind == KIND)
            .order_by(OutboxMessage.id.desc())
        )
        assert row is not None
        return row.payload["message"]  # type: ignore[no-any-return]


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    w = await make_world(session, settings)
    await reachable(
        session,
        settings,
        w.worker,
        w.other_worker,
        w.far_worker,
        w.leader,
        w.community_admin,
        w.other_community_admin,
        w.street_admin,
        w.resident,
    )
    return w


@pytest.fixture
async def outbox(session: AsyncSession) -> Outbox:
    return Outbox(session)


async def _in_progress(client: httpx.AsyncClient, world: World) -> int:
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid: int = r.json()["id"]
    assert (await act(client, world.h(world.worker), rid, "accept")).status_code == 200
    return rid


async def _department(session: AsyncSession, region: Region, name: str) -> Department:
    department = Department(name=name, region_id=region.id, category_codes=[])
    session.add(department)
    await session.flush()
    return department


async def test_a_reopened_case_tells_the_owner_it_goes_back_to(
    client: httpx.AsyncClient, world: World, outbox: Outbox
) -> None:
    rid = await _in_progress(client, world)
    r = await act(client, world.h(world.worker), rid, "resolve", {"note": "已清运"})
    assert r.status_code == 200, r.text
    await outbox.mark()
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    assert r.json()["assignee"]["id"] == world.worker.id
    assert await outbox.new() == [("task_new", world.worker.id)]


async def test_a_supervise_note_tells_the_handler(
    client: httpx.AsyncClient, world: World, outbox: Outbox, settings: Settings
) -> None:
    rid = await _in_progress(client, world)
    await outbox.mark()
    r = await act(client, world.h(world.street_admin), rid, "supervise", {"note": "请今天内处理完"})
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("task_reminder", world.worker.id)]
    message = await outbox.last_message()
    assert (
        message["template_id"] == settings.wechat_subscribe_templates["task_reminder"].template_id
    )
    assert message["data"]["thing4"] == {"value": "请今天内处理完"}  # type: ignore[index]
    # The deadline shown is the one the handler works to now: the case was
    # accepted, so its resolution deadline, not the long-past response one.
    due = datetime.fromisoformat(r.json()["resolve_due_at"]).astimezone(SHANGHAI)
    assert message["data"]["time3"] == {"value": f"{due:%Y-%m-%d %H:%M}"}  # type: ignore[index]


async def test_a_supervise_note_on_a_queued_case_tells_the_queues_admins(
    client: httpx.AsyncClient, world: World, outbox: Outbox, session: AsyncSession
) -> None:
    other_street_admin = await make_staff(session, "street_admin", world.tree.street)
    district_admin = await make_staff(session, "district_admin", world.tree.district)
    await reachable(session, world.settings, other_street_admin, district_admin)
    r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
    rid = r.json()["id"]
    await outbox.mark()
    r = await act(client, world.h(district_admin), rid, "supervise", {"note": "尽快派单"})
    assert r.status_code == 200, r.text
    assert sorted(await outbox.new()) == sorted(
        [("task_reminder", world.street_admin.id), ("task_reminder", other_street_admin.id)]
    )
    # The one who supervises is not told of their own note.
    r = await act(client, world.h(world.street_admin), rid, "supervise", {"note": "今天派出"})
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("task_reminder", other_street_admin.id)]


async def test_a_case_without_a_grid_tells_the_street_admins_not_the_communities(
    client: httpx.AsyncClient, world: World, outbox: Outbox
) -> None:
    await outbox.mark()
    r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    # Community admins cannot open a case that waits at the street: nothing for them.
    assert await outbox.new() == [("task_new", world.street_admin.id)]


async def test_escalation_to_the_community_tells_its_admins_only(
    client: httpx.AsyncClient, world: World, outbox: Outbox
) -> None:
    rid = await _in_progress(client, world)
    await outbox.mark()
    r = await act(
        client, world.h(world.worker), rid, "escalate", {"reason": "需社区协调", "to": "community"}
    )
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("task_new", world.community_admin.id)]

    r = await act(client, world.h(world.community_admin), rid, "accept")
    assert r.status_code == 200, r.text
    await outbox.mark()
    r = await act(
        client,
        world.h(world.community_admin),
        rid,
        "escalate",
        {"reason": "需街道协调", "to": "street"},
    )
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("task_new", world.street_admin.id)]


async def test_escalation_to_a_department_tells_its_staff_only(
    client: httpx.AsyncClient, world: World, outbox: Outbox, session: AsyncSession
) -> None:
    department = await _department(session, world.tree.district, "城管局")
    other = await _department(session, world.tree.district, "住建局")
    staff = await make_staff(
        session, "department_staff", world.tree.district, department=department
    )
    other_staff = await make_staff(
        session, "department_staff", world.tree.district, department=other
    )
    await reachable(session, world.settings, staff, other_staff)
    rid = await _in_progress(client, world)
    await outbox.mark()
    body = {"reason": "需要职能部门处理", "to": "department", "department_id": department.id}
    r = await act(client, world.h(world.worker), rid, "escalate", body)
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("task_new", staff.id)]


async def test_a_category_routed_to_a_department_tells_its_staff(
    client: httpx.AsyncClient, world: World, outbox: Outbox, session: AsyncSession
) -> None:
    department = await _department(session, world.tree.district, "供电公司")
    other = await _department(session, world.tree.district, "供水公司")
    staff = await make_staff(
        session, "department_staff", world.tree.district, department=department
    )
    other_staff = await make_staff(
        session, "department_staff", world.tree.district, department=other
    )
    await reachable(session, world.settings, staff, other_staff)
    await session.execute(
        update(Category)
        .where(Category.code == "water_power")
        .values(routing="department", department_id=department.id)
    )
    await session.flush()
    await outbox.mark()
    r = await submit(client, world.h(world.resident), category="water_power", location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "dispatched"
    assert sorted(await outbox.new()) == sorted(
        [("report_dispatched", world.resident.id), ("task_new", staff.id)]
    )


async def test_a_returned_case_tells_the_community_admins(
    client: httpx.AsyncClient, world: World, outbox: Outbox
) -> None:
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    rid = r.json()["id"]
    await outbox.mark()
    r = await act(client, world.h(world.worker), rid, "return", {"reason": "不属于本网格"})
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("task_new", world.community_admin.id)]


async def test_queue_messages_use_consents_like_every_message(
    client: httpx.AsyncClient, world: World, outbox: Outbox, session: AsyncSession
) -> None:
    unsubscribed = await make_staff(session, "street_admin", world.tree.street)
    unsubscribed.openid = "wx-unsubscribed"
    template = world.settings.wechat_subscribe_templates["task_new"].template_id
    await outbox.mark()
    r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
    assert r.status_code == 201, r.text
    assert await outbox.new() == [("task_new", world.street_admin.id)]
    consent = await session.scalar(
        select(SubscribeConsent.remaining).where(
            SubscribeConsent.user_id == world.street_admin.id,
            SubscribeConsent.template_id == template,
        )
    )
    assert consent == 4


async def test_the_previous_owner_who_can_no_longer_open_the_case_is_not_told(
    client: httpx.AsyncClient, app: FastAPI, world: World, outbox: Outbox
) -> None:
    """A street admin gave the case to a worker of another community; escalated
    for lateness, it goes to the community of the case, which that worker
    cannot open: the community's admins are told, the worker is not."""
    with clock.frozen(START):
        r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
        rid = r.json()["id"]
        body = {"assignee_id": world.far_worker.id, "reason": "就近处理"}
        r = await act(client, world.h(world.street_admin), rid, "transfer", body)
        assert r.status_code == 200, r.text
        r = await act(client, world.h(world.far_worker), rid, "accept")
        assert r.status_code == 200, r.text
        due = datetime.fromisoformat(r.json()["resolve_due_at"])
        clock.set_now(due + timedelta(minutes=1))
        await outbox.mark()
        assert (await run_sweeps(app.state.db)).escalated == 1
        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.far_worker))
        assert r.status_code == 404
        assert await outbox.new() == [("task_new", world.community_admin.id)]


async def test_an_overdue_queue_reminds_its_admins(
    client: httpx.AsyncClient, app: FastAPI, world: World, outbox: Outbox
) -> None:
    with clock.frozen(START):
        r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
        assert r.status_code == 201, r.text
        rid = await _in_progress(client, world)
        r = await act(
            client,
            world.h(world.worker),
            rid,
            "escalate",
            {"reason": "需社区协调", "to": "community"},
        )
        assert r.status_code == 200, r.text
        await outbox.mark()
        clock.advance(timedelta(minutes=61))
        assert (await run_sweeps(app.state.db)).reminded == 2
        assert sorted(await outbox.new()) == sorted(
            [("task_reminder", world.street_admin.id), ("task_reminder", world.community_admin.id)]
        )
        assert (await run_sweeps(app.state.db)).reminded == 0
        assert await outbox.new() == []


async def test_a_community_queue_tells_no_one_outside_the_community(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, outbox: Outbox
) -> None:
    """A case left in a community queue because nobody of the community can
    take it: the other community's admin and the reporter are not told."""
    tree = await make_tree(session)
    admin = await make_staff(session, "community_admin", tree.community)
    other = await make_staff(session, "community_admin", tree.other_community)
    resident = await make_user(session)
    await reachable(session, settings, admin, other, resident)
    admin.disabled = True  # else automatic dispatch gives the case to them
    await session.flush()
    await outbox.mark()
    r = await submit(client, auth(settings, resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    assert await outbox.new() == []


async def test_an_sos_nobody_could_take_still_tells_the_grid_leader(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, outbox: Outbox
) -> None:
    tree = await make_tree(session)
    leader = await make_staff(session, "grid_leader", tree.grid, on_duty=False)
    resident = await make_user(session)
    await reachable(session, settings, leader, resident)
    await outbox.mark()
    r = await client.post(
        "/api/v1/reports",
        headers=auth(settings, resident),
        json={"kind": "sos", "category": "sos", "location": wgs(IN_GRID)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    assert await outbox.new() == [("task_new", leader.id)]


async def test_one_change_tells_a_person_one_thing_once(
    client: httpx.AsyncClient, world: World, outbox: Outbox, session: AsyncSession
) -> None:
    """Two events of one transaction that give the same person the same news
    (a case put back in a queue, then routed into it) write one message."""
    r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
    report = await session.get(Report, r.json()["id"])
    assert report is not None
    await outbox.mark()
    await add_event(session, report, "returned", actor_role="system")
    await add_event(session, report, "queued", actor_role="system")
    await session.flush()
    assert await outbox.new() == [("task_new", world.street_admin.id)]


async def test_a_queue_nobody_active_holds_falls_to_the_level_above(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, outbox: Outbox
) -> None:
    """A community whose only admin is disabled: its queue tells the street's
    admins (who may dispatch there), never the other community's."""
    tree = await make_tree(session)
    admin = await make_staff(session, "community_admin", tree.community)
    other = await make_staff(session, "community_admin", tree.other_community)
    street_admin = await make_staff(session, "street_admin", tree.street)
    resident = await make_user(session)
    await reachable(session, settings, admin, other, street_admin, resident)
    admin.disabled = True
    await session.flush()
    await outbox.mark()
    r = await submit(client, auth(settings, resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    assert await outbox.new() == [("task_new", street_admin.id)]

    # An admin appointed again: the queue is theirs, the street is not told.
    admin.disabled = False
    await session.flush()
    report = await session.get(Report, r.json()["id"])
    assert report is not None
    await add_event(session, report, "reminded", actor_role="system")
    await session.flush()
    assert await outbox.new() == [("task_reminder", admin.id)]


async def test_a_department_without_staff_tells_the_admins_of_its_region(
    client: httpx.AsyncClient, world: World, outbox: Outbox, session: AsyncSession
) -> None:
    department = await _department(session, world.tree.street, "街道城管中队")
    rid = await _in_progress(client, world)
    await outbox.mark()
    body = {"reason": "需要职能部门处理", "to": "department", "department_id": department.id}
    r = await act(client, world.h(world.worker), rid, "escalate", body)
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("task_new", world.street_admin.id)]


async def test_a_queue_with_no_admin_anywhere_tells_the_superadmins(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, outbox: Outbox
) -> None:
    await make_tree(session)
    resident = await make_user(session)
    root = await make_user(session, kind="staff", name="系统管理员", username="root-notify")
    session.add(Membership(user_id=root.id, role="superadmin", region_id=None))
    await reachable(session, settings, root, resident)
    await outbox.mark()
    r = await submit(client, auth(settings, resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    assert await outbox.new() == [("task_new", root.id)]


async def test_a_rejected_case_tells_its_reporter_why(
    client: httpx.AsyncClient, world: World, outbox: Outbox
) -> None:
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    rid = r.json()["id"]
    await outbox.mark()
    body = {"reason": "不属于本辖区职责，请拨打12345"}
    r = await act(client, world.h(world.community_admin), rid, "reject", body)
    assert r.status_code == 200, r.text
    assert await outbox.new() == [("report_rejected", world.resident.id)]
    message = await outbox.last_message()
    data = message["data"]
    assert isinstance(data, dict)
    assert data["thing5"]["value"] == "不属于本辖区职责，请拨打12345"
    assert data["phrase3"]["value"] == "已驳回"
