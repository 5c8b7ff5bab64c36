"""In-memory grid index: which grid covers a WGS-84 point.

Each API process keeps one ``GridIndex`` (a shapely STRtree over every grid
polygon) and rebuilds it when the boundary version stamp in the database
changes, so a lookup costs one cheap stamp query plus microseconds of geometry
instead of a scan over every polygon. This module knows nothing of the
database: the caller supplies the stamp and a loader, which keeps the index
usable from the benchmark and from plain unit tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

Stamp = tuple[int, str | None]
GridRow = tuple[int, dict[str, Any]]


def geometry_from_geojson(geometry: dict[str, Any]) -> BaseGeometry:
    """A shapely Polygon or MultiPolygon from a GeoJSON geometry dict (positions [lng, lat])."""
    kind = geometry.get("type")
    coordinates: Any = geometry.get("coordinates")
    if kind == "Polygon":
        return _polygon(coordinates)
    if kind == "MultiPolygon":
        return shapely.MultiPolygon([_polygon(part) for part in coordinates])
    raise ValueError(f"unsupported geometry type {kind!r}")


def _polygon(rings: Sequence[Sequence[Sequence[float]]]) -> shapely.Polygon:
    shell, *holes = (_ring(ring) for ring in rings)
    return shapely.polygons(shell, holes or None)


def _ring(positions: Sequence[Sequence[float]]) -> shapely.LinearRing:
    try:
        xy = np.asarray(positions, dtype=float)
    except ValueError:  # a mix of [lng, lat] and [lng, lat, altitude]
        xy = np.asarray([(p[0], p[1]) for p in positions], dtype=float)
    if xy.ndim != 2 or xy.shape[1] < 2:
        raise ValueError("positions must be [lng, lat] pairs")
    return shapely.linearrings(xy[:, :2])


class GridIndex:
    """An immutable snapshot of all grid polygons, built at one ``stamp``.

    A point on an edge shared by two grids is covered by both; it goes to the
    grid with the smaller id, so the answer never depends on build order.
    """

    def __init__(
        self,
        ids: Sequence[int],
        geometries: Sequence[BaseGeometry] | np.ndarray,
        stamp: Stamp | None = None,
    ) -> None:
        self.stamp = stamp
        self._ids = np.asarray(ids, dtype=np.int64)
        self._geometries = np.asarray(geometries, dtype=object)
        # Prepared geometries make the covers test after the bounding-box
        # filter several times faster for polygons with many vertices.
        shapely.prepare(self._geometries)
        self._tree = shapely.STRtree(self._geometries)

    @classmethod
    def from_geojson(cls, rows: Iterable[GridRow], stamp: Stamp | None = None) -> GridIndex:
        """Build from ``(grid_id, GeoJSON geometry)`` rows; rows whose geometry
        cannot be read are skipped rather than failing every lookup."""
        built = build_geometries(list(rows))
        return cls(built.ids, built.geometries, stamp)

    def __len__(self) -> int:
        return len(self._ids)

    def locate(self, lng: float, lat: float) -> int | None:
        """Id of the grid covering (lng, lat) (WGS-84), edges included; ``None`` outside all."""
        hits = self._tree.query(shapely.Point(lng, lat), predicate="covered_by")
        if hits.size == 0:
            return None
        return int(self._ids[hits].min())


@dataclass
class Geometries:
    """Grid polygons already converted from GeoJSON, ready to index."""

    ids: list[int]
    geometries: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Geometries]) -> Geometries:
        ids = [i for p in parts for i in p.ids]
        arrays = [np.asarray(p.geometries, dtype=object) for p in parts]
        return cls(ids, np.concatenate(arrays) if arrays else np.empty(0, dtype=object))


def build_geometries(rows: Sequence[GridRow]) -> Geometries:
    """Shapely geometries of ``(grid_id, GeoJSON)`` rows, vectorised; row by row
    (skipping unreadable ones) when any row is malformed."""
    try:
        ids, geometries = _build_vectorised(rows)
        return Geometries(ids, geometries)
    except (ValueError, TypeError, shapely.errors.GEOSException):
        ids, one_by_one = _build_one_by_one(rows)
        return Geometries(ids, np.asarray(one_by_one, dtype=object))


def _build_one_by_one(rows: Sequence[GridRow]) -> tuple[list[int], list[BaseGeometry]]:
    ids: list[int] = []
    geometries: list[BaseGeometry] = []
    for grid_id, boundary in rows:
        try:
            geometry = geometry_from_geojson(boundary)
        except (ValueError, TypeError, KeyError, IndexError, shapely.errors.GEOSException):
            continue
        if geometry.is_empty:
            continue
        ids.append(grid_id)
        geometries.append(geometry)
    return ids, geometries


def _build_vectorised(rows: Sequence[GridRow]) -> tuple[list[int], np.ndarray]:
    """All geometries in a few GEOS calls instead of one per polygon: five to
    ten times faster than ``geometry_from_geojson`` row by row, which matters
    for a rebuild over tens of thousands of grids. Raises on any malformed row
    (the caller then falls back to the tolerant row-by-row build)."""
    ids: list[int] = []
    is_multi: list[bool] = []
    coords: list[Sequence[float]] = []
    ring_of_coord: list[int] = []
    polygon_of_ring: list[int] = []
    geometry_of_polygon: list[int] = []
    for grid_id, boundary in rows:
        kind = boundary.get("type")
        if kind == "Polygon":
            polygons = [boundary["coordinates"]]
        elif kind == "MultiPolygon":
            polygons = boundary["coordinates"]
        else:
            raise ValueError(f"unsupported geometry type {kind!r}")
        if not polygons:
            raise ValueError("empty geometry")
        geometry = len(ids)
        ids.append(grid_id)
        is_multi.append(kind == "MultiPolygon")
        for rings in polygons:
            if not rings:
                raise ValueError("polygon without rings")
            polygon = len(geometry_of_polygon)
            geometry_of_polygon.append(geometry)
            for ring in rings:
                ring_index = len(polygon_of_ring)
                polygon_of_ring.append(polygon)
                coords.extend(ring)
                ring_of_coord.extend([ring_index] * len(ring))
    if not ids:
        return [], np.empty(0, dtype=object)
    # Positions with an altitude would make the array ragged; keep [lng, lat].
    xy = np.asarray([c[:2] for c in coords] if any(len(c) != 2 for c in coords) else coords, float)
    ring_geometries = shapely.linearrings(xy, indices=np.asarray(ring_of_coord))
    polygon_geometries = shapely.polygons(ring_geometries, indices=np.asarray(polygon_of_ring))
    if not any(is_multi):
        return ids, polygon_geometries
    owners = np.asarray(geometry_of_polygon)
    geometries = shapely.multipolygons(polygon_geometries, indices=owners)
    single = ~np.asarray(is_multi)
    first_polygon = np.searchsorted(owners, np.arange(len(ids)))
    geometries[single] = polygon_geometries[first_polygon[single]]
    return ids, geometries


class LocatorCache:
    """The process-wide holder of the current ``GridIndex``.

    ``get`` returns the cached index while its stamp matches the one read from
    the database, and otherwise rebuilds it once: concurrent callers wait on a
    lock instead of each loading every boundary. The build runs in a thread so
    the event loop keeps serving other requests meanwhile.
    """

    def __init__(self) -> None:
        self._index: GridIndex | None = None
        self._lock = asyncio.Lock()
        self.builds = 0

    @property
    def index(self) -> GridIndex | None:
        return self._index

    async def get(
        self, stamp: Stamp, load: Callable[[], Awaitable[Iterable[GridRow] | Geometries]]
    ) -> GridIndex:
        """``load`` gives GeoJSON rows, or geometries it converted itself (chunk
        by chunk, so all boundaries never sit in memory as GeoJSON at once)."""
        index = self._index
        if index is not None and index.stamp == stamp:
            return index
        async with self._lock:
            index = self._index
            if index is not None and index.stamp == stamp:
                return index
            loaded = await load()
            if isinstance(loaded, Geometries):
                index = await asyncio.to_thread(GridIndex, loaded.ids, loaded.geometries, stamp)
            else:
                index = await asyncio.to_thread(GridIndex.from_geojson, list(loaded), stamp)
            self._index = index
            self.builds += 1
            return index
