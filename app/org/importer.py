"""Validation of a grid boundary file (GeoJSON FeatureCollection).

Everything that can be said about a file without the database is checked
here, for every feature, before anything is written: the names, the geometry
(``grid_geometry``: closed rings, valid polygons, inside China, not [lat, lng]),
duplicates and overlaps among the file's own grids; and, for the import, the
overlaps with stored grids. Problems are collected rather than
raised one at a time, so an administrator fixes a file in one round.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from app.core.errors import Invalid
from app.org import geo
from app.org.grid_features import GridFeature, Problem, feature_ref
from app.org.grid_geometry import OVERLAP_TOLERANCE_M2, parse_geometry

NAME_KEYS = ("district", "street", "community", "grid")
NAME_LABELS = {"district": "区县", "street": "街道/乡镇", "community": "社区/村", "grid": "网格"}
MAX_NAME_LENGTH = 64
MAX_CODE_LENGTH = 64
MAX_FEATURES = 50_000
MAX_HOUSEHOLDS = 1_000_000
# A problem list longer than this is cut in ``details`` (the count stays exact).
MAX_REPORTED_PROBLEMS = 100


def boundary_sha(boundary: dict[str, Any]) -> str:
    """Content hash of a GeoJSON geometry, insensitive to key order and spacing."""
    canonical = json.dumps(
        {"type": boundary.get("type"), "coordinates": boundary.get("coordinates")},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def invalid_file(code: str, message: str, **details: Any) -> Invalid:
    return Invalid(code, message, details=details)


def raise_problems(problems: list[Problem]) -> None:
    """Raise one 422 naming the first problem, with all of them in ``details``."""
    if not problems:
        return
    problems = sorted(problems, key=lambda p: p.feature_index)
    first = problems[0]
    message = f"网格文件有误：{first.message}"
    if len(problems) > 1:
        message += f"（另有 {len(problems) - 1} 处问题，见 details.problems）"
    raise Invalid(
        first.code,
        message,
        details={
            "feature_index": first.feature_index,
            "problem_count": len(problems),
            "problems": [p.as_dict() for p in problems[:MAX_REPORTED_PROBLEMS]],
        },
    )


def parse_feature_collection(data: Any) -> list[GridFeature]:
    """Validate a whole file; return its grids or raise ``Invalid`` (422)."""
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise invalid_file(
            "regions.not_feature_collection",
            '网格文件应为 GeoJSON FeatureCollection（{"type": "FeatureCollection", "features": [...]}）',
        )
    features = data.get("features")
    if not isinstance(features, list):
        raise invalid_file(
            "regions.not_feature_collection", "网格文件缺少 features 数组，或 features 不是数组"
        )
    if not features:
        raise invalid_file("regions.no_features", "网格文件中没有任何网格要素")
    if len(features) > MAX_FEATURES:
        raise invalid_file(
            "regions.too_many_features",
            f"一次最多导入 {MAX_FEATURES} 个网格，文件中有 {len(features)} 个，请分批导入",
            feature_count=len(features),
            max_features=MAX_FEATURES,
        )

    problems: list[Problem] = []
    grids: list[GridFeature] = []
    for index, feature in enumerate(features):
        grid, found = _parse_feature(index, feature)
        problems.extend(found)
        if grid is not None:
            grids.append(grid)
    problems.extend(_duplicates(grids))
    problems.extend(overlaps_within(grids))
    raise_problems(problems)
    return grids


def _parse_feature(index: int, feature: Any) -> tuple[GridFeature | None, list[Problem]]:
    where = feature_ref(index)
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return None, [
            Problem(index, "regions.invalid_feature", f"{where}不是 GeoJSON Feature 对象")
        ]
    properties = feature.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        return None, [Problem(index, "regions.invalid_feature", f"{where}的 properties 应为对象")]

    problems: list[Problem] = []
    names: dict[str, str] = {}
    for key in NAME_KEYS:
        value = properties.get(key)
        if isinstance(value, str) and value.strip():
            name = value.strip()
            if len(name) > MAX_NAME_LENGTH:
                problems.append(
                    Problem(
                        index,
                        "regions.invalid_property",
                        f"{where}的 {key}（{NAME_LABELS[key]}名称）超过 {MAX_NAME_LENGTH} 个字符",
                        {"property": key},
                    )
                )
            names[key] = name
        else:
            problems.append(
                Problem(
                    index,
                    "regions.missing_property",
                    f"{where}缺少属性 {key}（{NAME_LABELS[key]}名称）",
                    {"property": key},
                )
            )

    code = _code(index, properties.get("code"), problems)
    households = _households(index, properties.get("households"), problems)
    geometry = parse_geometry(index, feature.get("geometry"), problems)
    if problems or geometry is None:
        return None, problems
    shape, boundary = geometry
    return (
        GridFeature(
            index=index,
            code=code,
            households=households,
            boundary=boundary,
            boundary_sha=boundary_sha(boundary),
            geometry=shape,
            **names,
        ),
        [],
    )


def _code(index: int, value: Any, problems: list[Problem]) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    # Spreadsheets turn numeric codes into numbers; accept them as their text.
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or len(value.strip()) > MAX_CODE_LENGTH:
        problems.append(
            Problem(
                index,
                "regions.invalid_property",
                f"{feature_ref(index)}的 code（网格编码）应为不超过 {MAX_CODE_LENGTH} 个字符的文本",
                {"property": "code"},
            )
        )
        return None
    return value.strip()


def _households(index: int, value: Any, problems: list[Problem]) -> int | None:
    if value is None or value == "":
        return None
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 0 <= number <= MAX_HOUSEHOLDS:
        problems.append(
            Problem(
                index,
                "regions.invalid_property",
                f"{feature_ref(index)}的 households（户数）应为不小于 0 的整数",
                {"property": "households"},
            )
        )
        return None
    return number


def _duplicates(grids: list[GridFeature]) -> list[Problem]:
    problems = []
    by_path: dict[tuple[str, ...], GridFeature] = {}
    by_code: dict[str, GridFeature] = {}
    for grid in grids:
        first = by_path.setdefault(grid.name_path, grid)
        if first is not grid:
            problems.append(
                Problem(
                    grid.index,
                    "regions.duplicate_grid",
                    f"{feature_ref(grid.index)}与第 {first.index + 1} 个要素是同一网格（{grid.label}）",
                    {"other_index": first.index},
                )
            )
            continue
        if grid.code is not None:
            first = by_code.setdefault(grid.code, grid)
            if first is not grid:
                problems.append(
                    Problem(
                        grid.index,
                        "regions.duplicate_grid",
                        f"{feature_ref(grid.index)}与第 {first.index + 1} 个要素的网格编码相同（{grid.code}）",
                        {"other_index": first.index, "grid_code": grid.code},
                    )
                )
    return problems


def overlap_areas_m2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Area in m² of the overlap of each pair ``(a[k], b[k])``.

    Most candidate pairs are neighbours that only share an edge; a DE-9IM test
    (do the interiors meet?) rules those out several times faster than
    computing an intersection, which is then done only for the rest.
    """
    areas = np.zeros(len(a))
    if len(a) == 0:
        return areas
    interiors_meet = shapely.relate_pattern(a, b, "T********")
    if interiors_meet.any():
        overlap = shapely.intersection(a[interiors_meet], b[interiors_meet])
        lat = shapely.get_y(shapely.centroid(overlap))
        areas[interiors_meet] = (
            shapely.area(overlap) * geo.METRES_PER_DEGREE**2 * np.cos(np.radians(lat))
        )
    return areas


def overlaps_within(grids: list[GridFeature]) -> list[Problem]:
    """Pairs of the file's grids whose interiors overlap by more than the tolerance."""
    if len(grids) < 2:
        return []
    geometries = np.asarray([g.geometry for g in grids], dtype=object)
    left, right = shapely.STRtree(geometries).query(geometries)
    keep = left < right
    left, right = left[keep], right[keep]
    areas = overlap_areas_m2(geometries[left], geometries[right])
    problems = []
    for k in np.flatnonzero(areas > OVERLAP_TOLERANCE_M2).tolist():
        a, b = grids[int(left[k])], grids[int(right[k])]
        overlap = float(areas[k])
        problems.append(
            Problem(
                b.index,
                "regions.overlapping_grids",
                f"{feature_ref(b.index)}（{b.grid}）与第 {a.index + 1} 个要素（{a.grid}）"
                f"的边界重叠约 {overlap:.0f} 平方米",
                {"other_index": a.index, "overlap_m2": round(overlap, 1)},
            )
        )
    return problems


def overlaps_with_existing(
    grids: list[GridFeature], existing: list[tuple[int, str, BaseGeometry]]
) -> list[Problem]:
    """The file's grids that overlap stored grids the file does not replace
    (``existing`` holds ``(id, label, geometry)`` of those)."""
    if not grids or not existing:
        return []
    geometries = np.asarray([g.geometry for g in grids], dtype=object)
    stored = np.asarray([geometry for _, _, geometry in existing], dtype=object)
    stored_index, grid_index = shapely.STRtree(geometries).query(stored)
    areas = overlap_areas_m2(geometries[grid_index], stored[stored_index])
    problems = []
    for k in np.flatnonzero(areas > OVERLAP_TOLERANCE_M2).tolist():
        grid = grids[int(grid_index[k])]
        grid_id, label, _ = existing[int(stored_index[k])]
        overlap = float(areas[k])
        problems.append(
            Problem(
                grid.index,
                "regions.overlapping_grids",
                f"{feature_ref(grid.index)}（{grid.grid}）与已有网格 {label}"
                f"的边界重叠约 {overlap:.0f} 平方米",
                {"existing_grid_id": grid_id, "overlap_m2": round(overlap, 1)},
            )
        )
    return problems
