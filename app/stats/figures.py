"""Figure arithmetic (DESIGN §6), independent of where the numbers come from.

Every source — rows of ``report``, cells of the roll-up, rows still in the
ledger — is turned into partial ``Tally`` objects, which add up exactly: counts
and sums of microseconds are integers, and durations are kept as the multiset
of their values, so the median over any union of parts is the true median.

- A rate is numerator ÷ denominator, ``None`` when the denominator is 0,
  rounded half up to 4 decimals (0.01 %).
- A mean is the exact sum of microseconds ÷ count, rounded half up to
  2 decimals of the unit (minutes or hours).
- The median is the interpolated one — PostgreSQL's ``percentile_cont(0.5)``:
  the middle value of an odd count, the mean of the two middle values of an
  even count — computed on integer microseconds, then rounded like the mean.
  It is the same number whichever database stored the values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

US_PER_MINUTE = 60_000_000
US_PER_HOUR = 3_600_000_000

COUNTS = (
    "received",
    "accepted_on_time",
    "resolved",
    "resolved_on_time",
    "rated",
    "satisfied",
    "reopened",
    "ever_resolved",
    "resp_n",
    "resp_sum_us",
    "res_n",
    "res_sum_us",
)

# Packed durations come as big-endian int64 (PostgreSQL ``int8send``) or as
# comma-separated text (SQLite ``group_concat``).
_PACKED = np.dtype(">i8")


_EMPTY: NDArray[np.int64] = np.empty(0, dtype=np.int64)


class LedgerMismatch(RuntimeError):
    """The roll-up disagrees with itself: a removal of a duration never added."""


def _decode(chunk: bytes | str | None) -> NDArray[np.int64] | None:
    if chunk is None or len(chunk) == 0:
        return None
    if isinstance(chunk, str):
        return np.array([int(v) for v in chunk.split(",")], dtype=np.int64)
    return np.frombuffer(chunk, dtype=_PACKED).astype(np.int64)


@dataclass
class Durations:
    """A multiset of durations in microseconds: values added minus values removed."""

    added: list[bytes | str] = field(default_factory=list)
    removed: list[bytes | str] = field(default_factory=list)

    def add(self, chunk: bytes | str | None) -> None:
        if chunk:
            self.added.append(chunk)

    def remove(self, chunk: bytes | str | None) -> None:
        if chunk:
            self.removed.append(chunk)

    def merge(self, other: Durations) -> None:
        self.added.extend(other.added)
        self.removed.extend(other.removed)

    @staticmethod
    def _array(chunks: list[bytes | str]) -> NDArray[np.int64]:
        if not chunks:
            return _EMPTY
        if len(chunks) == 1:  # the usual case: one value per group from the database
            one = _decode(chunks[0])
            return one if one is not None else np.empty(0, dtype=np.int64)
        binary = b"".join(c for c in chunks if isinstance(c, bytes))
        parts = [a for a in (_decode(c) for c in chunks if isinstance(c, str)) if a is not None]
        first = _decode(binary)
        if first is not None:
            parts.insert(0, first)
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def values(self) -> NDArray[np.int64]:
        added = self._array(self.added)
        if not self.removed:
            return added
        removed = np.sort(self._array(self.removed))
        added = np.sort(added)
        # Take each removed value out once: for a value removed k times, drop
        # the first k of its run in the sorted values.
        gone, times = np.unique(removed, return_counts=True)
        start = np.searchsorted(added, gone, side="left")
        end = np.searchsorted(added, gone, side="right")
        if (end - start < times).any():
            raise LedgerMismatch("统计台账与汇总不一致：移除了不存在的时长")
        keep = np.ones(added.size, dtype=bool)
        offsets = np.arange(times.sum()) - np.repeat(np.cumsum(times) - times, times)
        keep[np.repeat(start, times) + offsets] = False
        return added[keep]


def median_us(values: NDArray[np.int64]) -> Fraction | None:
    """Interpolated median of integer microseconds (``percentile_cont(0.5)``), exact."""
    n = int(values.size)
    if n == 0:
        return None
    k = n // 2
    if n % 2:
        return Fraction(int(np.partition(values, k)[k]))
    part = np.partition(values, [k - 1, k])
    return Fraction(int(part[k - 1]) + int(part[k]), 2)


@dataclass
class Tally:
    """Additive partial figures of a set of cases."""

    received: int = 0
    accepted_on_time: int = 0
    resolved: int = 0
    resolved_on_time: int = 0
    rated: int = 0
    satisfied: int = 0
    reopened: int = 0
    ever_resolved: int = 0
    resp_n: int = 0
    resp_sum_us: int = 0
    res_n: int = 0
    res_sum_us: int = 0
    overdue_open: int = 0
    resp: Durations = field(default_factory=Durations)
    res: Durations = field(default_factory=Durations)

    def add_counts(self, values: Sequence[Any]) -> None:
        """Add values given in the order of ``COUNTS``; ``None`` counts as 0."""
        for name, value in zip(COUNTS, values, strict=True):
            if value:
                setattr(self, name, getattr(self, name) + int(value))

    def merge(self, other: Tally) -> None:
        for name in (*COUNTS, "overdue_open"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.resp.merge(other.resp)
        self.res.merge(other.res)

    def subtract(self, other: Tally) -> None:
        """Take away a subset of the cases already counted here."""
        for name in (*COUNTS, "overdue_open"):
            setattr(self, name, getattr(self, name) - getattr(other, name))
        self.resp.removed.extend(other.resp.added)
        self.resp.added.extend(other.resp.removed)
        self.res.removed.extend(other.res.added)
        self.res.added.extend(other.res.removed)


def merged(tallies: Iterable[Tally]) -> Tally:
    total = Tally()
    for t in tallies:
        total.merge(t)
    return total


def _half_up(p: int, q: int, decimals: int) -> float:
    """``p / q`` rounded half up to ``decimals`` places, in exact integer arithmetic."""
    scale = 10**decimals
    return ((2 * p * scale + q) // (2 * q)) / scale


def rate(numerator: int, denominator: int) -> float | None:
    if denominator == 0:
        return None
    return _half_up(numerator, denominator, 4)


def _in_unit(us: Fraction | None, per_unit: int) -> float | None:
    if us is None:
        return None
    return _half_up(us.numerator, us.denominator * per_unit, 2)


def _mean(total: int, n: int) -> Fraction | None:
    return Fraction(total, n) if n else None


def figures(t: Tally) -> dict[str, Any]:
    """The published figures of a tally, in the order of API.md."""
    resp = t.resp.values()
    res = t.res.values()
    if resp.size != t.resp_n or res.size != t.res_n:
        raise LedgerMismatch("统计台账与汇总不一致：时长个数与计数不符")
    return {
        "received": t.received,
        "accepted_on_time": t.accepted_on_time,
        "response_rate": rate(t.accepted_on_time, t.received),
        "resolved": t.resolved,
        "completion_rate": rate(t.resolved, t.received),
        "resolved_on_time": t.resolved_on_time,
        "on_time_rate": rate(t.resolved_on_time, t.resolved),
        "rated": t.rated,
        "satisfied": t.satisfied,
        "satisfaction_rate": rate(t.satisfied, t.rated),
        "reopened": t.reopened,
        "ever_resolved": t.ever_resolved,
        "reopen_rate": rate(t.reopened, t.ever_resolved),
        "overdue_open": t.overdue_open,
        "avg_response_minutes": _in_unit(_mean(t.resp_sum_us, t.resp_n), US_PER_MINUTE),
        "median_response_minutes": _in_unit(median_us(resp), US_PER_MINUTE),
        "avg_resolve_hours": _in_unit(_mean(t.res_sum_us, t.res_n), US_PER_HOUR),
        "median_resolve_hours": _in_unit(median_us(res), US_PER_HOUR),
    }
