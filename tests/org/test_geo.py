"""GCJ-02 ↔ WGS-84 against published reference pairs, and the China bounds."""

from __future__ import annotations

import math

import pytest

from app.org.geo import (
    distance_m,
    gcj02_to_wgs84,
    in_china,
    looks_swapped,
    to_wgs84,
    wgs84_to_gcj02,
)

# (wgs_lng, wgs_lat, gcj_lng, gcj_lat), from the test suites of two widely used
# implementations:
# - googollee/eviltransform, go/transform_test.go and python/test.py
#   (Shanghai, Shenzhen, Beijing; the pairs are given there as lat, lng);
# - wandergis/coordtransform, test/app.js: wgs84togcj02(116.404, 39.915).
REFERENCE_PAIRS = [
    pytest.param(121.5272106, 31.1774276, 121.531541859215, 31.17530398364597, id="shanghai"),
    pytest.param(113.912316, 22.543847, 113.9171764808363, 22.540796131694766, id="shenzhen"),
    pytest.param(116.377817, 39.911954, 116.38404722455657, 39.91334545536069, id="beijing"),
    pytest.param(116.404, 39.915, 116.41024449916938, 39.91640428150164, id="tiananmen"),
]


@pytest.mark.parametrize(("wgs_lng", "wgs_lat", "gcj_lng", "gcj_lat"), REFERENCE_PAIRS)
def test_forward_transform_matches_reference(
    wgs_lng: float, wgs_lat: float, gcj_lng: float, gcj_lat: float
) -> None:
    lng, lat = wgs84_to_gcj02(wgs_lng, wgs_lat)

    assert lng == pytest.approx(gcj_lng, abs=1e-9)
    assert lat == pytest.approx(gcj_lat, abs=1e-9)


@pytest.mark.parametrize(("wgs_lng", "wgs_lat", "gcj_lng", "gcj_lat"), REFERENCE_PAIRS)
def test_inverse_transform_lands_within_10_cm_of_reference(
    wgs_lng: float, wgs_lat: float, gcj_lng: float, gcj_lat: float
) -> None:
    lng, lat = gcj02_to_wgs84(gcj_lng, gcj_lat)

    assert distance_m(lng, lat, wgs_lng, wgs_lat) < 0.1


def test_inverse_matches_gcoord_reference() -> None:
    # hujiulong/gcoord, test/unit/crs/GCJ02.spec.js: GCJ02 → WGS84 of [123, 45]
    # is [122.99395597, 44.99804071] to 5 decimals.
    lng, lat = gcj02_to_wgs84(123, 45)

    assert lng == pytest.approx(122.99395597, abs=5e-6)
    assert lat == pytest.approx(44.99804071, abs=5e-6)


ROUND_TRIP_POINTS = [
    (112.9425, 35.0891),  # 沁阳
    (126.6424, 45.7567),  # 哈尔滨
    (87.6177, 43.7928),  # 乌鲁木齐
    (91.1322, 29.6604),  # 拉萨
    (109.5119, 18.2528),  # 三亚
    (121.4737, 31.2304),  # 上海
    (134.2800, 47.7100),  # 抚远, near the eastern edge
    (73.9900, 39.4700),  # 乌恰, near the western edge
]


# Subtracting the offset once (the common shortcut) is 0.3–2 m off at these
# points, so only an iterative inverse passes the round trip below.
@pytest.mark.parametrize(("lng", "lat"), ROUND_TRIP_POINTS)
def test_round_trip_through_gcj02_returns_within_10_cm(lng: float, lat: float) -> None:
    gcj = wgs84_to_gcj02(lng, lat)
    offset = distance_m(*gcj, lng, lat)
    back = gcj02_to_wgs84(*gcj)

    assert 10 < offset < 1500  # the offset is real, hundreds of metres
    assert distance_m(*back, lng, lat) < 0.1


@pytest.mark.parametrize(("lng", "lat"), ROUND_TRIP_POINTS)
def test_round_trip_from_gcj02_side(lng: float, lat: float) -> None:
    wgs = gcj02_to_wgs84(lng, lat)

    assert distance_m(*wgs84_to_gcj02(*wgs), lng, lat) < 0.1


@pytest.mark.parametrize(
    ("lng", "lat"),
    [(151.2093, -33.8688), (2.3522, 48.8566), (-74.006, 40.7128), (139.9, 35.6)],
    ids=["sydney", "paris", "new york", "east of the gcj box"],
)
def test_points_outside_the_gcj_area_are_not_shifted(lng: float, lat: float) -> None:
    assert wgs84_to_gcj02(lng, lat) == (lng, lat)
    assert gcj02_to_wgs84(lng, lat) == (lng, lat)


def test_to_wgs84_converts_only_gcj02() -> None:
    assert to_wgs84(112.9425, 35.0891, "wgs84") == (112.9425, 35.0891)
    assert to_wgs84(112.9425, 35.0891, "gcj02") == gcj02_to_wgs84(112.9425, 35.0891)
    assert to_wgs84(112.9425, 35.0891, "gcj02") != (112.9425, 35.0891)


@pytest.mark.parametrize(
    ("lng", "lat", "inside", "swapped"),
    [
        (112.9425, 35.0891, True, False),
        (35.0891, 112.9425, False, True),
        (121.47, 31.23, True, False),
        (31.23, 121.47, False, True),
        (151.2, -33.9, False, False),
        (0.0, 0.0, False, False),
        (12645000.0, 4123000.0, False, False),  # web mercator metres
        (math.nan, 35.0, False, False),
        (136.5, 35.0, False, False),
        (112.9, 2.5, False, False),
    ],
)
def test_china_bounds_and_swapped_axes(lng: float, lat: float, inside: bool, swapped: bool) -> None:
    assert in_china(lng, lat) is inside
    assert looks_swapped(lng, lat) is swapped
