"""Lifecycle actions on a case (DESIGN §4). Each one checks the caller's role
(403), loads the case locked for update if the caller may see it (404), checks
the state table (409) and the caller's right over the case, changes the case
and appends an event — all in the request's transaction, so two people acting
at once cannot both win.

An action whose outcome the state table cannot tell apart from a later one
(a transfer keeps the status) is judged against the case as the caller's
request found it: it reads who holds the case, where and in what state before
taking the lock, and a case that changed hands meanwhile — another action
committed while this one waited for the lock — is 409
``conflict.concurrent_update``.

Here: the handlers' actions (accept, progress, resolve, return,
escalate, transfer) and dispatch, with the locking and recording every action
shares; the resident's in ``resident_actions``, the admin's decisions in
``admin_actions``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.auth.principal import ADMIN_ROLES, WORKER_ROLES, Principal
from app.core import clock
from app.core.db import SQLITE_IMMEDIATE
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.media.service import load_owned_media
from app.org.models import Department, Region
from app.reports import access, escalation, extensions, sla
from app.reports.models import Category, Report, ReportEvent
from app.reports.schemas import (
    EscalateBody,
    NoteBody,
    ReasonBody,
    TransferBody,
)
from app.reports.service import add_event, start_resolution_clock
from app.reports.state import check, check_upward
from app.users.models import Membership, User


async def locked(session: AsyncSession, principal: Principal, report_id: int) -> Report:
    """The case, locked for update, if the caller may see it (404 otherwise)."""
    report, view = await access.get_visible(session, principal, report_id, for_update=True)
    return report


# What a transfer or a dispatch is decided on: who holds the case, where, in
# what state. A reminder or a progress note changing the row meanwhile is no
# conflict.
_OWNERSHIP = (
    Report.status,
    Report.assignee_id,
    Report.owner_level,
    Report.owner_region_id,
    Report.owner_department_id,
)


async def locked_as_seen(session: AsyncSession, principal: Principal, report_id: int) -> Report:
    """``locked``, and 409 ``conflict.concurrent_update`` when the case changed
    hands while this request waited for its lock: of two people acting at
    once, the second is refused rather than silently undoing the first (see
    the module docstring)."""
    seen = await _committed_ownership(session, report_id)
    report = await locked(session, principal, report_id)
    now = tuple(getattr(report, column.key) for column in _OWNERSHIP)
    if seen is not None and now != seen:
        raise Conflict("conflict.concurrent_update", "该诉求刚被他人处理，请刷新后重试")
    return report


async def _committed_ownership(session: AsyncSession, report_id: int) -> tuple[Any, ...] | None:
    """The case's ``_OWNERSHIP`` as last committed, read without waiting for
    the row lock. On PostgreSQL a plain read in the request's transaction
    (read committed: it sees the latest commit and takes no lock). On SQLite
    the request's first statement takes the write lock (``BEGIN IMMEDIATE``)
    and so would wait for the other writer's commit: read on a reader's
    connection of its own (WAL: readers never wait for the writer). Tests
    that bind every session to one connection read on it."""
    stmt = select(*_OWNERSHIP).where(Report.id == report_id)
    bind = session.bind
    if isinstance(bind, AsyncEngine) and bind.dialect.name == "sqlite":
        async with bind.execution_options(**{SQLITE_IMMEDIATE: False}).connect() as conn:
            row = (await conn.execute(stmt)).first()
    else:
        row = (await session.execute(stmt)).first()
    return tuple(row) if row is not None else None


async def move(
    session: AsyncSession,
    report: Report,
    action: str,
    event_type: str,
    principal: Principal | None,
    **event: Any,
) -> ReportEvent:
    before = report.status
    after = check(action, before)
    report.status = after
    report.updated_at = clock.now()
    return await add_event(
        session, report, event_type, actor=principal, from_status=before, to_status=after, **event
    )


async def keep_verdict(session: AsyncSession, event: ReportEvent, moderation: str) -> None:
    """The content-security verdict of a note a resident wrote: a note that is
    not ``pass`` is read only by its author and the staff (``detail.free_text``)."""
    if moderation == event.moderation:
        return
    await session.execute(
        update(ReportEvent).where(ReportEvent.id == event.id).values(moderation=moderation)
    )
    event.moderation = moderation


async def accept(session: AsyncSession, principal: Principal, report_id: int) -> Report:
    """签收: the assignee (or, for an escalated case, an owner of its queue).
    The resolution clock starts at the first acceptance only: accepting a case
    again after an escalation (the overdue sweep's too) keeps its deadline, so
    a late case stays late; extensions move it and a reopen sets a new one."""
    access.require_staff(principal)
    report = await locked(session, principal, report_id)
    check("accept", report.status)
    if report.status == "escalated" and report.assignee_id is None:
        if not _owns_queue(principal, report):
            raise Forbidden("report.not_handler", "只有上报到的社区、街道或部门可以签收")
    else:
        access.require_handler(principal, report)
    now = clock.now()
    report.assignee_id = report.last_assignee_id = principal.id
    report.accepted_at = now
    report.first_accepted_at = report.first_accepted_at or now
    if report.resolve_due_at is None:
        await start_resolution_clock(session, report, now)
    await move(
        session,
        report,
        "accept",
        "accepted",
        principal,
        data={
            "resolve_due_at": report.resolve_due_at.isoformat() if report.resolve_due_at else None
        },
    )
    return report


def require_admin_over_owner(principal: Principal, report: Report) -> None:
    if not access.is_admin_over_owner(principal, report):
        raise Forbidden("report.admin_only", "只有管辖该诉求当前所在层级的管理员可以执行此操作")


def _owns_queue(principal: Principal, report: Report) -> bool:
    """An owner of the queue a case waits in: its department's staff, or an admin
    whose subtree holds the community or street it was escalated to
    (``access.is_admin_over_owner``)."""
    if principal.is_superadmin:
        return True
    if report.owner_level == "department":
        return (
            report.owner_department_id is not None
            and report.owner_department_id in access.department_ids(principal)
        )
    return report.owner_region_id is not None and access.is_admin_over_owner(principal, report)


async def progress(
    session: AsyncSession, principal: Principal, report_id: int, body: NoteBody
) -> Report:
    access.require_staff(principal)
    report = await locked(session, principal, report_id)
    check("progress", report.status)
    access.require_handler(principal, report)
    media = await load_owned_media(session, owner_id=principal.id, media_ids=body.media_ids)
    await add_event(session, report, "progress", actor=principal, note=body.note, media=media)
    report.updated_at = clock.now()
    return report


async def resolve(
    session: AsyncSession,
    principal: Principal,
    report_id: int,
    body: NoteBody,
    *,
    answer: bool = False,
) -> Report:
    """办结 (or, for a consultation, 答复): the owner says it is done. A pending
    extension request lapses with it."""
    access.require_staff(principal)
    report = await locked(session, principal, report_id)
    action = "answer" if answer else "resolve"
    check(action, report.status)
    if answer and report.kind != "consultation":
        raise Conflict("report.not_consultation", "只有咨询类诉求可以答复")
    if answer and report.assignee_id is None:
        if not (access.is_admin_over_owner(principal, report) or _owns_queue(principal, report)):
            raise Forbidden("report.not_handler", "只有该诉求的经办人可以执行此操作")
    elif not (answer and access.is_admin_over_owner(principal, report)):
        access.require_handler(principal, report)
    media = await load_owned_media(session, owner_id=principal.id, media_ids=body.media_ids)
    now = clock.now()
    if report.accepted_at is None:  # answering a consultation straight away accepts it
        report.accepted_at = now
        report.first_accepted_at = report.first_accepted_at or now
    if report.resolve_due_at is None:
        # ... and so starts its resolution clock (the first time only, as
        # ``accept``): without a deadline the on-time rate (resolved by
        # resolve_due_at) counted the answer as late.
        await start_resolution_clock(session, report, now)
    report.assignee_id = report.last_assignee_id = principal.id
    report.resolver_id = principal.id
    report.resolved_at = now
    report.resolve_count += 1
    lapsed = await extensions.lapse_pending(session, report, now)
    await move(
        session,
        report,
        action,
        "answered" if answer else "resolved",
        principal,
        note=body.note,
        media=media,
        data={"lapsed_extension_ids": lapsed} if lapsed else None,
    )
    return report


async def return_case(
    session: AsyncSession, principal: Principal, report_id: int, body: ReasonBody
) -> Report:
    """退单: back to ``submitted`` in the community queue, for an admin to dispatch
    again. The queue owes the resident a response too: a new response deadline
    from now (``first_response_due_at``, what the figures judge, stays)."""
    access.require_staff(principal)
    report = await locked(session, principal, report_id)
    check("return", report.status)
    access.require_handler(principal, report)
    community_id = None
    if report.grid_id:
        grid = await session.get(Region, report.grid_id)
        community_id = grid.parent_id if grid else None
    category = await session.get(Category, report.category_id)
    assert category is not None
    report.assignee_id = None
    report.owner_level, report.owner_region_id = "community", community_id
    report.response_due_at = sla.response_due(clock.now(), category)
    await move(session, report, "return", "returned", principal, note=body.reason)
    return report


async def escalate(
    session: AsyncSession,
    principal: Principal,
    report_id: int,
    body: EscalateBody,
    *,
    by_sweep: bool = False,
) -> Report:
    """上报 one level: to the community, the street, or a department. The new owner
    is a queue; its response deadline starts now. Only upwards: to a level above
    the case's current owner (409 ``report.escalate_not_upward``)."""
    access.require_staff(principal)
    report = await locked(session, principal, report_id)
    check("escalate", report.status)
    access.require_handler(principal, report)
    check_upward(body.to, report.owner_level)
    await _escalate(session, report, body.to, body.department_id, principal, body.reason)
    return report


async def _escalate(
    session: AsyncSession,
    report: Report,
    to: str,
    department_id: int | None,
    principal: Principal | None,
    reason: str,
    *,
    action: str = "escalate",
) -> None:
    target: Region | None = None
    if to == "department":
        if department_id is None:
            raise Invalid("report.department_required", "上报到部门时必须选择部门")
        department = await _department_over(session, department_id, report)
        report.owner_level, report.owner_department_id = "department", department.id
        report.owner_region_id = department.region_id
    else:
        target = (await escalation.regions_above(session, report)).get(to)
        if target is None:
            raise Conflict("report.no_escalation_target", "找不到可上报的上级")
        report.owner_level, report.owner_region_id = to, target.id
        report.owner_department_id = None
    now = clock.now()
    category = await session.get(Category, report.category_id)
    assert category is not None
    report.assignee_id = None
    report.accepted_at = None
    report.response_due_at = sla.response_due(now, category)
    # A request for more time was the last owner's: the new owner asks for
    # their own, and cannot grant themselves the old one.
    lapsed = await extensions.lapse_pending(session, report, now)
    await move(
        session,
        report,
        action,
        "escalated",
        principal,
        note=reason,
        actor_role="system" if principal is None else None,
        data={
            "to": to,
            "region_id": target.id if target else None,
            "department_id": report.owner_department_id,
            **({"lapsed_extensions": lapsed} if lapsed else {}),
        },
    )


async def _department_over(session: AsyncSession, department_id: int, report: Report) -> Department:
    """A department whose region holds the case: its staff read the case and the
    reporter's contact, so a case never goes to another area's department. One
    outside is 404 like an unknown one, so its existence does not leak."""
    row = (
        await session.execute(
            select(Department, Region.path)
            .join(Region, Region.id == Department.region_id)
            .where(Department.id == department_id)
        )
    ).first()
    if row is None or not report.region_path or not report.region_path.startswith(row.path):
        raise NotFound("department.not_found", "部门不存在")
    return row[0]  # type: ignore[no-any-return]


async def transfer(
    session: AsyncSession, principal: Principal, report_id: int, body: TransferBody
) -> Report:
    """转派: to another person in the caller's scope; the status stays. Decided
    against the case as the request found it (``locked_as_seen``): of two
    transfers at once, the second is 409, not a silent overwrite."""
    access.require_staff(principal)
    report = await locked_as_seen(session, principal, report_id)
    check("transfer", report.status)
    if not (access.is_handler(principal, report) or access.is_admin_over_owner(principal, report)):
        raise Forbidden("report.not_handler", "只有经办人或管理员可以转派")
    if body.assignee_id == report.assignee_id:
        # It would change nothing, yet write a "transferred" event to the
        # timeline and notify the assignee of a case they already hold.
        if body.assignee_id == principal.id:
            raise Conflict("report.transfer_to_self", "不能转派给自己，请选择其他工作人员")
        raise Conflict("report.transfer_to_assignee", "该诉求已由此人经办，请选择其他工作人员")
    target, _ = await _staff_in_scope(session, principal, body.assignee_id, report)
    report.assignee_id = report.last_assignee_id = target.id
    now = clock.now()
    # The previous assignee's pending request lapses with the case leaving them.
    lapsed = await extensions.lapse_pending(session, report, now)
    await add_event(
        session,
        report,
        "transferred",
        actor=principal,
        note=body.reason,
        data={
            "assignee": {"id": target.id, "name": target.name},
            **({"lapsed_extensions": lapsed} if lapsed else {}),
        },
    )
    report.updated_at = now
    return report


async def _staff_in_scope(
    session: AsyncSession, principal: Principal, user_id: int, report: Report
) -> tuple[User, set[str]]:
    """A person who may take the case (DESIGN §4: "another person in the
    caller's scope"): active staff holding a worker or admin role inside the
    caller's scope, e.g. the worker of a neighbouring grid for a community
    admin; or a worker role over the case's region, e.g. the community's 网格长,
    to whom automatic dispatch itself falls back. 404 otherwise. With the
    roles the person holds."""
    user = await session.get(User, user_id)
    rows = (
        await session.execute(
            select(Membership.role, Region.path)
            .join(Region, Region.id == Membership.region_id)
            .where(Membership.user_id == user_id)
        )
    ).all()
    scope = principal.scope_paths(WORKER_ROLES | ADMIN_ROLES)  # not a department grant
    ok = any(
        role in WORKER_ROLES | ADMIN_ROLES
        and (
            scope is None
            or any(path.startswith(p) for p in scope)
            or (role in WORKER_ROLES and report.region_path.startswith(path))
        )
        for role, path in rows
    )
    if user is None or user.disabled or user.deleted_at is not None or not ok:
        raise NotFound("staff.not_found", "找不到可接手的工作人员")
    return user, {role for role, _ in rows}


async def dispatch(
    session: AsyncSession, principal: Principal, report_id: int, assignee_id: int
) -> Report:
    """人工派单 by an admin over the case (decided as ``transfer`` is). A new
    response deadline from now; ``first_response_due_at``, set when the case
    was received, stays."""
    access.require_staff(principal)
    report = await locked_as_seen(session, principal, report_id)
    check("dispatch", report.status)
    require_admin_over_owner(principal, report)
    target, roles = await _staff_in_scope(session, principal, assignee_id, report)
    if report.grid_id is None:
        # A case with no grid takes the grid of the person it is given to, if any.
        grid_id = await session.scalar(
            select(Membership.region_id)
            .join(Region, Region.id == Membership.region_id)
            .where(Membership.user_id == target.id, Region.level == "grid")
            .order_by(Membership.id)
            .limit(1)
        )
        if grid_id is not None:
            grid = await session.get(Region, grid_id)
            assert grid is not None
            report.grid_id, report.region_path = grid.id, grid.path
    category = await session.get(Category, report.category_id)
    assert category is not None
    now = clock.now()
    report.assignee_id = report.last_assignee_id = target.id
    if report.grid_id and roles & WORKER_ROLES:
        # Given to a worker: back at the grid, out of any queue or department.
        report.owner_level, report.owner_region_id = "grid", report.grid_id
        report.owner_department_id = None
    # Given to an admin of the level that holds it: it stays at that level (and
    # may still be escalated only upward from there).
    report.dispatched_at = now
    report.response_due_at = sla.response_due(now, category)
    # A case returned and dispatched again keeps the deadline it was first given.
    report.first_response_due_at = report.first_response_due_at or report.response_due_at
    await move(
        session,
        report,
        "dispatch",
        "dispatched",
        principal,
        data={
            "rule": "manual",
            "assignee": {"id": target.id, "name": target.name},
            "reason": "管理员人工派单",
        },
    )
    return report
