"""Categories of 诉求: lookup for submission, and the admins' create and edit.

Categories are global configuration (every region uses the same list); who may
change them is decided by the router. A category is never deleted, since
reports point at it: ``active = False`` retires it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import Conflict, Invalid, NotFound, duplicate_is
from app.org.department_service import department_in_scope
from app.reports.category_schemas import CategoryCreate, CategoryRead, CategoryUpdate, ResolveSla
from app.reports.models import Category, Report
from app.reports.sla import DEFAULT_RESOLVE_DAYS

CODE_UNIQUE = "uq_category_code"


def category_not_found() -> NotFound:
    return NotFound("category.not_found", "诉求类别不存在")


def code_taken(code: str) -> Conflict:
    return Conflict("category.code_taken", "类别代码已被使用", details={"code": code})


def category_read(category: Category) -> CategoryRead:
    """The public shape of a category, with every complexity's days filled in."""
    days = {**DEFAULT_RESOLVE_DAYS, **(category.resolve_days or {})}
    return CategoryRead.model_validate(
        {
            "code": category.code,
            "name": category.name,
            "kind": category.kind,
            "response_sla_minutes": category.response_sla_minutes,
            "resolve_sla": ResolveSla.model_validate(
                {
                    "calendar": category.sla_calendar,
                    "days": {k: int(days[k]) for k in DEFAULT_RESOLVE_DAYS},
                    "default_complexity": category.complexity,
                }
            ),
            "routing": category.routing,
            "department_id": category.department_id,
            "public": category.public,
            "active": category.active,
            "sort_order": category.sort_order,
        }
    )


async def get_category(session: AsyncSession, code: str, *, lock: bool = False) -> Category:
    """The category with ``code``, active or not; 404 ``category.not_found`` when unknown.
    ``lock``: the row is locked ``FOR UPDATE`` (PostgreSQL; on SQLite a writer
    holds the database) and read afresh, for a read-modify-write."""
    stmt = select(Category).where(Category.code == code)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    category = await session.scalar(stmt)
    if category is None:
        raise category_not_found()
    return category


async def get_active_category(session: AsyncSession, code: str) -> Category:
    """The category a new report may use; 404 ``category.not_found`` when unknown or retired."""
    category = await get_category(session, code)
    if not category.active:
        raise category_not_found()
    return category


async def list_categories(
    session: AsyncSession, *, include_inactive: bool = False
) -> list[Category]:
    """Categories in display order (``sort_order``, then code for a stable tie-break)."""
    stmt = select(Category).order_by(Category.sort_order, Category.code)
    if not include_inactive:
        stmt = stmt.where(Category.active.is_(True))
    return list((await session.scalars(stmt)).all())


async def _check_routing(
    session: AsyncSession, principal: Principal, *, routing: str, department_id: int | None
) -> None:
    """A department-routed category needs a department to land in, and any
    department named must exist within the caller's scope (a district admin
    cannot send cases to another district's department)."""
    if routing == "department" and department_id is None:
        raise Invalid(
            "category.department_required",
            "直接派给部门的类别必须指定承办部门",
            details={"field": "department_id"},
        )
    if department_id is not None and not await _department_in_scope(
        session, principal, department_id
    ):
        raise Invalid(
            "category.department_not_found",
            "承办部门不存在",
            details={"field": "department_id", "department_id": department_id},
        )


async def _department_in_scope(
    session: AsyncSession, principal: Principal, department_id: int
) -> bool:
    try:
        await department_in_scope(session, principal, department_id)
    except NotFound:
        return False
    return True


async def create_category(
    session: AsyncSession, principal: Principal, *, body: CategoryCreate
) -> Category:
    taken = await session.scalar(select(Category.id).where(Category.code == body.code))
    if taken is not None:
        raise code_taken(body.code)
    await _check_routing(session, principal, routing=body.routing, department_id=body.department_id)
    category = Category(
        code=body.code,
        name=body.name,
        kind=body.kind,
        complexity=body.complexity,
        response_sla_minutes=body.response_sla_minutes,
        sla_calendar=body.sla_calendar,
        # Stored in full, so what the row says is what the deadlines use.
        resolve_days={**DEFAULT_RESOLVE_DAYS, **body.resolve_days},
        routing=body.routing,
        department_id=body.department_id,
        public=body.public,
        active=True,
        sort_order=body.sort_order,
    )
    session.add(category)
    with duplicate_is(code_taken(body.code), CODE_UNIQUE):
        await session.flush()
    return category


async def _check_unused(session: AsyncSession, category: Category) -> None:
    """A category's kind is what its cases are (an errand, an issue …): it is
    changed only while it has none, or its cases would be of one kind under a
    category of another (an errand under an issue would show on the map)."""
    used = await session.scalar(select(Report.id).where(Report.category_id == category.id).limit(1))
    if used is not None:
        raise Conflict(
            "category.kind_in_use",
            "该类别已有诉求，不能修改诉求类型；请新建类别并停用此类别",
            details={"code": category.code, "kind": category.kind},
        )


async def update_category(
    session: AsyncSession, principal: Principal, *, code: str, body: CategoryUpdate
) -> Category:
    # Locked before anything is read from it: of two PATCHes at once the second
    # merges its ``resolve_days`` into what the first stored, not into what
    # both read; and a kind change waits for a submission inserting a case
    # under the category (its foreign key holds the row KEY SHARE until it
    # commits), so the check for cases below then sees that case.
    category = await get_category(session, code, lock=True)
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    if "resolve_days" in changes:
        changes["resolve_days"] = {
            **DEFAULT_RESOLVE_DAYS,
            **(category.resolve_days or {}),
            **changes["resolve_days"],
        }
    routing = changes.get("routing", category.routing)
    department_id = changes.get("department_id", category.department_id)
    if "routing" in changes or "department_id" in changes:
        await _check_routing(session, principal, routing=routing, department_id=department_id)
    if changes.get("kind", category.kind) != category.kind:
        await _check_unused(session, category)
    for field, value in changes.items():
        setattr(category, field, value)
    await session.flush()
    return category
