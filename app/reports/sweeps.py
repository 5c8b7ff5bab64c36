"""SLA sweeps (DESIGN §5 step 6), run by the background loop.

- Not accepted by the response deadline: a reminder; still not accepted one more
  response period later: reassigned to the grid's 网格长 (stays ``dispatched``).
  A case waiting in a queue (nobody assigned) past its response deadline: one
  reminder to the queue, never reassigned.
- Past the resolution deadline: flagged overdue and escalated one level.
- Resolved and not rated for 7 days: closed.

Every sweep is idempotent (it only picks cases whose flag is not yet set) and
claims rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several worker
processes never do the same case twice. On SQLite a lease row keeps two loops
(in-process and ``ejiaren worker``) from sweeping at once.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import Database
from app.core.models import AppState
from app.org.models import Region
from app.reports import dispatch, sla
from app.reports.actions import _escalate
from app.reports.models import Category, Report
from app.reports.service import add_event
from app.users.models import Membership, User

log = logging.getLogger("ejiaren.sweeps")

AUTO_CLOSE_AFTER = timedelta(days=7)
BATCH = 200
LEASE_KEY = "sweep_lease"
LEASE_TTL = timedelta(seconds=120)
_NEXT_LEVEL = {"grid": "community", "community": "street"}


@dataclass
class SweepResult:
    reminded: int = 0
    reassigned: int = 0
    escalated: int = 0
    closed: int = 0

    def total(self) -> int:
        return self.reminded + self.reassigned + self.escalated + self.closed


async def _claim(session: AsyncSession, condition: object) -> list[Report]:
    stmt = select(Report).where(condition).order_by(Report.id).limit(BATCH)  # type: ignore[arg-type]
    stmt = stmt.with_for_update(skip_locked=True)
    return list(await session.scalars(stmt))


def _not_reminded() -> ColumnElement[bool]:
    """Not yet reminded of the response deadline in force. A reminder is only
    ever given after its deadline, so one given before the deadline now in
    force was for an earlier one: given while another person held the case,
    before it came back from a queue or was dispatched from one."""
    return or_(Report.reminded_at.is_(None), Report.reminded_at < Report.response_due_at)


async def remind(session: AsyncSession) -> int:
    """Cases past their response deadline, reminded once (the notification
    goes to whoever owns the case): a case with a person (dispatched, or
    escalated and then handed to someone) its assignee; a case waiting in a
    queue with nobody assigned (``submitted`` for manual dispatch;
    ``escalated`` to a community, street or department; ``dispatched`` to a
    department's shared queue) the queue's admins or the department's staff.
    Nothing is reassigned here (``reassign``; a queue has no one to fall
    back to)."""
    now = clock.now()
    rows = await _claim(
        session,
        and_(
            Report.status.in_(("submitted", "dispatched", "escalated")),
            Report.response_due_at < now,
            _not_reminded(),
        ),
    )
    for report in rows:
        report.reminded_at = now
        if report.assignee_id is not None:
            data: dict[str, object] = {"assignee_id": report.assignee_id}
        else:
            data = {
                "queue": {
                    "level": report.owner_level,
                    "region_id": report.owner_region_id,
                    "department_id": report.owner_department_id,
                }
            }
        await add_event(
            session,
            report,
            "reminded",
            actor_role="system",
            note="超过响应时限未派单，系统催办"
            if report.status == "submitted"
            else "超过响应时限未签收，系统催办",
            data=data,
        )
    return len(rows)


async def reassign(session: AsyncSession) -> int:
    """A reminded case still not accepted one response period after its deadline
    goes to the grid's 网格长 (not a level escalation). Only cases that can be
    handed over are claimed (past their category's period, with a leader of the
    grid or its community other than the assignee): a batch never fills with
    cases it would skip, which would hold back every case after them."""
    now = clock.now()
    periods = (await session.execute(select(Category.id, Category.response_sla_minutes))).all()
    if not periods:
        return 0
    late_enough = or_(
        *(
            and_(
                Report.category_id == category_id,
                Report.response_due_at < now - timedelta(minutes=minutes),
            )
            for category_id, minutes in periods
        )
    )
    community = (
        select(Region.parent_id)
        .where(Region.id == Report.grid_id)
        .correlate(Report)
        .scalar_subquery()
    )
    another_leader = (
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.role == "grid_leader",
            or_(Membership.region_id == Report.grid_id, Membership.region_id == community),
            Membership.user_id != Report.assignee_id,
            User.disabled.is_(False),
            User.deleted_at.is_(None),
        )
        .correlate(Report)
        .exists()
    )
    rows = await _claim(
        session,
        and_(
            Report.status == "dispatched",
            Report.assignee_id.is_not(None),  # a department's queue has no leader
            Report.reminded_at >= Report.response_due_at,  # reminded of this deadline
            Report.grid_id.is_not(None),
            late_enough,
            another_leader,
        ),
    )
    done = 0
    for report in rows:
        category = await session.get(Category, report.category_id)
        grid = await session.get(Region, report.grid_id)
        assert category is not None and grid is not None
        leader = await _leader(session, grid, besides=report.assignee_id)
        if leader is None:  # gone between the claim and here
            continue
        previous = report.assignee_id
        report.assignee_id = report.last_assignee_id = leader
        report.response_due_at = sla.response_due(now, category)
        report.reminded_at = None
        await add_event(
            session,
            report,
            "reassigned",
            actor_role="system",
            note="催办后仍未签收，改派网格长",
            data={"from_assignee_id": previous, "assignee_id": leader},
        )
        done += 1
    return done


async def _leader(session: AsyncSession, grid: Region, *, besides: int | None) -> int | None:
    """The grid's 网格长, else one for its whole community; not ``besides``."""
    for region_id in (grid.id, grid.parent_id):
        if region_id is None:
            continue
        for holder in await dispatch._holders(session, region_id, "grid_leader"):
            if holder.id != besides:
                return holder.id
    return None


async def escalate_overdue(session: AsyncSession) -> int:
    now = clock.now()
    rows = await _claim(
        session,
        and_(
            Report.status == "in_progress", Report.overdue_at.is_(None), Report.resolve_due_at < now
        ),
    )
    for report in rows:
        report.overdue_at = now
        to = _NEXT_LEVEL.get(report.owner_level)
        if to is None or report.grid_id is None:
            # Already at the top of the chain (or no grid to climb from): flag only.
            await add_event(session, report, "overdue", actor_role="system", note="超过办结时限")
            continue
        await _escalate(
            session, report, to, None, None, "超过办结时限，自动上报", action="auto_escalate"
        )
    return len(rows)


async def auto_close(session: AsyncSession) -> int:
    now = clock.now()
    rows = await _claim(
        session, and_(Report.status == "resolved", Report.resolved_at < now - AUTO_CLOSE_AFTER)
    )
    for report in rows:
        report.status = "closed"
        report.closed_at = now
        await add_event(
            session,
            report,
            "closed",
            actor_role="system",
            from_status="resolved",
            to_status="closed",
            note="办结 7 天未评价，自动关闭",
        )
    return len(rows)


async def _take_lease(db: Database, owner: str) -> bool:
    """SQLite only: one sweeping loop at a time across processes."""
    now = clock.now()
    async with db.session(write=True) as session:
        state = await session.get(AppState, LEASE_KEY)
        if state is None:
            session.add(AppState(key=LEASE_KEY, value_int=0, value_text=owner, updated_at=now))
            await session.commit()
            return True
        taken = await session.execute(
            update(AppState)
            .where(
                AppState.key == LEASE_KEY,
                (AppState.value_text == owner) | (AppState.updated_at < now - LEASE_TTL),
            )
            .values(value_text=owner, updated_at=now)
        )
        await session.commit()
        return getattr(taken, "rowcount", 0) == 1


_OWNER = secrets.token_hex(6)


async def run_sweeps(db: Database) -> SweepResult:
    """One pass of every sweep, each in its own transaction."""
    if db.is_sqlite and not await _take_lease(db, _OWNER):
        return SweepResult()
    result = SweepResult()
    for name, sweep in (
        ("reminded", remind),
        ("reassigned", reassign),
        ("escalated", escalate_overdue),
        ("closed", auto_close),
    ):
        async with db.session(write=True) as session:
            count = await sweep(session)
            await session.commit()
        setattr(result, name, count)
    if result.total():
        log.info("sweeps: %s", result)
    return result
