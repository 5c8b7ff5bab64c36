"""Coordinates: GCJ-02 ↔ WGS-84 and the bounds of China.

WeChat map components give GCJ-02 (the offset datum every map of China must
use); grid boundaries and stored locations are WGS-84. The forward transform
is the published GCJ-02 formula on the Krasovsky 1940 ellipsoid; there is no
closed-form inverse, so ``gcj02_to_wgs84`` iterates the forward transform until
the residual is far below the 0.1 m the dispatch rules require.
"""

from __future__ import annotations

import math
from typing import Literal

Coord = Literal["gcj02", "wgs84"]

# Krasovsky 1940 semi-major axis and first eccentricity squared, as the GCJ-02 formula uses them.
_A = 6378245.0
_EE = 0.00669342162296594323

# The rectangle inside which the GCJ-02 offset is applied; outside it the
# published implementations return the point unchanged, and so do we.
_GCJ_MIN_LNG, _GCJ_MAX_LNG = 72.004, 137.8347
_GCJ_MIN_LAT, _GCJ_MAX_LAT = 0.8293, 55.8271

# What we accept as "in China" for grids and located points: the mainland and
# islands (about 73.5–135.1 E, 3.8–53.6 N) with a small margin. It is a
# plausibility check that catches wrong datums and swapped axes, not a border.
CHINA_MIN_LNG, CHINA_MAX_LNG = 73.0, 136.0
CHINA_MIN_LAT, CHINA_MAX_LAT = 3.0, 54.0

METRES_PER_DEGREE = 111_319.49  # along the equator / a meridian, close enough for tolerances

# The inverse stops once the forward transform of the estimate lands within
# 1 cm of the input, a tenth of the 0.1 m the design asks for.
_INVERSE_TOLERANCE_M = 0.01
_INVERSE_MAX_ITERATIONS = 30


def in_china(lng: float, lat: float) -> bool:
    """True when (lng, lat) lies in the plausibility box of China (NaN is never inside)."""
    return CHINA_MIN_LNG <= lng <= CHINA_MAX_LNG and CHINA_MIN_LAT <= lat <= CHINA_MAX_LAT


def looks_swapped(lng: float, lat: float) -> bool:
    """True when the pair only makes sense read the other way round, i.e. it was
    written as [lat, lng] although GeoJSON positions are [lng, lat]."""
    return not in_china(lng, lat) and in_china(lat, lng)


def _in_gcj_area(lng: float, lat: float) -> bool:
    return _GCJ_MIN_LNG <= lng <= _GCJ_MAX_LNG and _GCJ_MIN_LAT <= lat <= _GCJ_MAX_LAT


def _offset(lng: float, lat: float) -> tuple[float, float]:
    """The GCJ-02 offset (d_lng, d_lat) in degrees at WGS-84 point (lng, lat)."""
    x, y = lng - 105.0, lat - 35.0
    common = (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    d_lat += common
    d_lat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    d_lat += (
        (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    )
    d_lng = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    d_lng += common
    d_lng += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    d_lng += (
        (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )

    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lng = (d_lng * 180.0) / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lng, d_lat


def wgs84_to_gcj02(lng: float, lat: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02; points outside the GCJ-02 area come back unchanged."""
    if not _in_gcj_area(lng, lat):
        return lng, lat
    d_lng, d_lat = _offset(lng, lat)
    return lng + d_lng, lat + d_lat


def gcj02_to_wgs84(lng: float, lat: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84 to within 0.1 m (in practice about 1 cm).

    Fixed-point iteration on the forward transform: the offset changes by well
    under 1 % of a step between neighbouring points, so each round shrinks the
    error by two orders of magnitude and three or four rounds suffice.
    """
    if not _in_gcj_area(lng, lat):
        return lng, lat
    w_lng, w_lat = lng, lat
    metres_per_lng = METRES_PER_DEGREE * math.cos(math.radians(lat))
    for _ in range(_INVERSE_MAX_ITERATIONS):
        g_lng, g_lat = wgs84_to_gcj02(w_lng, w_lat)
        e_lng, e_lat = g_lng - lng, g_lat - lat
        if (
            abs(e_lng) * metres_per_lng < _INVERSE_TOLERANCE_M
            and abs(e_lat) * METRES_PER_DEGREE < _INVERSE_TOLERANCE_M
        ):
            break
        w_lng -= e_lng
        w_lat -= e_lat
    return w_lng, w_lat


def to_wgs84(lng: float, lat: float, coord: Coord) -> tuple[float, float]:
    """A point as the client sent it (``coord`` names its datum) in WGS-84."""
    if coord == "gcj02":
        return gcj02_to_wgs84(lng, lat)
    return lng, lat


def distance_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine on a 6371 km sphere)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(h)))
