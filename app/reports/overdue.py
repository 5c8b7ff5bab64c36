"""When a case is overdue (DESIGN §6 超期数): one rule for the case's
``overdue`` flag, the lists' ``overdue=`` filter, the figures and the metrics.

An open case is overdue when it is past a deadline that applies to it: the
response deadline while it waits for someone to accept it, and the resolution
deadline from the first acceptance (which sets it) until it is resolved.
Escalation — the overdue sweep's too — and 退单 start a new response deadline
but keep the resolution one, so a case past its resolution deadline stays
overdue while it waits for its new owner, instead of leaving 超期数 for the
response window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_

from app.reports.models import Report
from app.reports.state import OPEN

# Statuses in which a case waits for someone to accept it.
AWAITING = ("submitted", "dispatched", "escalated")


def awaiting(report: Any) -> bool:
    return report.accepted_at is None or report.status in AWAITING


def due_at(report: Any) -> datetime | None:
    """The deadline the handler works to now: response while the case waits to
    be accepted, else resolution."""
    return report.response_due_at if awaiting(report) else report.resolve_due_at


def is_overdue(report: Any, now: datetime) -> bool:
    """``report`` (a case or a row with its status, ``accepted_at`` and both
    deadlines) is open and past a deadline that applies."""
    if report.status not in OPEN:
        return False
    response, resolve = report.response_due_at, report.resolve_due_at
    return (awaiting(report) and response is not None and now > response) or (
        resolve is not None and now > resolve
    )


def _in(*names: str) -> ColumnElement[bool]:
    return Report.status.in_(names)


def overdue_condition(
    now: datetime, statuses: Callable[..., ColumnElement[bool]] = _in
) -> ColumnElement[bool]:
    """``is_overdue`` in SQL, never NULL (so ``NOT`` of it is the complement).
    ``statuses(*names)`` writes the status tests (the lists write them as
    literals for PostgreSQL's generic plans)."""
    waiting = or_(statuses(*AWAITING), Report.accepted_at.is_(None))
    late_response = and_(waiting, Report.response_due_at.is_not(None), Report.response_due_at < now)
    late_resolution = and_(Report.resolve_due_at.is_not(None), Report.resolve_due_at < now)
    return and_(statuses(*sorted(OPEN)), or_(late_response, late_resolution))
