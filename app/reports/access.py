"""Who may see a case and who may act on it (DESIGN §11), in one place.

- A resident sees their own cases in full, and the public view of cases they follow.
- A grid worker sees cases assigned to them or in their grids; an admin their subtree;
  department staff the cases owned by their department.
- An API key reads the cases in its region as staff do, with residents' names
  and the numbers in their text masked, and text content security holds hidden.
- Staff who do not handle a case (``handles``) read the numbers in its text masked.
- Outside that: 404, so existence never leaks.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, STAFF_ROLES, WORKER_ROLES, Principal
from app.core.errors import Forbidden, NotFound
from app.org.models import Region
from app.reports.models import Category, Report, ReportFollow
from app.reports.state import OPEN
from app.users.models import Membership, User

# How much of a case its reader sees: ``owner`` the reporter, ``handler`` the
# staff who handle it (``handles``), ``staff`` the other staff in scope (as
# handlers, but phone and ID numbers written into the text masked: DESIGN §11
# shows them only to the resident and the staff who handle the case), ``client``
# a third-party API key (as staff, and held text hidden), ``public`` a follower.
View = Literal["owner", "handler", "staff", "client", "public"]
NOT_FOUND = ("report.not_found", "诉求不存在")


def department_ids(principal: Principal) -> list[int]:
    return sorted(
        {
            g.department_id
            for g in principal.grants
            if g.role == "department_staff" and g.department_id is not None
        }
    )


def staff_clause(principal: Principal) -> ColumnElement[bool]:
    """SQL: the cases a staff member may see."""
    if principal.is_superadmin:
        return true()
    if not principal.is_staff:
        return false()
    conditions = [
        Report.assignee_id == principal.id,
        principal.region_clause(Report.region_path, roles=WORKER_ROLES | ADMIN_ROLES),
    ]
    departments = department_ids(principal)
    if departments:
        conditions.append(Report.owner_department_id.in_(departments))
    return or_(*conditions)


def staff_can_see(principal: Principal, report: Report) -> bool:
    if not principal.is_staff:
        return False
    return (
        principal.is_superadmin
        or report.assignee_id == principal.id
        or principal.covers(report.region_path, roles=WORKER_ROLES | ADMIN_ROLES)
        or (
            report.owner_department_id is not None
            and report.owner_department_id in department_ids(principal)
        )
    )


async def get_visible(
    session: AsyncSession,
    principal: Principal,
    report_id: int,
    *,
    for_update: bool = False,
) -> tuple[Report, View]:
    """The case and how much of it the caller sees; 404 when they may not see it."""
    stmt = select(Report).where(Report.id == report_id)
    if for_update:
        stmt = stmt.with_for_update()
    report = await session.scalar(stmt)
    if report is None:
        raise NotFound(*NOT_FOUND)
    if report.reporter_id == principal.id:
        return report, "owner"
    if staff_can_see(principal, report):
        if principal.api_client is not None:
            return report, "client"
        return report, "handler" if handles(principal, report) else "staff"
    followed = await session.scalar(
        select(ReportFollow.user_id).where(
            ReportFollow.report_id == report.id, ReportFollow.user_id == principal.id
        )
    )
    # Only a neighbourhood issue is ever followed (``Category.followable``);
    # a follow left on another kind from before that rule opens nothing.
    if followed is not None and report.kind == "issue":
        return report, "public"
    raise NotFound(*NOT_FOUND)


def require_staff(principal: Principal) -> None:
    """A staff action called by anyone else (a resident): 403 before the case is
    looked up (API.md: a route not for the caller's role is 403), so the answer
    depends neither on the case's existence nor on its status."""
    if not principal.roles & STAFF_ROLES:
        raise Forbidden("auth.staff_only", "仅限工作人员使用")


async def may_own(session: AsyncSession, user_id: int | None, report: Report) -> bool:
    """Whether ``user_id`` can still act as the case's owner: an active account
    (not disabled, not deleted) that still holds a worker or admin role over
    the case's region or in its community (where an admin may have handed it
    to them), or the staff role of the department that owns it."""
    if user_id is None:
        return False
    user = await session.get(User, user_id)
    if user is None or user.disabled or user.deleted_at is not None:
        return False
    area = report.region_path
    grid = await session.get(Region, report.grid_id) if report.grid_id else None
    if grid is not None and grid.parent_id is not None:
        community = await session.get(Region, grid.parent_id)
        area = community.path if community is not None else area
    rows = (
        await session.execute(
            select(Membership.role, Membership.department_id, Region.path)
            .outerjoin(Region, Region.id == Membership.region_id)
            .where(Membership.user_id == user_id)
        )
    ).all()
    return any(
        role == "superadmin"
        or (
            role == "department_staff"
            and report.owner_department_id is not None
            and department_id == report.owner_department_id
        )
        or (
            role in WORKER_ROLES | ADMIN_ROLES
            and bool(path)
            and (report.region_path.startswith(path) or bool(area and path.startswith(area)))
        )
        for role, department_id, path in rows
    )


def require_reporter(principal: Principal, report: Report) -> None:
    if report.reporter_id != principal.id:
        raise Forbidden("report.not_reporter", "只有提交人可以执行此操作")


def is_admin_over(principal: Principal, report: Report) -> bool:
    return principal.covers(report.region_path, roles=ADMIN_ROLES)


def require_admin_over(principal: Principal, report: Report) -> None:
    if not is_admin_over(principal, report):
        raise Forbidden("report.admin_only", "只有管辖该诉求的管理员可以执行此操作")


def is_handler(principal: Principal, report: Report) -> bool:
    """The current owner: the assignee; for SOS also the grid's 网格长; for a
    department-owned case without a person, its department staff."""
    if report.assignee_id == principal.id:
        return True
    if report.kind == "sos" and principal.covers(report.region_path, roles={"grid_leader"}):
        return True
    return (
        report.assignee_id is None
        and report.owner_department_id is not None
        and report.owner_department_id in department_ids(principal)
    )


def handles(principal: Principal, report: Report) -> bool:
    """Staff who handle the case now, and so may reach its reporter (the
    audited reporter-contact) and read the numbers written into its text: its
    handler (``is_handler``), or, while an open case waits in a region's queue
    with nobody assigned, the admins of that region (or above it), who
    dispatch it. Not the admins below the queue (a case escalated to the
    street is not the community's any more), nor anyone once it is finished."""
    if is_handler(principal, report):
        return True
    if report.assignee_id is not None or report.status not in OPEN:
        return False
    if report.owner_department_id is not None:
        return False  # a department's queue: its staff (``is_handler``)
    return _owner_path(report) is not None and is_admin_over_owner(principal, report)


def is_admin_over_owner(principal: Principal, report: Report) -> bool:
    """An admin over where the case is now held: whose subtree holds the region
    it belongs to at its level (its grid, the community or street it was
    escalated to, a department's region). Admins below that (a community admin
    of a case escalated to the street) may supervise it, not move it:
    dispatching, transferring, rejecting or answering it would undo the
    escalation."""
    if principal.is_superadmin:
        return True
    path = _owner_path(report)
    if path is None:  # no owner region recorded: the case's own region
        return is_admin_over(principal, report)
    return principal.covers(path, roles=ADMIN_ROLES)


def _owner_path(report: Report) -> str | None:
    """The path of the region that holds the case at its level: its ancestry is
    the start of the case's own path (a grid's, or the queue's for a case with
    none; a department serves a region that holds the case)."""
    if report.owner_region_id is None:
        return None
    ids = [part for part in (report.region_path or "").split("/") if part]
    owner = str(report.owner_region_id)
    if owner not in ids:
        return None
    return "/" + "/".join(ids[: ids.index(owner) + 1]) + "/"


def followable(report: Report, category: Category) -> bool:
    """Whether residents other than its reporter may newly follow ``report``
    (found on the map, or their duplicate of it): an open neighbourhood issue
    of a followable category. The case's own kind counts as well as its
    category's, which an admin may have changed since."""
    return report.kind == "issue" and category.followable and report.status in OPEN


def require_handler(principal: Principal, report: Report) -> None:
    if not is_handler(principal, report):
        raise Forbidden("report.not_handler", "只有该诉求的经办人可以执行此操作")
