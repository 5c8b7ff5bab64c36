"""The arithmetic of figures.py: rates, means, the median, multisets with removals."""

from __future__ import annotations

import statistics
import struct
from fractions import Fraction

import numpy as np
import pytest

from app.stats.figures import Durations, LedgerMismatch, Tally, figures, median_us, rate


def packed(*values: int) -> bytes:
    """As PostgreSQL's int8send packs them: big-endian int64."""
    return b"".join(struct.pack(">q", v) for v in values)


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [
        (0, 0, None),  # nothing to divide by: null, never 0 or 100 %
        (5, 0, None),
        (0, 7, 0.0),
        (7, 7, 1.0),
        (2, 3, 0.6667),
        (1, 3, 0.3333),
        (1, 8, 0.125),
        (1, 16, 0.0625),
        (1, 32, 0.0313),  # 0.03125: half up
    ],
)
def test_rate(num: int, den: int, expected: float | None) -> None:
    assert rate(num, den) == expected


@pytest.mark.parametrize(
    "values",
    [[], [5], [1, 2], [3, 1, 2], [10, 20, 20, 30, 90, 150], [7, 7, 7, 7], [1, 4], [0, 1]],
)
def test_median_is_the_interpolated_one(values: list[int]) -> None:
    got = median_us(np.array(values, dtype=np.int64))
    if not values:
        assert got is None
    else:
        assert got == Fraction(statistics.median(values))


def test_median_keeps_half_microseconds_exact() -> None:
    big = 2**53 + 1  # beyond float precision
    assert median_us(np.array([big, big + 2], dtype=np.int64)) == big + 1
    assert median_us(np.array([0, 1], dtype=np.int64)) == Fraction(1, 2)


def test_durations_from_both_encodings_with_removals() -> None:
    d = Durations()
    d.add(packed(5, 1, 9))
    d.add("4,1")  # SQLite group_concat
    d.remove(packed(1))
    d.remove("9")
    assert sorted(d.values().tolist()) == [1, 4, 5]


def test_removals_take_out_one_occurrence_each() -> None:
    d = Durations()
    d.add(packed(7, 3, 7, 7, 1, 3))
    d.remove(packed(7, 3, 7))
    assert sorted(d.values().tolist()) == [1, 3, 7]


def test_removing_what_was_never_added_is_an_error() -> None:
    d = Durations()
    d.add(packed(1, 2))
    d.remove(packed(3))
    with pytest.raises(LedgerMismatch):
        d.values()
    d = Durations()
    d.add(packed(1))
    d.remove(packed(1, 1))
    with pytest.raises(LedgerMismatch):
        d.values()


def test_figures_of_a_tally() -> None:
    t = Tally(
        received=4,
        accepted_on_time=3,
        resolved=2,
        resolved_on_time=1,
        rated=0,
        ever_resolved=2,
        resp_n=3,
        resp_sum_us=3 * 60_000_000 + 30_000_000,  # 1, 1.5, 1 min
        res_n=2,
        res_sum_us=3 * 3_600_000_000,
    )
    t.resp.add(packed(60_000_000, 90_000_000, 60_000_000))
    t.res.add(packed(3_600_000_000, 7_200_000_000))
    f = figures(t)
    assert f["response_rate"] == 0.75
    assert f["completion_rate"] == 0.5
    assert f["on_time_rate"] == 0.5
    assert f["satisfaction_rate"] is None
    assert f["reopen_rate"] == 0.0
    assert f["avg_response_minutes"] == 1.17  # 3.5 / 3 = 1.1666…
    assert f["median_response_minutes"] == 1.0
    assert f["avg_resolve_hours"] == 1.5
    assert f["median_resolve_hours"] == 1.5


def test_counts_and_values_must_agree() -> None:
    t = Tally(received=1, resp_n=2)
    t.resp.add(packed(1))
    with pytest.raises(LedgerMismatch):
        figures(t)
