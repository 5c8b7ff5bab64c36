"""The working-day calendar: overrides, the built-in Chinese calendar, the weekend fallback."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.reports.calendar import (
    WorkCalendar,
    builtin_days,
    builtin_is_workday,
    builtin_knows,
    list_year,
    load_calendar,
)
from app.reports.models import Holiday

D = date.fromisoformat


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-11-09", True),  # Monday
        ("2026-11-07", False),  # Saturday
        ("2026-11-08", False),  # Sunday
        ("2026-10-01", False),  # National Day, a Thursday
        ("2026-10-05", False),  # National Day, a Monday
        ("2026-10-10", True),  # 调休: Saturday worked
        ("2026-09-20", True),  # 调休: Sunday worked
        ("2026-02-17", False),  # Spring Festival, a Tuesday
        ("2027-01-01", True),  # unknown year: a Friday, weekends only
        ("2027-01-02", False),  # unknown year: a Saturday
        ("2099-06-01", True),  # far future Monday
        ("2000-01-03", True),  # before the package's data: a Monday
        ("2000-01-01", False),  # before the package's data: a Saturday
    ],
)
def test_builtin_calendar_with_weekend_fallback(day: str, expected: bool) -> None:
    assert builtin_is_workday(D(day)) is expected
    assert WorkCalendar().is_workday(D(day)) is expected


@pytest.mark.parametrize(
    ("day", "override", "expected"),
    [
        ("2026-11-09", False, False),  # an ordinary Monday declared a holiday
        ("2026-11-07", True, True),  # an ordinary Saturday declared a workday
        ("2026-10-01", True, True),  # a statutory holiday declared a workday
        ("2026-10-10", False, False),  # a 调休 Saturday declared a rest day
        ("2027-01-01", False, False),  # unknown year: the admins fill the gap
    ],
)
def test_override_wins(day: str, override: bool, expected: bool) -> None:
    calendar = WorkCalendar({D(day): (override, "调整")})
    assert calendar.is_workday(D(day)) is expected
    assert builtin_is_workday(D(day)) is not expected


@pytest.mark.parametrize(
    ("day", "overrides", "expected"),
    [
        ("2026-11-06", {}, "2026-11-09"),  # Friday → Monday
        ("2026-09-30", {}, "2026-10-08"),  # over National Day
        ("2026-10-09", {}, "2026-10-10"),  # onto the 调休 Saturday
        ("2026-11-06", {D("2026-11-09"): (False, "")}, "2026-11-10"),
        ("2026-11-06", {D("2026-11-07"): (True, "")}, "2026-11-07"),
        ("2026-12-31", {}, "2027-01-01"),  # into the unknown year
    ],
)
def test_next_workday(day: str, overrides: dict[date, tuple[bool, str]], expected: str) -> None:
    assert WorkCalendar(overrides).next_workday(D(day)) == D(expected)


def test_builtin_days_of_a_known_year() -> None:
    days = {d.day: d for d in builtin_days(2026)}
    assert builtin_knows(2026)
    national = days[D("2026-10-01")]
    assert (national.is_workday, national.name, national.source) == (False, "国庆节", "builtin")
    # Weekend days inside a holiday period belong to it.
    assert days[D("2026-10-03")].name == "国庆节"
    worked = days[D("2026-10-10")]
    assert (worked.is_workday, worked.name) == (True, "国庆节调休")
    assert days[D("2026-02-17")].name == "春节"
    assert D("2026-11-09") not in days  # ordinary days are not listed
    assert all(d.day.year == 2026 for d in days.values())
    assert list(days) == sorted(days)


def test_builtin_days_of_an_unknown_year_are_empty() -> None:
    assert not builtin_knows(2099)
    assert builtin_days(2099) == []


async def test_load_calendar_reads_the_overrides(session: AsyncSession) -> None:
    session.add_all(
        [
            Holiday(day_date=D("2026-11-09"), is_workday=False, name="停工"),
            Holiday(day_date=D("2026-11-07"), is_workday=True, name="补班"),
        ]
    )
    await session.flush()
    calendar = await load_calendar(session)
    assert calendar.is_workday(D("2026-11-09")) is False
    assert calendar.is_workday(D("2026-11-07")) is True
    assert calendar.is_workday(D("2026-11-10")) is True


async def test_list_year_merges_overrides_over_builtin(session: AsyncSession) -> None:
    session.add_all(
        [
            Holiday(day_date=D("2026-10-10"), is_workday=False, name="取消调休"),
            Holiday(day_date=D("2026-11-09"), is_workday=False, name="停工"),
            Holiday(day_date=D("2027-01-01"), is_workday=False, name="元旦"),
        ]
    )
    await session.flush()
    days = await list_year(session, year=2026)
    by_day = {d.day: d for d in days}
    assert [d.day for d in days] == sorted(by_day)
    replaced = by_day[D("2026-10-10")]
    assert (replaced.is_workday, replaced.name, replaced.source) == (False, "取消调休", "override")
    assert by_day[D("2026-11-09")].source == "override"
    assert by_day[D("2026-10-01")].source == "builtin"
    assert D("2027-01-01") not in by_day
    next_year = await list_year(session, year=2027)
    assert [(d.day, d.source) for d in next_year] == [(D("2027-01-01"), "override")]
