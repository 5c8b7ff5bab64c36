"""Query windows: ``from`` (inclusive) and ``to`` (exclusive) take a date
(``2026-11-01`` = 00:00 Asia/Shanghai) or a datetime with an offset.

Every instant a client sends lies between 1970 and 2199: the years Python can
hold go from 1 to 9999, so ``0001-01-01T00:00+14:00`` or ``9999-12-31`` plus a
day cannot even be converted to UTC, and nothing in the service is dated
outside those years. ``Instant`` is the field type for such input; a date
query parameter is checked with ``check_day``.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator, AwareDatetime

from app.core.clock import SHANGHAI
from app.core.errors import invalid_field

FIRST_YEAR, LAST_YEAR = 1970, 2199
RANGE_MESSAGE = "时间超出范围，应在 1970 年至 2199 年之间"


def in_range(value: datetime | date) -> bool:
    """Whether ``value`` falls in the years the service accepts (read in its own
    offset; within them, converting to UTC cannot overflow)."""
    return FIRST_YEAR <= value.year <= LAST_YEAR


def _checked(value: datetime) -> datetime:
    if not in_range(value):
        raise ValueError(RANGE_MESSAGE)
    return value


# An aware datetime in the request body, within the accepted years.
Instant = Annotated[AwareDatetime, AfterValidator(_checked)]


def check_day(value: date, name: str) -> date:
    """A date parameter within the accepted years (422 otherwise)."""
    if not in_range(value):
        raise invalid_field("query", name, f"{name}：{RANGE_MESSAGE}")
    return value


WindowFrom = Annotated[
    str | None,
    Query(alias="from", description="起始（含）：日期 2026-11-01（上海时间零点）或带时区的时间"),
]
WindowTo = Annotated[str | None, Query(alias="to", description="截止（不含）：日期或带时区的时间")]


def parse_bound(value: str | None, name: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time(0), tzinfo=SHANGHAI)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid_field(
            "query", name, f"{name} 时间格式错误，应为 2026-11-01 或带时区的时间"
        ) from exc
    if parsed.tzinfo is None:
        raise invalid_field("query", name, f"{name} 必须带时区，如 2026-11-01T08:00:00+08:00")
    if not in_range(parsed):
        raise invalid_field("query", name, f"{name}：{RANGE_MESSAGE}")
    return parsed


def parse_window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    lo, hi = parse_bound(start, "from"), parse_bound(end, "to")
    if lo is not None and hi is not None and hi <= lo:
        raise invalid_field("query", "to", "to 必须晚于 from")
    return lo, hi
