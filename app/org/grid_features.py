"""What validating a grid boundary file yields: the grids it accepts
(``GridFeature``, normalised) and the problems it finds (``Problem``), each
tied to the feature's place in the file so an administrator can find it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shapely.geometry.base import BaseGeometry


@dataclass
class Problem:
    feature_index: int
    code: str
    message: str
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.extra,
            "feature_index": self.feature_index,
            "code": self.code,
            "message": self.message,
        }


@dataclass
class GridFeature:
    """One valid grid of the file, normalised: 2-D float positions, stripped names."""

    index: int
    district: str
    street: str
    community: str
    grid: str
    code: str | None
    households: int | None
    boundary: dict[str, Any]
    boundary_sha: str
    geometry: BaseGeometry

    @property
    def name_path(self) -> tuple[str, str, str, str]:
        return (self.district, self.street, self.community, self.grid)

    @property
    def label(self) -> str:
        return "/".join(self.name_path)


def feature_ref(index: int) -> str:
    """How a message names feature ``index``: its ordinal and its place in ``features``."""
    return f"第 {index + 1} 个要素（features[{index}]）"
