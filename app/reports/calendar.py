"""The working-day calendar that deadlines in working days are counted on.

A day is a working day by, in this order: the admins' override for that date
(the ``holiday`` table); else the built-in Chinese calendar (``chinese_calendar``:
statutory holidays and the 调休 weekends worked in their place); else, for a
year the package has no data for yet, Monday to Friday. The calendar never
raises for an unknown year, so it can never block a submission (DESIGN §5).
Dates are Asia/Shanghai calendar dates.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

import chinese_calendar
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.errors import NotFound
from app.reports.models import Holiday

Source = Literal["override", "builtin"]

_CHINESE_NAMES = {h.value: h.chinese for h in chinese_calendar.Holiday}


def _chinese_name(english: str | None) -> str:
    if not english:
        return ""
    return _CHINESE_NAMES.get(english, english)


def builtin_knows(year: int) -> bool:
    """Whether the installed ``chinese_calendar`` has the official arrangement for ``year``."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


# The package scans its whole table on every call; sweeps recompute many deadlines.
@lru_cache(maxsize=8192)
def builtin_is_workday(day: date) -> bool:
    """The official arrangement when the package knows the year, else Monday to Friday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # Years past the package's data (a case filed in late December already
        # needs next year): plain weekends until the package or an admin knows better.
        return day.weekday() < 5


@dataclass(frozen=True)
class CalendarDay:
    """One day that differs from an ordinary week, as the console shows it."""

    day: date
    is_workday: bool
    name: str
    source: Source


def builtin_days(year: int) -> list[CalendarDay]:
    """The statutory holidays (weekend days inside a holiday period included) and the
    调休 working days of ``year`` from the built-in calendar; empty for an unknown year."""
    if not builtin_knows(year):
        return []
    days: list[CalendarDay] = []
    for day, english in chinese_calendar.holidays.items():
        if day.year == year:
            days.append(CalendarDay(day, False, _chinese_name(english), "builtin"))
    for day, english in chinese_calendar.workdays.items():
        if day.year == year:
            days.append(CalendarDay(day, True, f"{_chinese_name(english)}调休", "builtin"))
    return sorted(days, key=lambda d: d.day)


class WorkCalendar:
    """Answers "is this Shanghai date a working day": override, then built-in, then weekends."""

    def __init__(self, overrides: Mapping[date, tuple[bool, str]] | None = None) -> None:
        self._overrides = dict(overrides or {})

    def is_workday(self, day: date) -> bool:
        override = self._overrides.get(day)
        if override is not None:
            return override[0]
        return builtin_is_workday(day)

    def next_workday(self, day: date) -> date:
        """The first working day strictly after ``day``.

        Terminates: overrides are finite, and past the last one every week has
        working days again."""
        day += timedelta(days=1)
        while not self.is_workday(day):
            day += timedelta(days=1)
        return day


async def load_calendar(session: AsyncSession) -> WorkCalendar:
    """The calendar with every admin override. The table holds a few dozen rows a
    year, so one small query per use is cheaper than keeping caches coherent
    across processes."""
    rows = await session.execute(select(Holiday.day_date, Holiday.is_workday, Holiday.name))
    return WorkCalendar({day: (is_workday, name) for day, is_workday, name in rows})


def holiday_not_found() -> NotFound:
    return NotFound("holiday.not_found", "该日期没有节假日调整记录")


async def list_year(session: AsyncSession, *, year: int) -> list[CalendarDay]:
    """The days of ``year`` that are not ordinary: the built-in holidays and 调休 days
    merged with the admins' overrides, an override replacing the built-in entry."""
    merged = {d.day: d for d in builtin_days(year)}
    rows = await session.execute(
        select(Holiday.day_date, Holiday.is_workday, Holiday.name).where(
            Holiday.day_date >= date(year, 1, 1), Holiday.day_date <= date(year, 12, 31)
        )
    )
    for day, is_workday, name in rows:
        merged[day] = CalendarDay(day, is_workday, name, "override")
    return [merged[d] for d in sorted(merged)]


async def put_override(
    session: AsyncSession, *, day: date, is_workday: bool, name: str, actor_id: int | None
) -> CalendarDay:
    """Create or replace the admins' override for ``day``. Two admins saving
    the same new day at once both succeed, the later one's values standing:
    the insert that loses the race becomes an update."""
    holiday = await session.get(Holiday, day)
    if holiday is None:
        try:
            async with session.begin_nested():
                holiday = Holiday(
                    day_date=day,
                    is_workday=is_workday,
                    name=name,
                    updated_at=clock.now(),
                    updated_by=actor_id,
                )
                session.add(holiday)
        except IntegrityError:
            holiday = await session.get(Holiday, day, populate_existing=True)
            assert holiday is not None  # the row the other admin just committed
    holiday.is_workday = is_workday
    holiday.name = name
    holiday.updated_at = clock.now()
    holiday.updated_by = actor_id
    await session.flush()
    return CalendarDay(day, is_workday, name, "override")


async def delete_override(session: AsyncSession, *, day: date) -> None:
    """Remove the override for ``day``, so the built-in calendar applies again."""
    result = await session.execute(delete(Holiday).where(Holiday.day_date == day))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise holiday_not_found()
