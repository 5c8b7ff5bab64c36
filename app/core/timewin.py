"""Query windows: ``from`` (inclusive) and ``to`` (exclusive) take a date
(``2026-11-01`` = 00:00 Asia/Shanghai) or a datetime with an offset."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated

from fastapi import Query

from app.core.clock import SHANGHAI
from app.core.errors import Invalid

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
            return datetime.combine(date.fromisoformat(text), time(0), tzinfo=SHANGHAI)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Invalid(
            "validation_error",
            f"{name} 时间格式错误，应为 2026-11-01 或带时区的时间",
            details={"field": name, "value": value},
        ) from exc
    if parsed.tzinfo is None:
        raise Invalid(
            "validation_error",
            f"{name} 必须带时区，如 2026-11-01T08:00:00+08:00",
            details={"field": name, "value": value},
        )
    return parsed


def parse_window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    lo, hi = parse_bound(start, "from"), parse_bound(end, "to")
    if lo is not None and hi is not None and hi <= lo:
        raise Invalid("validation_error", "to 必须晚于 from", details={"from": start, "to": end})
    return lo, hi
