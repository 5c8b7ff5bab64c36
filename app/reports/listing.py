"""Pages of cases (worker inbox, resident's list, admin list): one query each.

A page reads only the columns a ``ReportListItem`` shows, with the category's
code and name and the grid's name joined in, so a page is one round trip
rather than three (cases, categories, grids), and no 45-column ORM objects
are built only to be read once. The items are the same as
``detail.list_items`` gives for the same cases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select
from sqlalchemy.orm import aliased

from app.core import clock
from app.org.models import Region
from app.reports import detail
from app.reports.access import View
from app.reports.models import Category, Report
from app.reports.schemas import CategoryRef, RegionRef, ReportListItem

# Aliased, so a list already joined to ``category`` to filter by it (the admin
# list) still gets its own join for the names.
_category = aliased(Category, name="list_category")
_grid = aliased(Region, name="list_grid")

# The first column is ``report.id``: bench/inbox.py finds the page query by it.
COLUMNS = (
    Report.id,
    Report.kind,
    Report.description,
    Report.moderation,
    Report.status,
    Report.grid_id,
    Report.address,
    Report.created_at,
    Report.accepted_at,  # for ``is_overdue``
    Report.response_due_at,
    Report.resolve_due_at,
    _category.code.label("category_code"),
    _category.name.label("category_name"),
    _grid.name.label("grid_name"),
)


def page_query(stmt: Select[Any], *, last_id: int | None, limit: int) -> Select[*tuple[Any, ...]]:
    """``stmt`` (``select(Report)`` with the list's conditions) as the page after
    ``last_id``, newest first: ``limit`` rows of ``COLUMNS``."""
    if last_id is not None:
        stmt = stmt.where(Report.id < last_id)
    # Outer joins: a case may have no grid. It always has a category, but an
    # inner join would leave SQLite free to start from ``category``; this way
    # ``report`` is the outer loop and the page walks the list's index in id order.
    return (
        stmt.with_only_columns(*COLUMNS)
        .outerjoin_from(Report, _category, _category.id == Report.category_id)
        .outerjoin_from(Report, _grid, _grid.id == Report.grid_id)
        .order_by(Report.id.desc())
        .limit(limit)
    )


def items(page: list[Row[Any]], view: View) -> list[ReportListItem]:
    now = clock.now()
    return [_item(row, view, now) for row in page]


def _item(row: Row[Any], view: View, now: datetime) -> ReportListItem:
    return detail.list_item(
        row,
        CategoryRef(code=row.category_code, name=row.category_name),
        RegionRef(id=row.grid_id, name=row.grid_name) if row.grid_name is not None else None,
        view,
        now,
    )
