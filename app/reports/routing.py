"""What the report routes share: path and query parameters, the answer after
an action, a page of a list and the overdue filter."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from sqlalchemy import BindParameter, ColumnElement, Select, bindparam

from app.auth.principal import Principal
from app.core import clock
from app.core.db import SessionDep
from app.core.errors import NotFound
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.pagination import Page, cursor_id, encode_cursor, split_page
from app.reports import access, detail, listing
from app.reports.models import Report
from app.reports.overdue import overdue_condition
from app.reports.schemas import (
    ReportListItem,
    ReportRead,
    Status,
)

# Ids are 64-bit in both databases: a larger one is a 422 here (``core.ids``).
ReportId = Annotated[int, PLAIN_DIGITS, id_path("诉求 id")]
ExtensionId = Annotated[int, PLAIN_DIGITS, id_path("延期申请 id")]

Overdue = Annotated[bool | None, Query(description="只看超期（true）或未超期（false）")]
StatusFilter = Annotated[Status | None, Query(description="按状态筛选")]


async def answer(
    request: Request,
    session: SessionDep,
    principal: Principal,
    report: Report,
    view: access.View | None = None,
) -> ReportRead:
    """The case after an action, as the caller may now see it."""
    await session.flush()
    if view is None:
        try:
            report, view = await access.get_visible(session, principal, report.id)
        except NotFound:
            if not principal.is_staff or principal.api_client is not None:
                raise
            view = "staff"  # they just handed it on (returned, escalated, transferred)
    elif view == "staff" and access.handles(principal, report):
        view = "handler"
    return await detail.read(
        session, report, view=view, principal=principal, settings=request.app.state.settings
    )


def _statuses(*names: str) -> BindParameter[list[str]]:
    """Statuses written into the SQL rather than sent as parameters. From the
    sixth run of a prepared statement PostgreSQL may use a generic plan made
    without the parameters' values; not knowing which statuses ``overdue=true``
    asks for, that plan walked the worker's every case by id (2,320 rows,
    3.5 ms) instead of taking the few open ones from
    ``ix_report_assignee_id_status_id`` (0.2 ms)."""
    return bindparam(None, list(names), expanding=True, literal_execute=True)


def overdue_clause(flag: bool) -> object:
    """Cases past a deadline that applies to them now (``reports.overdue``), or
    not (``flag=False``)."""
    late = overdue_condition(clock.now(), _statuses_in)
    return late if flag else ~late


def _statuses_in(*names: str) -> ColumnElement[bool]:
    return Report.status.in_(_statuses(*names))


async def page(
    session: SessionDep, stmt: Select[Any], view: access.View, cursor: str | None, limit: int
) -> Page[ReportListItem]:
    """One page of ``stmt`` (``select(Report)`` with the list's conditions), newest first."""
    query = listing.page_query(stmt, last_id=cursor_id(cursor), limit=limit + 1)
    rows, more = split_page(list(await session.execute(query)), limit)
    items = listing.items(rows, view)
    return Page(items=items, next_cursor=encode_cursor({"id": rows[-1].id}) if more else None)
