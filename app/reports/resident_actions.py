"""What a resident does on their case (DESIGN §4): rate it, mark an answer
helpful, reopen it within 7 days of resolution, cancel it before anyone
accepted it; and following an open case of someone else's. Checked and
recorded as every action is (``actions``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import clock
from app.core.errors import Conflict, Forbidden, NotFound
from app.core.orm import insert_or_skip
from app.org.models import Region
from app.reports import access, extensions, sla
from app.reports import dispatch as auto_dispatch
from app.reports.actions import keep_verdict, locked, move
from app.reports.models import Category, Report, ReportEvent, ReportFollow
from app.reports.schemas import RatingBody, ReasonBody
from app.reports.service import start_resolution_clock
from app.reports.state import check

REOPEN_WINDOW = timedelta(days=7)


async def rate(
    session: AsyncSession,
    principal: Principal,
    report_id: int,
    body: RatingBody,
    *,
    moderation: str = "pass",
) -> Report:
    """评价: once per resolution; any score closes the case. ``moderation``:
    the content-security verdict of the comment, kept with it (and with the
    event's note, which repeats it)."""
    report = await locked(session, principal, report_id)
    access.require_reporter(principal, report)
    check("rate", report.status)
    now = clock.now()
    report.rating_score, report.rating_comment, report.rated_at = body.score, body.comment, now
    report.rating_moderation = moderation if body.comment else None
    report.closed_at = now
    event = await move(
        session, report, "rate", "rated", principal, note=body.comment, data={"score": body.score}
    )
    if body.comment:
        await keep_verdict(session, event, moderation)
    return report


async def helpful(session: AsyncSession, principal: Principal, report_id: int) -> Report:
    report = await locked(session, principal, report_id)
    access.require_reporter(principal, report)
    if report.kind != "consultation":
        raise Conflict("report.not_consultation", "只有咨询类诉求可以标记答复有用")
    check("helpful", report.status)
    report.helpful = True
    report.closed_at = clock.now()
    await move(session, report, "helpful", "helpful", principal)
    return report


async def reopen(
    session: AsyncSession,
    principal: Principal,
    report_id: int,
    body: ReasonBody,
    *,
    moderation: str = "pass",
) -> Report:
    """重办: within 7 days of resolution, back to the last owner, ``in_progress``
    with a new resolution deadline. The deadline is a fresh one: extensions
    approved for the last round do not carry over (``extension_hours`` back to
    0), and a request still pending lapses. A last owner who can no longer act
    (``access.may_own``: account disabled or deleted, or no role left over the
    case) is passed over: see ``_reopen_afresh``. ``moderation``: the
    content-security verdict of the reason."""
    report = await locked(session, principal, report_id)
    access.require_reporter(principal, report)
    check("reopen", report.status)
    now = clock.now()
    if report.resolved_at is None or now - report.resolved_at > REOPEN_WINDOW:
        raise Conflict("report.reopen_window_passed", "办结已超过 7 天，不能再要求重办")
    previous = report.resolver_id or report.last_assignee_id
    report.closed_at = None
    report.reopen_count += 1
    report.overdue_at = None
    report.extension_hours = 0
    await extensions.lapse_pending(session, report, now)
    await start_resolution_clock(session, report, now)
    due = report.resolve_due_at.isoformat() if report.resolve_due_at else None
    if await access.may_own(session, previous, report):
        report.assignee_id = previous
        # Back in progress with the owner who accepted it: when they accepted
        # stays what it was (the figures and the clients read it).
        report.accepted_at = report.accepted_at or now
        event = await move(
            session,
            report,
            "reopen",
            "reopened",
            principal,
            note=body.reason,
            data={"assignee_id": report.assignee_id, "resolve_due_at": due},
        )
    else:
        event = await _reopen_afresh(session, report, principal, previous, body.reason, due, now)
    await keep_verdict(session, event, moderation)
    return report


async def _reopen_afresh(
    session: AsyncSession,
    report: Report,
    principal: Principal,
    previous: int | None,
    reason: str,
    due: str | None,
    now: datetime,
) -> ReportEvent:
    """The reopened case's last owner can no longer act: it goes back to the
    queue (``submitted``, with a response deadline from now) and is dispatched
    afresh as a new case would be (DESIGN §5): a grid-level case through the
    grid's chain (``dispatch.choose``), a department's case to the
    department's queue; with nobody to take it, or for a case a community or
    street had taken over, it waits in that queue for an admin. The new owner
    signs for it (``dispatched``); its resolution deadline runs from the reopen."""
    category = await session.get(Category, report.category_id)
    assert category is not None
    report.assignee_id = None
    report.accepted_at = None
    report.response_due_at = sla.response_due(now, category)
    grid = await session.get(Region, report.grid_id) if report.grid_id else None
    choice: auto_dispatch.Choice | None = None
    if report.owner_level == "grid" and grid is not None:
        choice = await auto_dispatch.choose(session, grid, sos=report.kind == "sos")
        if choice.user is None:
            report.owner_level, report.owner_region_id = "community", grid.parent_id
    event = await move(
        session,
        report,
        "reopen_to_queue",
        "reopened",
        principal,
        note=reason,
        data={
            "assignee_id": None,
            "resolve_due_at": due,
            "reason": "last_owner_unavailable",
            "previous_assignee_id": previous,
            "queue": {"level": report.owner_level, "region_id": report.owner_region_id},
        },
    )
    routed: dict[str, Any] | None = None
    if choice is not None and choice.user is not None and grid is not None:
        report.assignee_id = report.last_assignee_id = choice.user.id
        report.owner_region_id = grid.id
        routed = choice.data(grid)
    elif report.owner_level == "department" and report.owner_department_id is not None:
        routed = {
            "rule": "department_queue",
            "department_id": report.owner_department_id,
            "reason": "原经办人已无法办理，进入部门待签收队列",
        }
    if routed is not None:
        report.dispatched_at = now
        await move(
            session, report, "dispatch", "dispatched", None, actor_role="system", data=routed
        )
    return event


async def cancel(session: AsyncSession, principal: Principal, report_id: int) -> Report:
    report = await locked(session, principal, report_id)
    access.require_reporter(principal, report)
    check("cancel", report.status)
    if report.first_accepted_at is not None:
        raise Conflict("report.already_accepted", "诉求已被签收，不能撤销")
    report.closed_at = clock.now()
    await move(session, report, "cancel", "cancelled", principal)
    return report


async def follow(session: AsyncSession, principal: Principal, report_id: int, on: bool) -> Report:
    """关注 an open case seen on the map (nearby), to get its public progress.
    Only an open case of a followable category (a public issue: never SOS, a
    consultation or an errand) can be newly followed; others are 404 to a
    non-follower. A follower keeps reading the case once it is finished, and
    may stop following at any time. Residents only: staff read the cases of
    their scope, and a follow would open any other case's public view to them
    by its id (403 before the case is looked up, as for every route not for
    the caller's role)."""
    if on and principal.user.kind != "resident":
        raise Forbidden("report.follow_residents_only", "只有居民可以关注诉求")
    report = await session.get(Report, report_id)
    if report is None:
        raise NotFound(*access.NOT_FOUND)
    existing = await session.get(ReportFollow, (report.id, principal.id))
    if existing is not None:
        if not on:
            await session.delete(existing)
            await session.flush()
        return report
    category = await session.get(Category, report.category_id)
    if category is None or not access.followable(report, category):
        raise NotFound(*access.NOT_FOUND)
    if on:
        if report.reporter_id == principal.id:
            raise Conflict("report.follow_own", "不能关注自己提交的诉求")
        # The same follow sent twice at once is one follow, like one sent twice.
        await session.execute(
            insert_or_skip(session, ReportFollow).values(
                report_id=report.id, user_id=principal.id, created_at=clock.now()
            )
        )
    return report
