"""Region tree, grid import and grid location."""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.auth.dependencies import CurrentAdmin
from app.core.db import SessionDep
from app.core.errors import INT64_MAX, AppError, Invalid, NotFound, errors
from app.org import geo, grid_import, service
from app.org.schemas import (
    GRID_IMPORT_BODY_SCHEMA,
    GRID_IMPORT_EXAMPLE,
    GridLocation,
    ImportResult,
    RegionTree,
)

router = APIRouter()

# A city of a few thousand finely drawn grids is a few tens of MB of GeoJSON.
MAX_IMPORT_BYTES = 64 * 1024 * 1024


class PayloadTooLarge(AppError):
    status_code = 413
    code = "regions.payload_too_large"
    message = f"网格文件太大（上限 {MAX_IMPORT_BYTES // (1024 * 1024)} MB），请分批导入"


async def _read_json(request: Request, *, max_bytes: int) -> Any:
    """The request body as JSON, refused as soon as it grows past ``max_bytes``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise PayloadTooLarge()
    try:
        return json.loads(bytes(body), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than any GeoJSON needs.
        raise Invalid("regions.invalid_json", "网格文件不是有效的 JSON（GeoJSON）") from exc


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser would accept them.
    raise ValueError(name)


@router.post(
    "/admin/regions/import",
    tags=["regions"],
    summary="导入网格边界（GeoJSON）",
    response_model=ImportResult,
    responses=errors(401, 403, 413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": GRID_IMPORT_BODY_SCHEMA,
                    "examples": {"一个网格": {"value": GRID_IMPORT_EXAMPLE}},
                }
            },
        }
    },
)
async def import_regions(
    request: Request, principal: CurrentAdmin, session: SessionDep
) -> ImportResult:
    """上传 GeoJSON FeatureCollection，每个 Feature 是一个网格（Polygon 或 MultiPolygon，
    WGS-84 [经度, 纬度]），properties 为 `district`、`street`、`community`、`grid`（名称），
    可选 `code`（网格编码）、`households`（户数）。

    - 区县、街道、社区按名称在上级下匹配，不存在则创建；网格有 `code` 时按编码匹配，否则按名称路径匹配。
    - 重复导入是幂等的，不会产生重复网格；文件中没有的已有网格保留不删。
    - 全部成功或全部不写入：任何一个要素有问题都返回 422，`code` 指明问题类别
      （如 `regions.missing_property`、`regions.invalid_geometry`、`regions.unclosed_ring`、
      `regions.outside_china`、`regions.swapped_coordinates`、`regions.duplicate_grid`、
      `regions.overlapping_grids`），`details.feature_index` 为第一个出错要素的下标（从 0 起），
      `details.problems` 列出全部问题。
    - 系统管理员可导入任意区县；区县管理员只能导入本区县的网格（否则 403 `regions.out_of_scope`）。
    """
    grid_import.ensure_may_import(principal)
    data = await _read_json(request, max_bytes=MAX_IMPORT_BYTES)
    return await grid_import.import_grids(session, data, principal=principal)


@router.get(
    "/regions/tree",
    tags=["regions"],
    summary="区划树（区县—街道—社区—网格）",
    response_model=RegionTree,
    responses=errors(404, 422),
)
async def region_tree(
    session: SessionDep,
    region_id: Annotated[
        int | None,
        Query(ge=1, le=INT64_MAX, description="只返回该区划及其下级；不传则返回整棵树"),
    ] = None,
) -> RegionTree:
    """无需登录。返回嵌套的区划节点（不含边界），`items` 为根节点列表；
    指定 `region_id` 时 `items` 只有该节点。未知的 `region_id` 返回 404 `region.not_found`。"""
    roots = await service.region_tree(session, region_id=region_id)
    return RegionTree(items=roots, next_cursor=None)


@router.get(
    "/grids/locate",
    tags=["regions"],
    summary="按坐标查询所在网格及网格员",
    response_model=GridLocation,
    responses=errors(404, 422),
)
async def locate_grid(
    request: Request,
    session: SessionDep,
    lat: Annotated[float, Query(description="纬度", examples=[35.0891])],
    lng: Annotated[float, Query(description="经度", examples=[112.9425])],
    coord: Annotated[
        geo.Coord,
        Query(description="坐标系：gcj02（微信地图组件，默认）或 wgs84（GPS 原始坐标）"),
    ] = "gcj02",
) -> GridLocation:
    """无需登录。返回坐标所在的网格、社区、街道以及网格员公示信息（手机号打码）。
    坐标落在两个网格的公共边界上时，归入 id 较小的网格。
    不在任何网格内返回 404 `grid.not_found`；坐标不在中国境内返回 422 `geo.outside_china`。"""
    if not geo.in_china(lng, lat):
        raise Invalid(
            "geo.outside_china",
            "坐标不在中国境内，请检查经纬度是否填反或坐标系是否正确",
            # NaN and infinity cannot be written as JSON, so they are not echoed.
            details={"lat": lat, "lng": lng} if math.isfinite(lat + lng) else {},
        )
    wgs_lng, wgs_lat = geo.to_wgs84(lng, lat, coord)
    grid = await service.locate(
        session, wgs_lng, wgs_lat, cache=service.locator_cache(request.app.state)
    )
    if grid is None:
        raise NotFound("grid.not_found", "该位置不在任何网格内，请确认位置或联系社区")
    return await service.grid_location(session, grid)
