"""Opening hours as pure rules: validation, overlaps, holidays and "open at"."""

from __future__ import annotations

from datetime import date

import pytest

from app.convenience import hours
from app.reports.calendar import WorkCalendar
from tests.convenience.helpers import sh

MONDAY_AND_SUNDAY_NIGHT = [
    {"weekday": 7, "open": "20:00", "close": "24:00"},
    {"weekday": 1, "open": "00:00", "close": "02:00"},
    {"weekday": 1, "open": "08:30", "close": "12:00"},
    {"weekday": 1, "open": "14:30", "close": "17:30"},
]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-22T19:59", False),  # Sunday, before the evening opening
        ("2026-11-22T20:00", True),  # Sunday evening: open is inclusive
        ("2026-11-22T23:59", True),
        ("2026-11-23T00:00", True),  # Monday from midnight: Monday's own interval
        ("2026-11-23T01:59", True),
        ("2026-11-23T02:00", False),  # close is exclusive
        ("2026-11-23T08:29", False),
        ("2026-11-23T08:30", True),
        ("2026-11-23T12:00", False),  # lunch break
        ("2026-11-23T14:30", True),
        ("2026-11-23T17:30", False),
        ("2026-11-24T09:00", False),  # Tuesday has no hours
    ],
)
def test_open_at_shanghai_times(at: str, expected: bool) -> None:
    result = hours.is_open(
        MONDAY_AND_SUNDAY_NIGHT, at=sh(at), holiday=False, open_on_holidays=False
    )
    assert result is expected


def test_weekday_is_taken_in_shanghai_not_utc() -> None:
    early_monday = [{"weekday": 1, "open": "06:00", "close": "08:00"}]
    at = sh("2026-11-23T07:00")  # Sunday 23:00 UTC
    assert at.isoweekday() == 7
    assert hours.is_open(early_monday, at=at, holiday=False, open_on_holidays=False)


@pytest.mark.parametrize(
    ("holiday", "open_on_holidays", "expected"),
    [(False, False, True), (True, False, False), (True, True, True), (False, True, True)],
)
def test_holiday_closes_unless_open_on_holidays(
    holiday: bool, open_on_holidays: bool, expected: bool
) -> None:
    intervals = [{"weekday": 4, "open": "09:00", "close": "17:00"}]
    at = sh("2026-10-01T10:00")  # a Thursday
    result = hours.is_open(intervals, at=at, holiday=holiday, open_on_holidays=open_on_holidays)
    assert result is expected


@pytest.mark.parametrize(
    ("day", "overrides", "expected"),
    [
        (date(2026, 10, 1), {}, True),  # 国庆节, a Thursday
        (date(2026, 10, 3), {}, True),  # a Saturday inside the National Day period
        (date(2026, 10, 10), {}, False),  # 调休: a Saturday worked
        (date(2026, 11, 21), {}, False),  # an ordinary Saturday is not a holiday
        (date(2026, 11, 23), {}, False),  # an ordinary Monday
        (date(2026, 11, 23), {date(2026, 11, 23): (False, "临时休息")}, True),
        (date(2026, 10, 1), {date(2026, 10, 1): (True, "改为工作日")}, False),
    ],
)
def test_official_holidays(
    day: date, overrides: dict[date, tuple[bool, str]], expected: bool
) -> None:
    assert hours.is_official_holiday(WorkCalendar(overrides), day) is expected


def test_overlaps_are_refused_and_touching_intervals_are_not() -> None:
    touching = [
        {"weekday": 2, "open": "12:00", "close": "18:00"},
        {"weekday": 2, "open": "08:00", "close": "12:00"},
    ]
    assert [r["open"] for r in hours.normalise(touching)] == ["08:00", "12:00"]
    with pytest.raises(ValueError, match="重叠"):
        hours.normalise(
            [
                {"weekday": 2, "open": "08:00", "close": "12:30"},
                {"weekday": 2, "open": "12:00", "close": "18:00"},
            ]
        )
    # The same times on different days do not overlap.
    assert (
        len(
            hours.normalise(
                [
                    {"weekday": 2, "open": "08:00", "close": "12:30"},
                    {"weekday": 3, "open": "08:00", "close": "12:30"},
                ]
            )
        )
        == 2
    )


@pytest.mark.parametrize(
    ("text", "as_open", "as_close"),
    [
        ("08:30", True, True),
        ("00:00", True, True),
        ("23:59", True, True),
        ("24:00", False, True),
        ("8:30", False, False),
        ("24:01", False, False),
        ("12:60", False, False),
        ("", False, False),
        ("08:30:00", False, False),
        ("08:30\n", False, False),
    ],
)
def test_time_formats(text: str, as_open: bool, as_close: bool) -> None:
    assert hours.valid_open(text) is as_open
    assert hours.valid_close(text) is as_close
