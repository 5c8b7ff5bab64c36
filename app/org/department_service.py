"""Departments (城管、住建、供电 …): which ones an admin may see, and creating them.

A department belongs to one region; an admin sees and manages the departments
whose region lies in a subtree they administer (superadmin: all).
"""

from __future__ import annotations

from sqlalchemy import column, func, select, table
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, Principal
from app.core.errors import Conflict, Invalid, NotFound, duplicate_is
from app.core.pagination import split_page
from app.org.models import Department, Region

# A department serves an area; a single grid is too small to own one.
DEPARTMENT_LEVELS = frozenset({"district", "street", "community"})


def department_not_found() -> NotFound:
    return NotFound("department.not_found", "部门不存在")


def region_not_found() -> NotFound:
    return NotFound("region.not_found", "区划不存在")


async def region_in_scope(session: AsyncSession, principal: Principal, region_id: int) -> Region:
    """The region, if the caller administers it; 404 otherwise so its existence never leaks."""
    region = await session.get(Region, region_id)
    if region is None or not principal.covers(region.path, roles=ADMIN_ROLES):
        raise region_not_found()
    return region


async def department_in_scope(
    session: AsyncSession, principal: Principal, department_id: int
) -> tuple[Department, Region]:
    row = (
        await session.execute(
            select(Department, Region)
            .join(Region, Region.id == Department.region_id)
            .where(Department.id == department_id)
        )
    ).first()
    if row is None:
        raise department_not_found()
    department, region = row
    if not principal.covers(region.path, roles=ADMIN_ROLES):
        raise department_not_found()
    return department, region


async def list_departments(
    session: AsyncSession,
    *,
    principal: Principal,
    region_id: int | None = None,
    after_id: int | None = None,
    limit: int = 20,
) -> tuple[list[Department], bool]:
    """Departments in the caller's scope (within ``region_id``'s subtree when given),
    newest first; returns the page and whether more follow."""
    stmt = (
        select(Department)
        .join(Region, Region.id == Department.region_id)
        .where(principal.region_clause(Region.path, roles=ADMIN_ROLES))
    )
    if region_id is not None:
        region = await region_in_scope(session, principal, region_id)
        stmt = stmt.where(Region.path.startswith(region.path, autoescape=True))
    if after_id is not None:
        stmt = stmt.where(Department.id < after_id)
    rows = list((await session.scalars(stmt.order_by(Department.id.desc()).limit(limit + 1))).all())
    return split_page(rows, limit)


# The categories table, by name: it belongs to the reports package, which
# builds on this one (a department is routed cases of its categories).
_category = table("category", column("code"))


async def _require_known_categories(session: AsyncSession, codes: list[str]) -> None:
    """422 ``department.unknown_category`` for codes no category has: a typo
    would leave the department silently receiving nothing."""
    if not codes:
        return
    known = set(await session.scalars(select(_category.c.code).where(_category.c.code.in_(codes))))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise Invalid(
            "department.unknown_category",
            "没有这些诉求类别：" + "、".join(unknown),
            details={"category_codes": unknown},
        )


NAME_UNIQUE = "uq_department_region_id_name"


def name_taken() -> Conflict:
    return Conflict("department.name_taken", "该区划下已有同名部门")


async def create_department(
    session: AsyncSession,
    *,
    principal: Principal,
    name: str,
    region_id: int,
    category_codes: list[str],
) -> Department:
    region = await region_in_scope(session, principal, region_id)
    if region.level not in DEPARTMENT_LEVELS:
        raise Invalid(
            "department.bad_level",
            "部门只能设在区、街道或社区一级",
            details={"region_level": region.level},
        )
    taken = await session.scalar(
        select(func.count())
        .select_from(Department)
        .where(Department.region_id == region.id, Department.name == name)
    )
    if taken:
        raise name_taken()
    await _require_known_categories(session, category_codes)
    department = Department(name=name, region_id=region.id, category_codes=category_codes)
    session.add(department)
    with duplicate_is(name_taken(), NAME_UNIQUE):
        await session.flush()
    return department
