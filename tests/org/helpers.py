"""Builders of grid files and callers for the region and grid tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.org.models import Region
from app.org.service import bump_grid_stamp, read_grid_stamp
from app.users.models import Membership, User
from tests.factories import make_user

IMPORT_URL = "/api/v1/admin/regions/import"
LOCATE_URL = "/api/v1/grids/locate"
TREE_URL = "/api/v1/regions/tree"

DISTRICT = "焦作市沁阳市"
STREET = "太行怀庆街道"
COMMUNITY = "玉溪苑社区"

# Import tests work on a lattice of 0.01° cells near 郑州 (113.60E, 34.70N),
# away from the factory tree near 沁阳. Corners are computed from integer
# thousandths so that neighbouring cells share bit-identical edges.
ORIGIN_LNG_MILLI = 113_600
ORIGIN_LAT_MILLI = 34_700


def corner(col: float, row: float) -> list[float]:
    return [
        (ORIGIN_LNG_MILLI + round(col * 10)) / 1000,
        (ORIGIN_LAT_MILLI + round(row * 10)) / 1000,
    ]


def cell(col: float, row: float, width: float = 1, height: float = 1) -> dict[str, Any]:
    """The lattice cell (or block of cells) with south-west corner (col, row), as a GeoJSON Polygon."""
    ring = [
        corner(col, row),
        corner(col + width, row),
        corner(col + width, row + height),
        corner(col, row + height),
        corner(col, row),
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def centre(col: float, row: float) -> tuple[float, float]:
    """(lng, lat) of the middle of cell (col, row)."""
    lng, lat = corner(col + 0.5, row + 0.5)
    return lng, lat


def feature(
    grid: str,
    geometry: dict[str, Any] | None = None,
    *,
    district: str = DISTRICT,
    street: str = STREET,
    community: str = COMMUNITY,
    code: str | None = None,
    households: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "district": district,
        "street": street,
        "community": community,
        "grid": grid,
        **extra,
    }
    if code is not None:
        properties["code"] = code
    if households is not None:
        properties["households"] = households
    return {"type": "Feature", "properties": properties, "geometry": geometry or cell(0, 0)}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def three_grids(**overrides: Any) -> dict[str, Any]:
    """Two grids side by side in one community (sharing an edge) and one in another."""
    return collection(
        feature("第一网格", cell(0, 0), code="G-001", households=410, **overrides),
        feature("第二网格", cell(1, 0), code="G-002", households=385, **overrides),
        feature("第一网格", cell(2, 0), community="沁水湾社区", households=402, **overrides),
    )


async def superadmin(session: AsyncSession) -> User:
    user = await make_user(session, kind="staff", name="系统管理员", username="root-admin")
    session.add(Membership(user_id=user.id, role="superadmin", region_id=None))
    await session.flush()
    return user


async def region_count(session: AsyncSession) -> int:
    return (await session.execute(select(func.count()).select_from(Region))).scalar_one()


async def grids(session: AsyncSession) -> list[Region]:
    rows = await session.execute(
        select(Region)
        .where(Region.level == "grid")
        .order_by(Region.id)
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars())


async def grid_by_name(session: AsyncSession, community: str, name: str) -> Region:
    parent = (
        await session.execute(
            select(Region.id).where(Region.level == "community", Region.name == community)
        )
    ).scalar_one()
    return (
        await session.execute(
            select(Region)
            .where(Region.parent_id == parent, Region.name == name)
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def stamp(session: AsyncSession) -> tuple[int, str | None]:
    return await read_grid_stamp(session)


async def boundaries_changed(session: AsyncSession) -> None:
    """What an admin tool does after writing boundaries outside the importer:
    factories insert grids directly, so tests that then locate call this."""
    await bump_grid_stamp(session)
