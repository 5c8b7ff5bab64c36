"""Deadline extensions (DESIGN §4): a handler asks for more time, and someone
one level up over the case approves or refuses it, which moves the deadline.

A request is ``pending`` until decided (``approved`` or ``rejected``); one
still pending when the case is resolved (or reopened) is ``lapsed``: it asked
for time on a deadline that is no longer running, so it can no longer be
decided, and a new one may be asked for after a reopen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, ROLE_RANK, Principal
from app.core import clock
from app.core.errors import Conflict, Forbidden, NotFound
from app.org.models import Department, Region
from app.reports import access, sla
from app.reports.models import ExtensionRequest, Report
from app.reports.schemas import ExtensionBody
from app.reports.service import add_event
from app.reports.state import check
from app.users.models import Membership

LAPSED = "lapsed"


async def _locked(session: AsyncSession, principal: Principal, report_id: int) -> Report:
    report, _ = await access.get_visible(session, principal, report_id, for_update=True)
    return report


async def request_extension(
    session: AsyncSession, principal: Principal, report_id: int, body: ExtensionBody
) -> ExtensionRequest:
    access.require_staff(principal)
    report = await _locked(session, principal, report_id)
    check("request_extension", report.status)
    access.require_handler(principal, report)
    pending = await session.scalar(
        select(ExtensionRequest.id).where(
            ExtensionRequest.report_id == report.id, ExtensionRequest.status == "pending"
        )
    )
    if pending is not None:
        raise Conflict("report.extension_pending", "已有待审批的延期申请")
    ext = ExtensionRequest(
        report_id=report.id,
        requested_by=principal.id,
        hours=body.hours,
        reason=body.reason,
        created_at=clock.now(),
    )
    session.add(ext)
    await session.flush()
    await add_event(
        session,
        report,
        "extension_requested",
        actor=principal,
        note=body.reason,
        data={"extension_id": ext.id, "hours": body.hours},
    )
    report.updated_at = clock.now()
    return ext


async def lapse_pending(session: AsyncSession, report: Report, now: datetime) -> list[int]:
    """Close the case's pending request, if any, as ``lapsed`` (the case was
    resolved or reopened, or left the person who asked: escalated or
    transferred); the ids closed, for the event that caused it."""
    ids = list(
        await session.scalars(
            select(ExtensionRequest.id).where(
                ExtensionRequest.report_id == report.id, ExtensionRequest.status == "pending"
            )
        )
    )
    if ids:
        await session.execute(
            update(ExtensionRequest)
            .where(ExtensionRequest.id.in_(ids))
            .values(status=LAPSED, decided_at=now)
        )
    return ids


async def decide_extension(
    session: AsyncSession, principal: Principal, report_id: int, ext_id: int, approve: bool
) -> Report:
    """Approval one level up (see ``_may_approve``)."""
    access.require_staff(principal)
    report = await _locked(session, principal, report_id)
    ext = await session.get(ExtensionRequest, ext_id)
    if ext is None or ext.report_id != report.id:
        raise NotFound("extension.not_found", "延期申请不存在")
    if ext.status == LAPSED:
        raise Conflict(
            "extension.lapsed",
            "该延期申请已失效：诉求已办结、驳回、重办，或已转给他人、上报上级",
        )
    if ext.status != "pending":
        raise Conflict("extension.decided", "该延期申请已审批")
    check("decide_extension", report.status)
    if ext.requested_by == principal.id or not await _may_approve(session, principal, ext, report):
        raise Forbidden("extension.approver_level", "延期需由上一级管理员审批")
    ext.status = "approved" if approve else "rejected"
    ext.decided_by, ext.decided_at = principal.id, clock.now()
    if approve:
        report.extension_hours += ext.hours
        if report.resolve_due_at is not None:
            report.resolve_due_at = sla.extend(report.resolve_due_at, ext.hours)
        report.overdue_at = None
    await add_event(
        session,
        report,
        "extension_decided",
        actor=principal,
        data={
            "extension_id": ext.id,
            "approved": approve,
            "hours": ext.hours,
            "resolve_due_at": report.resolve_due_at.isoformat() if report.resolve_due_at else None,
        },
    )
    report.updated_at = clock.now()
    return report


async def _may_approve(
    session: AsyncSession, principal: Principal, ext: ExtensionRequest, report: Report
) -> bool:
    """One level up from the requester. The staff of the department that owns
    the case: an admin of the department's own region or above it (a street
    department's request: the street admin or the district's), never an admin
    below it, although a community admin also ranks over the case. Anyone else:
    an approver who outranks the requester over the case's region, and at least
    a community admin (a community admin approves a grid worker's or grid
    leader's request, a street admin a community admin's)."""
    department_region = await _department_region(session, ext.requested_by, report)
    if department_region is not None:
        return principal.covers(department_region, roles=ADMIN_ROLES)
    requester_rank = await _rank_over(session, ext.requested_by, report.region_path)
    return principal.max_rank_over(report.region_path) > max(
        requester_rank, ROLE_RANK["grid_leader"]
    )


async def _department_region(session: AsyncSession, user_id: int, report: Report) -> str | None:
    """The region path of the department that owns the case, when ``user_id``
    is on its staff (and so asked as the department)."""
    if report.owner_department_id is None:
        return None
    path = await session.scalar(
        select(Region.path)
        .join(Department, Department.region_id == Region.id)
        .join(Membership, Membership.department_id == Department.id)
        .where(
            Department.id == report.owner_department_id,
            Membership.user_id == user_id,
            Membership.role == "department_staff",
        )
        .limit(1)
    )
    return path


async def _rank_over(session: AsyncSession, user_id: int, path: str) -> int:
    rows = (
        await session.execute(
            select(Membership.role, Region.path)
            .outerjoin(Region, Region.id == Membership.region_id)
            .where(Membership.user_id == user_id)
        )
    ).all()
    return max(
        (ROLE_RANK[role] for role, p in rows if role == "superadmin" or (p and path.startswith(p))),
        default=0,
    )
