"""Where a handler may escalate a case (上报): the levels above its current
owner that it has (its community, its street) and the departments whose
region holds it, those that declare the case's category first. The worker's
app fills its "escalate" form from this; ``actions.escalate`` checks the same
rules when the form is sent."""

from __future__ import annotations

from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.org.models import Department, Region
from app.reports import access
from app.reports.models import Category, Report
from app.reports.schemas import DepartmentTarget, EscalationTargets, LevelTarget
from app.reports.state import LEVEL_NAMES, check, is_above


async def regions_above(session: AsyncSession, report: Report) -> dict[str, Region]:
    """The community and the street above the case's grid (those it has)."""
    grid = await session.get(Region, report.grid_id) if report.grid_id else None
    community = await session.get(Region, grid.parent_id) if grid and grid.parent_id else None
    street = (
        await session.get(Region, community.parent_id)
        if community and community.parent_id
        else None
    )
    return {
        level: region
        for level, region in (("community", community), ("street", street))
        if region is not None
    }


async def targets(session: AsyncSession, principal: Principal, report_id: int) -> EscalationTargets:
    access.require_staff(principal)
    report, _ = await access.get_visible(session, principal, report_id)
    check("escalate", report.status)
    access.require_handler(principal, report)
    levels = [
        LevelTarget(to=to, name=LEVEL_NAMES[to], region_id=region.id, region=region.name)
        for to, region in (await regions_above(session, report)).items()
        if is_above(to, report.owner_level)
    ]
    departments: list[DepartmentTarget] = []
    if is_above("department", report.owner_level) and report.region_path:
        category = await session.get(Category, report.category_id)
        code = category.code if category else None
        rows = (
            await session.execute(
                select(Department, Region)
                .join(Region, Region.id == Department.region_id)
                # The department's region holds the case: its path is a prefix of the case's.
                .where(literal(report.region_path).like(Region.path + "%"))
            )
        ).all()
        found = [
            (code in (department.category_codes or []), len(region.path), department, region)
            for department, region in rows
        ]
        # Those that take this category first, then the nearest, then by name.
        found.sort(key=lambda f: (not f[0], -f[1], f[2].name, f[2].id))
        departments = [
            DepartmentTarget(
                id=department.id,
                name=department.name,
                region_id=region.id,
                region=region.name,
                handles_category=handles,
            )
            for handles, _, department, region in found
        ]
    return EscalationTargets(levels=levels, departments=departments)
