"""Deadline arithmetic, table-driven (DESIGN §5 step 5).

Times in the tables are Asia/Shanghai wall-clock times; the functions take and
return UTC. The 2026 arrangement the tables assume is checked against the
installed calendar package in ``test_assumed_2026_arrangement``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import chinese_calendar
import pytest

from app.core.clock import SHANGHAI
from app.reports.calendar import WorkCalendar, builtin_knows
from app.reports.sla import (
    DEFAULT_RESOLVE_DAYS,
    extend,
    resolve_days,
    resolve_due,
    response_due,
)


@dataclass
class Policy:
    sla_calendar: str = "working"
    response_sla_minutes: int = 60
    resolve_days: dict[str, Any] = field(default_factory=dict)


def sh(text: str) -> datetime:
    """A Shanghai wall-clock time, given as UTC (what the database holds)."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


WORKING = Policy("working")
NATURAL = Policy("natural")
PLAIN = WorkCalendar()


def test_assumed_2026_arrangement() -> None:
    """The tables below assume the official 2026 arrangement and that the package
    does not know 2027 yet; when the package learns 2027, move the fallback cases
    to the next unknown year."""
    for day in ["2026-09-25", "2026-09-26", "2026-09-27"] + [f"2026-10-0{d}" for d in range(1, 8)]:
        assert not chinese_calendar.is_workday(date.fromisoformat(day)), day
    for day in ["2026-09-20", "2026-10-10"]:  # 调休: a Sunday and a Saturday worked
        assert chinese_calendar.is_workday(date.fromisoformat(day)), day
    assert not chinese_calendar.is_workday(date(2026, 1, 1))
    assert chinese_calendar.is_workday(date(2026, 12, 31))
    assert builtin_knows(2026)
    assert not builtin_knows(2027)


# (case, start in Shanghai, complexity, calendar overrides, due in Shanghai)
WORKING_CASES: list[tuple[str, str, str, dict[date, tuple[bool, str]], str]] = [
    # An ordinary week (2026-11-06 is a Friday).
    ("weekday, next day", "2026-11-10T10:30", "simple", {}, "2026-11-11T10:30"),
    ("Friday over the weekend", "2026-11-06T10:30", "simple", {}, "2026-11-09T10:30"),
    ("Friday, 3 days", "2026-11-06T10:30", "general", {}, "2026-11-11T10:30"),
    ("Saturday counts from Monday 09:00", "2026-11-07T10:00", "simple", {}, "2026-11-10T09:00"),
    ("Sunday evening, 3 days", "2026-11-08T20:00", "general", {}, "2026-11-12T09:00"),
    ("before office hours", "2026-11-09T07:30", "simple", {}, "2026-11-10T09:00"),
    ("last minute of office hours", "2026-11-09T16:59:59", "simple", {}, "2026-11-10T16:59:59"),
    ("office closed at 17:00", "2026-11-09T17:00", "simple", {}, "2026-11-11T09:00"),
    ("late at night", "2026-11-09T23:30", "simple", {}, "2026-11-11T09:00"),
    ("2 weeks and a day", "2026-11-09T11:00", "difficult", {}, "2026-11-30T11:00"),
    # National Day 10-01..10-07 (Thu..Wed); Saturday 10-10 is worked.
    ("eve of National Day", "2026-09-30T10:00", "simple", {}, "2026-10-08T10:00"),
    ("into the 调休 Saturday", "2026-09-30T10:00", "general", {}, "2026-10-10T10:00"),
    ("7 days after the holiday", "2026-09-30T10:00", "complex", {}, "2026-10-15T10:00"),
    ("filed during the holiday", "2026-10-03T10:00", "simple", {}, "2026-10-09T09:00"),
    ("filed on the 调休 Saturday", "2026-10-10T10:00", "simple", {}, "2026-10-12T10:00"),
    # Mid-Autumn 09-25..09-27 (Fri..Sun); Sunday 09-20 is worked.
    ("Friday into the 调休 Sunday", "2026-09-18T10:00", "simple", {}, "2026-09-20T10:00"),
    ("Saturday before the 调休 Sunday", "2026-09-19T10:00", "simple", {}, "2026-09-21T09:00"),
    ("over Mid-Autumn", "2026-09-24T10:00", "simple", {}, "2026-09-28T10:00"),
    # Admin overrides win over the built-in calendar.
    (
        "declared holiday on a Monday",
        "2026-11-06T10:30",
        "simple",
        {date(2026, 11, 9): (False, "停工")},
        "2026-11-10T10:30",
    ),
    (
        "declared workday on a Saturday",
        "2026-11-06T10:30",
        "simple",
        {date(2026, 11, 7): (True, "补班")},
        "2026-11-07T10:30",
    ),
    (
        "调休 Saturday declared a rest day",
        "2026-09-30T10:00",
        "general",
        {date(2026, 10, 10): (False, "取消调休")},
        "2026-10-12T10:00",
    ),
    (
        "holiday declared a workday",
        "2026-09-30T10:00",
        "simple",
        {date(2026, 10, 7): (True, "值班")},
        "2026-10-07T10:00",
    ),
    # Into 2027, which the package does not know: Monday to Friday, so 01-01 counts.
    ("New Year's Eve, fallback", "2026-12-31T10:00", "simple", {}, "2027-01-01T10:00"),
    ("over the year end, fallback", "2026-12-31T10:00", "general", {}, "2027-01-05T10:00"),
    (
        "fallback plus a declared holiday",
        "2026-12-31T10:00",
        "general",
        {date(2027, 1, 1): (False, "元旦")},
        "2027-01-06T10:00",
    ),
    ("far future Saturday, weekends only", "2099-01-03T10:00", "simple", {}, "2099-01-06T09:00"),
]


@pytest.mark.parametrize(
    ("start", "complexity", "overrides", "expected"),
    [case[1:] for case in WORKING_CASES],
    ids=[case[0] for case in WORKING_CASES],
)
def test_working_day_deadlines(
    start: str, complexity: str, overrides: dict[date, tuple[bool, str]], expected: str
) -> None:
    due = resolve_due(sh(start), WORKING, complexity, WorkCalendar(overrides))
    assert due == sh(expected)
    assert due.tzinfo == UTC


# (case, start in UTC, calendar, complexity, due in UTC): Shanghai is UTC+8.
DAY_BOUNDARY_CASES = [
    # 15:30 UTC Monday is 23:30 in Shanghai: after hours, so counted from Tuesday 09:00.
    ("23:30 Shanghai, working", "2026-11-09T15:30", WORKING, "simple", "2026-11-11T01:00"),
    ("23:30 Shanghai, natural", "2026-11-09T15:30", NATURAL, "simple", "2026-11-10T15:30"),
    # 16:30 UTC Friday is already Saturday 00:30 in Shanghai.
    ("Saturday 00:30 Shanghai", "2026-11-06T16:30", WORKING, "simple", "2026-11-10T01:00"),
    # 23:30 UTC Sunday is Monday 07:30 in Shanghai: before hours on a working day.
    ("Monday 07:30 Shanghai", "2026-11-08T23:30", WORKING, "simple", "2026-11-10T01:00"),
    # 02:00 UTC is 10:00 Shanghai: the same local clock time on the next working day.
    ("10:00 Shanghai", "2026-11-09T02:00", WORKING, "simple", "2026-11-10T02:00"),
]


@pytest.mark.parametrize(
    ("start", "policy", "complexity", "expected"),
    [case[1:] for case in DAY_BOUNDARY_CASES],
    ids=[case[0] for case in DAY_BOUNDARY_CASES],
)
def test_days_are_shanghai_days(start: str, policy: Policy, complexity: str, expected: str) -> None:
    assert resolve_due(utc(start), policy, complexity, PLAIN) == utc(expected)


@pytest.mark.parametrize(
    ("complexity", "days"), [("simple", 1), ("general", 3), ("complex", 7), ("difficult", 15)]
)
def test_natural_days_ignore_the_calendar(complexity: str, days: int) -> None:
    # Across National Day and a weekend: natural days are 24 hours each, whatever the date.
    start = sh("2026-09-30T10:00")
    every_day_off = WorkCalendar({date(2026, 10, d): (False, "") for d in range(1, 32)})
    assert resolve_due(start, NATURAL, complexity, every_day_off) == start + timedelta(days=days)


def test_category_days_override_the_defaults() -> None:
    policy = Policy("natural", resolve_days={"general": 5})
    start = sh("2026-11-09T10:00")
    assert resolve_days(policy, "general") == 5
    assert resolve_days(policy, "complex") == DEFAULT_RESOLVE_DAYS["complex"] == 7
    assert resolve_due(start, policy, "general", PLAIN) == sh("2026-11-14T10:00")
    working = Policy("working", resolve_days={"simple": 2})
    assert resolve_due(start, working, "simple", PLAIN) == sh("2026-11-11T10:00")


@pytest.mark.parametrize(
    ("created", "minutes", "expected"),
    [
        ("2026-11-09T10:00", 60, "2026-11-09T11:00"),
        ("2026-11-09T23:50", 15, "2026-11-10T00:05"),  # across midnight
        ("2026-10-01T09:00", 120, "2026-10-01T11:00"),  # holidays do not pause it
        ("2026-11-07T12:00", 10080, "2026-11-14T12:00"),  # the longest allowed, 7 days
    ],
)
def test_response_due_is_natural_minutes(created: str, minutes: int, expected: str) -> None:
    due = response_due(sh(created), Policy(response_sla_minutes=minutes))
    assert due == sh(expected)
    assert due.tzinfo == UTC


def test_response_due_accepts_any_offset_and_answers_in_utc() -> None:
    local = datetime(2026, 11, 9, 10, 0, tzinfo=SHANGHAI)
    due = response_due(local, Policy(response_sla_minutes=30))
    assert due == datetime(2026, 11, 9, 2, 30, tzinfo=UTC)
    assert due.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("due", "hours", "expected"),
    [
        ("2026-11-09T10:00", 24, "2026-11-10T10:00"),
        ("2026-11-06T16:00", 48, "2026-11-08T16:00"),  # over the weekend: natural hours
        ("2026-09-30T10:00", 5, "2026-09-30T15:00"),
    ],
)
def test_extend_adds_natural_hours(due: str, hours: int, expected: str) -> None:
    assert extend(sh(due), hours) == sh(expected)


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 9, 10, 0)
    with pytest.raises(ValueError):
        response_due(naive, WORKING)
    with pytest.raises(ValueError):
        resolve_due(naive, WORKING, "simple", PLAIN)
    with pytest.raises(ValueError):
        extend(naive, 1)


def test_unknown_complexity_or_calendar_is_a_bug() -> None:
    start = sh("2026-11-09T10:00")
    with pytest.raises(ValueError):
        resolve_due(start, WORKING, "urgent", PLAIN)
    with pytest.raises(ValueError):
        resolve_due(start, Policy("hours"), "simple", PLAIN)


def test_deadline_never_lands_outside_office_hours() -> None:
    # Every minute-of-week start over a fortnight with holidays in it: the working-day
    # deadline is on a working day, inside [09:00, 17:00).
    calendar = WorkCalendar()
    start = sh("2026-09-28T00:00")
    for step in range(0, 14 * 24 * 60, 37):
        due = resolve_due(start + timedelta(minutes=step), WORKING, "simple", calendar)
        local = due.astimezone(SHANGHAI)
        assert calendar.is_workday(local.date()), local
        assert 9 <= local.hour < 17, local


def test_later_submission_never_gets_an_earlier_deadline() -> None:
    calendar = WorkCalendar()
    start = sh("2026-09-17T00:00")
    previous = None
    for step in range(0, 30 * 24 * 60, 23):
        due = resolve_due(start + timedelta(minutes=step), WORKING, "general", calendar)
        if previous is not None:
            assert due >= previous
        previous = due
