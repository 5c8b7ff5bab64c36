"""The one source of the current time, so SLA and statistics tests can move it.

Rules take ``now()`` instead of calling ``datetime.now()``; tests use ``frozen``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """Current time, timezone-aware in UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def set_now(value: datetime | None) -> None:
    global _frozen
    _frozen = value.astimezone(UTC) if value is not None else None


def advance(delta: timedelta) -> None:
    """Move a frozen clock forward (or the live clock, by an offset)."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta


@contextmanager
def frozen(value: datetime) -> Iterator[None]:
    global _offset
    previous, previous_offset = _frozen, _offset
    set_now(value)
    try:
        yield
    finally:
        set_now(previous)
        _offset = previous_offset


def to_shanghai(value: datetime) -> datetime:
    return value.astimezone(SHANGHAI)
