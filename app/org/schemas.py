"""Request and response bodies of the region, grid import and grid location routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

LEVEL_DESCRIPTION = "层级：district 区县 / street 街道·乡镇 / community 社区·村 / grid 网格"


class ImportResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"created": 12, "updated": 3, "unchanged": 85, "grids": 100}]
        }
    )

    created: int = Field(description="新建的网格数")
    updated: int = Field(description="已存在且有变化（边界、户数、名称、所属社区或编码）的网格数")
    unchanged: int = Field(description="已存在且完全相同的网格数")
    grids: int = Field(description="文件中的网格总数（= created + updated + unchanged）")


class RegionNode(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "name": "沁阳市",
                    "level": "district",
                    "code": None,
                    "households": None,
                    "children": [
                        {
                            "id": 2,
                            "name": "太行怀庆街道",
                            "level": "street",
                            "code": None,
                            "households": None,
                            "children": [],
                        }
                    ],
                }
            ]
        }
    )

    id: int = Field(description="区划 id")
    name: str = Field(description="名称，如 太行怀庆街道、第一网格")
    level: str = Field(description=LEVEL_DESCRIPTION)
    code: str | None = Field(None, description="区划或网格编码（导入文件中的 code），可能为空")
    households: int | None = Field(None, description="网格户数（仅网格，可能为空）")
    children: list[RegionNode] = Field(
        default_factory=list, description="下级区划，按 id 升序；网格没有下级"
    )


class RegionTree(BaseModel):
    """The roots of the tree in the list envelope every list of the API uses."""

    items: list[RegionNode] = Field(description="根节点（指定 region_id 时为该节点本身）")
    next_cursor: str | None = Field(None, description="区划树不分页，恒为 null")


class RegionRef(BaseModel):
    id: int = Field(description="区划 id")
    name: str = Field(description="名称")


class GridWorker(BaseModel):
    id: int = Field(description="工作人员的用户 id")
    name: str = Field(description="姓名（网格员公示信息，不打码）")
    role: str = Field(
        description="角色：grid_leader 网格长 / grid_worker 专职网格员 / grid_worker_part 兼职网格员"
    )
    phone_masked: str | None = Field(None, description="打码后的手机号，如 138****5678")


class GridLocation(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "grid": {"id": 12, "name": "第一网格"},
                    "community": {"id": 5, "name": "玉溪苑社区"},
                    "street": {"id": 2, "name": "太行怀庆街道"},
                    "district": {"id": 1, "name": "沁阳市"},
                    "workers": [
                        {
                            "id": 31,
                            "name": "王芳",
                            "role": "grid_leader",
                            "phone_masked": "138****5678",
                        },
                        {
                            "id": 32,
                            "name": "李强",
                            "role": "grid_worker",
                            "phone_masked": "139****1234",
                        },
                    ],
                }
            ]
        }
    )

    grid: RegionRef = Field(description="坐标所在网格")
    community: RegionRef = Field(description="网格所属社区/村")
    street: RegionRef = Field(description="网格所属街道/乡镇")
    district: RegionRef | None = Field(None, description="网格所属区县")
    workers: list[GridWorker] = Field(
        description="网格员公示：本网格的网格长、专职和兼职网格员，以及负责整个社区的网格长（已停用的账号不列出）"
    )


# The import body is read and checked by hand (error codes per problem, a size
# cap while streaming), so its OpenAPI schema is written out here for the docs.
GRID_IMPORT_BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "GridFeatureCollection",
    "description": (
        "GeoJSON FeatureCollection，每个 Feature 是一个网格。坐标为 WGS-84 [经度, 纬度]，"
        "环必须首尾闭合；网格之间不得重叠（共用边界可以）。"
    ),
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["type", "geometry", "properties"],
                "properties": {
                    "type": {"const": "Feature"},
                    "geometry": {
                        "type": "object",
                        "description": "Polygon 或 MultiPolygon（WGS-84）",
                        "properties": {
                            "type": {"enum": ["Polygon", "MultiPolygon"]},
                            "coordinates": {"type": "array"},
                        },
                    },
                    "properties": {
                        "type": "object",
                        "required": ["district", "street", "community", "grid"],
                        "properties": {
                            "district": {"type": "string", "description": "区县名称"},
                            "street": {"type": "string", "description": "街道/乡镇名称"},
                            "community": {"type": "string", "description": "社区/村名称"},
                            "grid": {"type": "string", "description": "网格名称"},
                            "code": {
                                "type": "string",
                                "description": "网格编码（可选）；给出时按编码匹配已有网格，否则按名称路径匹配",
                            },
                            "households": {
                                "type": "integer",
                                "minimum": 0,
                                "description": "户数（可选）",
                            },
                        },
                    },
                },
            },
        },
    },
}

GRID_IMPORT_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "district": "沁阳市",
                "street": "太行怀庆街道",
                "community": "玉溪苑社区",
                "grid": "第一网格",
                "code": "410882001001001",
                "households": 412,
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [112.9400, 35.0870],
                        [112.9450, 35.0870],
                        [112.9450, 35.0910],
                        [112.9400, 35.0910],
                        [112.9400, 35.0870],
                    ]
                ],
            },
        }
    ],
}
