"""Deadline arithmetic (DESIGN §5 step 5). Pure functions: no database, no clock.

Every datetime in and out is timezone-aware; results are in UTC. Working days
are Asia/Shanghai calendar days, decided by a ``WorkCalendar``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from app.core.clock import SHANGHAI
from app.reports.calendar import WorkCalendar

# Days to resolve a case by complexity when the category does not say otherwise:
# 简单 1, 一般 3, 复杂 7, 疑难 15.
DEFAULT_RESOLVE_DAYS: Mapping[str, int] = {"simple": 1, "general": 3, "complex": 7, "difficult": 15}
COMPLEXITIES = tuple(DEFAULT_RESOLVE_DAYS)
CALENDARS = ("natural", "working")

# Office hours of a working day (Asia/Shanghai), [opens, closes). A case received
# outside them is counted from the next opening, so that a deadline in working
# days always falls inside office hours and grants N full office days.
OFFICE_OPENS = time(9, 0)
OFFICE_CLOSES = time(17, 0)


class SlaPolicy(Protocol):
    """What the arithmetic reads of a category (``Category`` satisfies it).
    Read-only members, so any object with these attributes fits."""

    @property
    def response_sla_minutes(self) -> int: ...

    @property
    def sla_calendar(self) -> str: ...

    @property
    def resolve_days(self) -> Mapping[str, Any]: ...


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def response_due(created_at: datetime, category: SlaPolicy) -> datetime:
    """Response deadline: ``created_at`` plus the category's response minutes, on the
    clock (nights and holidays count: a resident waits for an answer all the same)."""
    created_at = _aware(created_at, "created_at")
    return (created_at + timedelta(minutes=category.response_sla_minutes)).astimezone(UTC)


def resolve_days(category: SlaPolicy, complexity: str) -> int:
    """Days allowed to resolve a case of ``complexity``: the category's own figure,
    else the default for that complexity."""
    if complexity not in DEFAULT_RESOLVE_DAYS:
        raise ValueError(f"unknown complexity {complexity!r}")
    days = (category.resolve_days or {}).get(complexity)
    return int(days) if days is not None else DEFAULT_RESOLVE_DAYS[complexity]


def resolve_due(
    start: datetime, category: SlaPolicy, complexity: str, calendar: WorkCalendar
) -> datetime:
    """Resolution deadline, ``N = resolve_days(category, complexity)`` days after ``start``.

    ``natural``: ``start`` plus N × 24 hours. ``working``: see ``add_working_days``.
    """
    start = _aware(start, "start")
    days = resolve_days(category, complexity)
    if category.sla_calendar == "natural":
        return (start + timedelta(days=days)).astimezone(UTC)
    if category.sla_calendar == "working":
        return add_working_days(start, days, calendar)
    raise ValueError(f"unknown SLA calendar {category.sla_calendar!r}")


def add_working_days(start: datetime, days: int, calendar: WorkCalendar) -> datetime:
    """The same Shanghai clock time on the ``days``-th working day after ``start``.

    A start outside office hours is first moved to the next opening: before 09:00
    on a working day to 09:00 that day; from 17:00, or on a non-working day, to
    09:00 of the next working day. So a case filed on Saturday with one working
    day is due Tuesday 09:00 (all of Monday to work on it), and one filed Monday
    10:30 is due Tuesday 10:30.
    """
    local = _aware(start, "start").astimezone(SHANGHAI)
    day, at = local.date(), local.time()
    if not calendar.is_workday(day) or at >= OFFICE_CLOSES:
        day, at = calendar.next_workday(day), OFFICE_OPENS
    elif at < OFFICE_OPENS:
        at = OFFICE_OPENS
    for _ in range(days):
        day = calendar.next_workday(day)
    return datetime.combine(day, at, tzinfo=SHANGHAI).astimezone(UTC)


def extend(due: datetime, hours: int) -> datetime:
    """An approved extension (延期): ``hours`` natural hours added to the deadline."""
    return (_aware(due, "due") + timedelta(hours=hours)).astimezone(UTC)
