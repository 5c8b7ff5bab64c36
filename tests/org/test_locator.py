"""The in-memory grid index, without the database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.org.locator import GridIndex, GridRow, LocatorCache


def rect(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
    }


# Four unit squares meeting at (1, 1), with ids chosen so that the smallest id
# is not the first row and a hole in grid 9 holds grid 4.
ROWS: list[GridRow] = [
    (7, rect(0, 0, 1, 1)),
    (3, rect(1, 0, 2, 1)),
    (5, rect(0, 1, 1, 2)),
    (8, rect(1, 1, 2, 2)),
    (
        9,
        {
            "type": "Polygon",
            "coordinates": [
                [[10, 0], [13, 0], [13, 3], [10, 3], [10, 0]],
                [[11, 1], [11, 2], [12, 2], [12, 1], [11, 1]],
            ],
        },
    ),
    (4, rect(11, 1, 12, 2)),
    (
        6,
        {
            "type": "MultiPolygon",
            "coordinates": [rect(20, 0, 21, 1)["coordinates"], rect(22, 0, 23, 1)["coordinates"]],
        },
    ),
]


@pytest.mark.parametrize(
    ("lng", "lat", "expected"),
    [
        pytest.param(0.5, 0.5, 7, id="inside"),
        pytest.param(1.5, 0.5, 3, id="inside another"),
        pytest.param(1.0, 0.5, 3, id="shared vertical edge: smaller id"),
        pytest.param(0.5, 1.0, 5, id="shared horizontal edge: smaller id"),
        pytest.param(1.5, 1.0, 3, id="edge 3|8"),
        pytest.param(1.0, 1.5, 5, id="edge 5|8"),
        pytest.param(1.0, 1.0, 3, id="corner shared by four"),
        pytest.param(0.0, 0.5, 7, id="outer edge belongs to its only grid"),
        pytest.param(0.0, 0.0, 7, id="outer corner"),
        pytest.param(2.0001, 0.5, None, id="just outside"),
        pytest.param(5.0, 5.0, None, id="far outside"),
        pytest.param(10.5, 0.5, 9, id="ring grid"),
        pytest.param(11.5, 1.5, 4, id="inside the hole is the inner grid"),
        pytest.param(11.0, 1.5, 4, id="hole edge: smaller id"),
        pytest.param(20.5, 0.5, 6, id="multipolygon first part"),
        pytest.param(22.5, 0.5, 6, id="multipolygon second part"),
        pytest.param(21.5, 0.5, None, id="between multipolygon parts"),
    ],
)
def test_locate(lng: float, lat: float, expected: int | None) -> None:
    assert GridIndex.from_geojson(ROWS).locate(lng, lat) == expected


def test_the_answer_does_not_depend_on_build_order() -> None:
    forward = GridIndex.from_geojson(ROWS)
    backward = GridIndex.from_geojson(list(reversed(ROWS)))

    for point in [(1.0, 0.5), (0.5, 1.0), (1.0, 1.0), (11.0, 1.5)]:
        assert forward.locate(*point) == backward.locate(*point)


def test_unreadable_rows_are_skipped_not_fatal() -> None:
    rows: list[GridRow] = [
        (1, {"type": "Point", "coordinates": [0, 0]}),
        (2, {"type": "Polygon", "coordinates": []}),
        (3, {"type": "Polygon"}),
        (4, rect(0, 0, 1, 1)),
    ]

    index = GridIndex.from_geojson(rows)

    assert len(index) == 1
    assert index.locate(0.5, 0.5) == 4


def test_an_empty_index_finds_nothing() -> None:
    assert GridIndex.from_geojson([]).locate(0.5, 0.5) is None


async def test_cache_rebuilds_only_when_the_stamp_changes() -> None:
    cache = LocatorCache()
    loads = 0
    rows = [(1, rect(0, 0, 1, 1))]

    async def load() -> list[GridRow]:
        nonlocal loads
        loads += 1
        return list(rows)

    first = await cache.get((1, "a"), load)
    again = await cache.get((1, "a"), load)
    assert first is again and loads == 1

    rows.append((2, rect(1, 0, 2, 1)))
    # Same counter, different token: a rolled-back or restored database.
    rebuilt = await cache.get((1, "b"), load)
    assert rebuilt is not first and loads == 2
    assert rebuilt.locate(1.5, 0.5) == 2
    assert first.locate(1.5, 0.5) is None


async def test_concurrent_callers_share_one_rebuild() -> None:
    cache = LocatorCache()
    loads = 0

    async def slow_load() -> list[GridRow]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(0.01)
        return [(1, rect(0, 0, 1, 1))]

    results = await asyncio.gather(*(cache.get((3, "x"), slow_load) for _ in range(10)))

    assert loads == 1
    assert all(r is results[0] for r in results)


def test_the_fast_build_and_the_tolerant_build_agree() -> None:
    from app.org.locator import _build_one_by_one, _build_vectorised

    with_altitude = (
        10,
        {
            "type": "Polygon",
            "coordinates": [[[*p, 50.0] for p in rect(30, 0, 31, 1)["coordinates"][0]]],
        },
    )
    rows = [*ROWS, with_altitude]

    fast_ids, fast = _build_vectorised(rows)
    slow_ids, slow = _build_one_by_one(rows)

    assert fast_ids == slow_ids
    assert [g.geom_type for g in fast] == [g.geom_type for g in slow]
    assert all(a.equals(b) for a, b in zip(fast, slow, strict=True))
    assert GridIndex.from_geojson(rows).locate(30.5, 0.5) == 10
