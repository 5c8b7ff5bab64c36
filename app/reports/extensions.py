"""Deadline extensions (DESIGN §4): a handler asks for more time, and someone
one level up over the case approves or refuses it, which moves the deadline."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ROLE_RANK, Principal
from app.core import clock
from app.core.errors import Conflict, Forbidden, NotFound
from app.org.models import Region
from app.reports import access, actions, sla
from app.reports.models import ExtensionRequest, Report
from app.reports.schemas import ExtensionBody
from app.reports.service import add_event
from app.reports.state import check
from app.users.models import Membership


async def request_extension(
    session: AsyncSession, principal: Principal, report_id: int, body: ExtensionBody
) -> ExtensionRequest:
    report = await actions.locked(session, principal, report_id)
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


async def decide_extension(
    session: AsyncSession, principal: Principal, report_id: int, ext_id: int, approve: bool
) -> Report:
    """Approval one level up: the approver must outrank the requester over this case."""
    report = await actions.locked(session, principal, report_id)
    ext = await session.get(ExtensionRequest, ext_id)
    if ext is None or ext.report_id != report.id:
        raise NotFound("extension.not_found", "延期申请不存在")
    if ext.status != "pending":
        raise Conflict("extension.decided", "该延期申请已审批")
    check("decide_extension", report.status)
    requester_rank = await _rank_over(session, ext.requested_by, report.region_path)
    if ext.requested_by == principal.id or principal.max_rank_over(report.region_path) <= max(
        requester_rank, ROLE_RANK["grid_leader"]
    ):
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
