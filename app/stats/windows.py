"""Time windows of the figures, in Asia/Shanghai days, ISO weeks and months.

A window ``[lo, hi)`` is cut into whole periods, which the roll-up's cells can
answer, and the partial periods at its edges, which only ``report`` can; a
trend's window gets default bounds and its list of buckets here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.errors import Invalid

Interval = Literal["day", "week", "month"]

MAX_BUCKETS = 1000
DEFAULT_BUCKETS = {"day": 30, "week": 12, "month": 12}


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def period_start(day: date, unit: str) -> date:
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(day: date, unit: str) -> date:
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def floor(moment: datetime, unit: str) -> date:
    return period_start(moment.astimezone(SHANGHAI).date(), unit)


def ceil(moment: datetime, unit: str) -> date:
    start = floor(moment, unit)
    return start if midnight(start) == moment else next_period(start, unit)


@dataclass(frozen=True)
class Split:
    """A window cut into whole periods ``[first, end)`` (``None``: unbounded)
    served by cells, and the partial periods at its edges served by ``report``."""

    whole: bool
    first: date | None
    end: date | None
    edges: tuple[tuple[datetime | None, datetime | None], ...]


def split(lo: datetime | None, hi: datetime | None, unit: str) -> Split:
    """Each edge lies within one period."""
    first = ceil(lo, unit) if lo is not None else None
    end = floor(hi, unit) if hi is not None else None
    if first is not None and end is not None and first > end:  # inside one period
        return Split(False, None, None, ((lo, hi),))
    edges = []
    if lo is not None and first is not None and midnight(first) > lo:
        edges.append((lo, midnight(first)))
    if hi is not None and end is not None and midnight(end) < hi:
        edges.append((midnight(end), hi))
    return Split(True, first, end, tuple(edges))


def trend_window(
    lo: datetime | None, hi: datetime | None, interval: Interval
) -> tuple[datetime, datetime]:
    """A trend needs bounds: ``to`` defaults to the end of today (Shanghai) and
    ``from`` to 30 days, 12 weeks or 12 months of whole periods before it."""
    if hi is None:
        hi = midnight(clock.now().astimezone(SHANGHAI).date() + timedelta(days=1))
    if lo is None:
        start = ceil(hi, interval)
        for _ in range(DEFAULT_BUCKETS[interval]):
            start = period_start(start - timedelta(days=1), interval)
        lo = midnight(start)
    return lo, hi


def buckets(lo: datetime, hi: datetime, interval: Interval) -> list[date]:
    out = []
    day = floor(lo, interval)
    while midnight(day) < hi:
        out.append(day)
        if len(out) > MAX_BUCKETS:
            raise Invalid(
                "stats.window_too_long",
                f"时间范围过大：按{ {'day': '日', 'week': '周', 'month': '月'}[interval] }统计最多 {MAX_BUCKETS} 个区间",
                details={"interval": interval, "max_buckets": MAX_BUCKETS},
            )
        day = next_period(day, interval)
    return out
