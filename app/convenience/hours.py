"""Weekly opening hours of service points and "is it open now", in Asia/Shanghai.

Hours are intervals ``{"weekday": 1..7, "open": "HH:MM", "close": "HH:MM"}``
(ISO weekday, 1 is Monday); a day may have several (a lunch break), never
overlapping; ``close`` may be ``24:00``. An interval past midnight is written
as two, one on each day. A point is open when the Shanghai time falls in an
interval of that weekday (``open`` inclusive, ``close`` exclusive).

Official holidays: a statutory holiday (including the weekend days inside a
holiday period) or a day the admins marked as a holiday closes every point
that is not ``open_on_holidays``. A 调休 working weekend changes nothing: a
point publishes its hours by weekday, so its Saturday hours still apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from typing import Any

import chinese_calendar

from app.core.clock import SHANGHAI
from app.reports.calendar import WorkCalendar

_OPEN = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_CLOSE = re.compile(r"([01]\d|2[0-3]):[0-5]\d|24:00")
WEEKDAY_NAMES = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}


def minutes(text: str) -> int:
    """``"08:30"`` → 510; ``"24:00"`` → 1440."""
    hours, mins = text.split(":")
    return int(hours) * 60 + int(mins)


def valid_open(text: str) -> bool:
    return bool(_OPEN.fullmatch(text))


def valid_close(text: str) -> bool:
    return bool(_CLOSE.fullmatch(text))


def normalise(intervals: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The intervals sorted by weekday and opening time; ``ValueError`` (with a
    Chinese sentence) when two intervals of one day overlap. Touching intervals
    (12:00 close, 12:00 open) do not overlap."""
    rows = sorted(
        ({"weekday": int(i["weekday"]), "open": i["open"], "close": i["close"]} for i in intervals),
        key=lambda r: (r["weekday"], minutes(r["open"]), minutes(r["close"])),
    )
    for before, after in zip(rows, rows[1:], strict=False):
        if before["weekday"] == after["weekday"] and minutes(after["open"]) < minutes(
            before["close"]
        ):
            day = WEEKDAY_NAMES[before["weekday"]]
            raise ValueError(
                f"{day}的营业时间 {before['open']}–{before['close']} 与 "
                f"{after['open']}–{after['close']} 重叠"
            )
    return rows


def is_official_holiday(calendar: WorkCalendar, day: date) -> bool:
    """A statutory holiday or an admins' holiday, as opposed to an ordinary weekend.

    A non-working Monday–Friday can only be a holiday. A non-working weekend day
    is a holiday when it lies inside a statutory holiday period; an admin's
    "working day" override wins over both, since ``is_workday`` asks it first.
    """
    if calendar.is_workday(day):
        return False
    return day.isoweekday() <= 5 or day in chinese_calendar.holidays


def day_hours(intervals: Iterable[Mapping[str, Any]], weekday: int) -> list[dict[str, str]]:
    """The ``{"open", "close"}`` intervals of one ISO weekday, in order."""
    return [
        {"open": i["open"], "close": i["close"]}
        for i in sorted(intervals, key=lambda i: minutes(i["open"]))
        if int(i["weekday"]) == weekday
    ]


def is_open(
    intervals: Iterable[Mapping[str, Any]],
    *,
    at: datetime,
    holiday: bool,
    open_on_holidays: bool,
) -> bool:
    """Whether a point with these hours is open at the instant ``at``."""
    if holiday and not open_on_holidays:
        return False
    local = at.astimezone(SHANGHAI)
    now_minutes = local.hour * 60 + local.minute
    return any(
        minutes(i["open"]) <= now_minutes < minutes(i["close"])
        for i in day_hours(intervals, local.isoweekday())
    )


def stretches(
    intervals: Iterable[Mapping[str, Any]], first_day: date, days: int = 2
) -> list[tuple[datetime, datetime]]:
    """The opening intervals of ``days`` days from ``first_day`` as Shanghai
    datetimes, in order, touching ones merged: a 12:00 close and a 12:00 open,
    or a 24:00 close and the next day's 00:00 open, are one stretch open."""
    spans = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        midnight = datetime.combine(day, time(0), tzinfo=SHANGHAI)
        for h in day_hours(intervals, day.isoweekday()):
            spans.append(
                (
                    midnight + timedelta(minutes=minutes(h["open"])),
                    midnight + timedelta(minutes=minutes(h["close"])),
                )
            )
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def covers(intervals: Iterable[Mapping[str, Any]], start: datetime, end: datetime) -> bool:
    """Whether the point is open without a break from ``start`` to ``end``
    (at most a day apart, as a slot is)."""
    first_day = start.astimezone(SHANGHAI).date()
    return any(lo <= start and end <= hi for lo, hi in stretches(list(intervals), first_day))
