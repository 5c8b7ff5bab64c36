"""Validation of one grid's GeoJSON geometry: a Polygon or MultiPolygon of
closed rings, 2-D positions inside China in [lng, lat] order, a valid shape
with an area. Each problem is reported in Chinese, naming the ring or the
position at fault."""

from __future__ import annotations

import math
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from app.org import geo
from app.org.grid_features import Problem, feature_ref
from app.org.locator import geometry_from_geojson

# Two grids whose intersection is larger than this overlap; shared edges and
# the slivers left by rounding coordinates to ~1 cm stay far below it.
OVERLAP_TOLERANCE_M2 = 1.0

_VALIDITY_REASONS = {
    "Self-intersection": "边界自相交",
    "Ring Self-intersection": "边界环自相交",
    "Too few points": "顶点太少",
    "Hole lies outside shell": "内环（洞）位于外环之外",
    "Holes are nested": "内环相互嵌套",
    "Interior is disconnected": "面的内部不连通",
    "Nested shells": "多个外环相互嵌套",
    "Duplicate Rings": "存在重复的环",
    "Invalid Coordinate": "坐标无效",
}


def area_m2(geometry: BaseGeometry) -> float:
    """Approximate area in m² of a small lng/lat geometry (equirectangular at its centre)."""
    if geometry.is_empty:
        return 0.0
    lat = geometry.centroid.y
    return geometry.area * geo.METRES_PER_DEGREE**2 * math.cos(math.radians(lat))


def parse_geometry(
    index: int, geometry: Any, problems: list[Problem]
) -> tuple[BaseGeometry, dict[str, Any]] | None:
    """The shape and the normalised GeoJSON (2-D float positions) of feature
    ``index``'s geometry, or None once what is wrong with it is in ``problems``."""
    where = feature_ref(index)

    def bad(code: str, message: str, **extra: Any) -> None:
        problems.append(Problem(index, code, f"{where}{message}", extra))

    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        bad(
            "regions.invalid_geometry",
            f"的 geometry 应为 Polygon 或 MultiPolygon（实际为 {kind or '空'}）",
            reason="type",
        )
        return None
    kind = geometry["type"]
    raw = geometry.get("coordinates")
    polygons = [raw] if kind == "Polygon" else raw
    if not isinstance(polygons, list) or not polygons:
        bad("regions.invalid_geometry", "的 coordinates 为空或格式不对", reason="structure")
        return None

    normalised: list[list[list[list[float]]]] = []
    for p, rings in enumerate(polygons):
        if not isinstance(rings, list) or not rings:
            bad("regions.invalid_geometry", "的 coordinates 为空或格式不对", reason="structure")
            return None
        out_rings = []
        for r, ring in enumerate(rings):
            ring_label = _ring_label(kind, p, r)
            positions = _positions(ring)
            if positions is None:
                bad(
                    "regions.invalid_geometry",
                    f"的{ring_label}坐标格式不对（应为 [经度, 纬度] 数组）",
                    reason="structure",
                )
                return None
            if len(positions) < 4:
                bad(
                    "regions.invalid_geometry",
                    f"的{ring_label}至少需要 4 个坐标点（首尾相同）",
                    reason="too_few_points",
                )
                return None
            if positions[0] != positions[-1]:
                bad(
                    "regions.unclosed_ring",
                    f"的{ring_label}未闭合：第一个点 {positions[0]} 与最后一个点 {positions[-1]} 不同",
                    ring=[p, r] if kind == "MultiPolygon" else r,
                )
                return None
            out_rings.append(positions)
        normalised.append(out_rings)

    for rings in normalised:
        for ring in rings:
            for lng, lat in ring:
                if geo.in_china(lng, lat):
                    continue
                if geo.looks_swapped(lng, lat):
                    bad(
                        "regions.swapped_coordinates",
                        f"的坐标 [{lng}, {lat}] 像是把纬度写在了前面；"
                        "GeoJSON 坐标顺序应为 [经度, 纬度]",
                        position=[lng, lat],
                    )
                else:
                    bad(
                        "regions.outside_china",
                        f"的坐标 [{lng}, {lat}] 不在中国境内（应为 WGS-84 [经度, 纬度]）",
                        position=[lng, lat],
                    )
                return None

    boundary = {
        "type": kind,
        "coordinates": normalised[0] if kind == "Polygon" else normalised,
    }
    try:
        shape = geometry_from_geojson(boundary)
    except (ValueError, shapely.errors.GEOSException) as exc:
        bad("regions.invalid_geometry", f"的边界无法解析：{exc}", reason="unreadable")
        return None
    if not shape.is_valid:
        explanation = shapely.is_valid_reason(shape)
        reason = explanation.split("[", 1)[0].strip()
        text = _VALIDITY_REASONS.get(reason, "边界不是有效的多边形")
        bad(
            "regions.invalid_geometry",
            f"的边界无效：{text}（{explanation}）",
            reason=reason,
            explanation=explanation,
        )
        return None
    if area_m2(shape) <= OVERLAP_TOLERANCE_M2:
        bad("regions.invalid_geometry", "的边界面积为零", reason="empty")
        return None
    return shape, boundary


def _ring_label(kind: str, polygon: int, ring: int) -> str:
    name = "外环" if ring == 0 else f"第 {ring} 个内环"
    if kind == "MultiPolygon":
        return f"第 {polygon + 1} 个多边形的{name}"
    return name


def _positions(ring: Any) -> list[list[float]] | None:
    if not isinstance(ring, list):
        return None
    out: list[list[float]] = []
    for position in ring:
        # Exact type checks: bool is an int, and strings like "113.6" are not numbers.
        if type(position) is not list or len(position) < 2:
            return None
        lng, lat = position[0], position[1]
        if type(lng) not in _NUMBER_TYPES or type(lat) not in _NUMBER_TYPES:
            return None
        if not (math.isfinite(lng) and math.isfinite(lat)):
            return None
        # Altitude, when present, means nothing for a grid and is dropped.
        out.append([float(lng), float(lat)])
    return out


_NUMBER_TYPES = (float, int)
