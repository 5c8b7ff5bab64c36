"""Regions and grids: the boundary version stamp, grid location and the region tree
(importing boundaries: ``grid_import``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import WORKER_ROLES
from app.core.errors import NotFound
from app.core.masking import mask_phone
from app.core.models import AppState
from app.core.orm import utcnow
from app.core.rawsql import Raw
from app.org.locator import (
    Geometries,
    GridIndex,
    LocatorCache,
    Stamp,
    build_geometries,
)
from app.org.models import Region
from app.org.schemas import GridLocation, GridWorker, RegionNode, RegionRef
from app.users.models import Membership, User

GRID_STAMP_KEY = "grid_boundaries"
# What ``locate`` reads of the grid it finds (the boundary stays in the database).
GRID_FIELDS = ("id", "parent_id", "level", "name", "code", "path", "households")

# Order of the 网格员公示 list: the leader first, then full-time, then part-time workers.
_WORKER_ORDER = {"grid_leader": 0, "grid_worker": 1, "grid_worker_part": 2}


# --- version stamp -----------------------------------------------------------


async def read_grid_stamp(session: AsyncSession) -> Stamp:
    """The boundary version every process compares its grid index against.

    The random token next to the counter keeps a stamp from matching an index
    built from other data when a counter value comes round again (a restored
    database, or test transactions that were rolled back).
    """
    raw = await Raw.of(session)
    row = await raw.fetchrow(
        "SELECT value_int, value_text FROM app_state WHERE key = $1", GRID_STAMP_KEY
    )
    if row is None:
        return (0, None)
    return (int(row["value_int"]), row["value_text"])


async def lock_grid_stamp(session: AsyncSession) -> AppState:
    """Take the grid-import lock: the stamp row, ``FOR UPDATE`` on PostgreSQL.

    Two imports at once would each check overlaps against the grids stored
    before either wrote, and could together store overlapping grids; holding
    this row serialises them. SQLite already serialises writers (``BEGIN
    IMMEDIATE``)."""
    state = (
        await session.execute(
            select(AppState).where(AppState.key == GRID_STAMP_KEY).with_for_update()
        )
    ).scalar_one_or_none()
    if state is None:
        state = AppState(key=GRID_STAMP_KEY, value_int=0, value_text=None, updated_at=utcnow())
        session.add(state)
        await session.flush()
    return state


async def bump_grid_stamp(session: AsyncSession) -> None:
    """Tell every API process that grid boundaries changed (call after any
    write to a grid boundary, in the same transaction)."""
    state = await lock_grid_stamp(session)
    advance_stamp(state)
    await session.flush()


def advance_stamp(state: AppState) -> None:
    state.value_int = (state.value_int or 0) + 1
    state.value_text = uuid.uuid4().hex
    state.updated_at = utcnow()


# --- locating ----------------------------------------------------------------

# For callers with no application at hand (CLI, a worker process). Request
# handlers use the cache on ``app.state`` (``locator_cache``).
_default_cache = LocatorCache()


def locator_cache(state: Any) -> LocatorCache:
    """The grid index cache kept on an application's ``state``, created on first use."""
    cache = getattr(state, "grid_locator", None)
    if cache is None:
        cache = LocatorCache()
        state.grid_locator = cache
    return cache


GEOMETRY_CHUNK = 2000


async def load_grid_geometries(session: AsyncSession) -> Geometries:
    """Every grid's polygon, read and converted ``GEOMETRY_CHUNK`` rows at a time:
    a city's boundaries as parsed GeoJSON would cost several times the memory of
    the index built from them."""
    result = await session.stream(
        select(Region.id, Region.boundary)
        .where(Region.level == "grid")
        .order_by(Region.id)
        .execution_options(yield_per=GEOMETRY_CHUNK)
    )
    parts = []
    async for chunk in result.partitions(GEOMETRY_CHUNK):
        rows = [(grid_id, boundary) for grid_id, boundary in chunk if isinstance(boundary, dict)]
        parts.append(await asyncio.to_thread(build_geometries, rows))
    return Geometries.concat(parts)


async def grid_index(session: AsyncSession, *, cache: LocatorCache | None = None) -> GridIndex:
    """The current grid index, rebuilt first if any boundary changed since it was built."""
    cache = cache or _default_cache
    stamp = await read_grid_stamp(session)
    return await cache.get(stamp, lambda: load_grid_geometries(session))


async def locate(
    session: AsyncSession, lng: float, lat: float, *, cache: LocatorCache | None = None
) -> Region | None:
    """The grid covering a WGS-84 point, or ``None`` outside every grid.

    A point on an edge shared by two grids goes to the grid with the smaller id.
    """
    index = await grid_index(session, cache=cache)
    grid_id = index.locate(lng, lat)
    if grid_id is None:
        return None
    # A read-only copy (not in the session) without its boundary: the hot path
    # of every submission.
    return await (await Raw.of(session)).one(Region, "id = $1", grid_id, only=GRID_FIELDS)


async def grid_location(session: AsyncSession, grid: Region) -> GridLocation:
    """The grid, its community, street and district, and its workers (网格员公示)."""
    ancestors = await _ancestors(session, grid)
    by_level = {r.level: r for r in ancestors}
    community = by_level.get("community")
    street = by_level.get("street")
    district = by_level.get("district")
    if community is None or street is None:
        # A grid always hangs under a community under a street; anything else
        # is broken data that must not be shown as a half answer.
        raise NotFound("grid.not_found", "该位置所在网格的区划信息不完整，请联系管理员")
    return GridLocation(
        grid=RegionRef(id=grid.id, name=grid.name),
        community=RegionRef(id=community.id, name=community.name),
        street=RegionRef(id=street.id, name=street.name),
        district=RegionRef(id=district.id, name=district.name) if district else None,
        workers=await grid_workers(session, grid_id=grid.id, community_id=community.id),
    )


async def _ancestors(session: AsyncSession, region: Region) -> list[Region]:
    ids = [int(part) for part in region.path.strip("/").split("/") if part]
    ids = [i for i in ids if i != region.id]
    if not ids:
        return []
    rows = await session.execute(select(Region).where(Region.id.in_(ids)))
    return list(rows.scalars())


async def grid_workers(
    session: AsyncSession, *, grid_id: int, community_id: int
) -> list[GridWorker]:
    """Active holders of a worker role on the grid, and grid leaders of its whole
    community; one entry per person, under their most senior role."""
    rows = await session.execute(
        select(User.id, User.name, User.nickname, User.phone, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(
            or_(
                and_(Membership.region_id == grid_id, Membership.role.in_(WORKER_ROLES)),
                and_(Membership.region_id == community_id, Membership.role == "grid_leader"),
            ),
            User.disabled == false(),
            User.deleted_at.is_(None),
        )
    )
    best: dict[int, tuple[int, Any]] = {}
    for row in rows:
        rank = _WORKER_ORDER.get(row.role, 9)
        if row.id not in best or rank < best[row.id][0]:
            best[row.id] = (rank, row)
    ordered = sorted(best.values(), key=lambda item: (item[0], item[1].id))
    return [
        GridWorker(
            id=row.id,
            name=row.name or row.nickname or "网格员",
            role=row.role,
            phone_masked=mask_phone(row.phone),
        )
        for _, row in ordered
    ]


# --- tree --------------------------------------------------------------------


async def region_tree(session: AsyncSession, *, region_id: int | None = None) -> list[RegionNode]:
    """The region tree without boundaries: all roots, or the subtree of ``region_id``."""
    query = select(
        Region.id, Region.parent_id, Region.name, Region.level, Region.code, Region.households
    ).order_by(Region.id)
    root: Region | None = None
    if region_id is not None:
        root = await session.get(Region, region_id)
        if root is None:
            raise NotFound("region.not_found", "区划不存在")
        query = query.where(Region.path.startswith(root.path, autoescape=True))
    nodes: dict[int, RegionNode] = {}
    parents: list[tuple[int, int | None]] = []
    for row in await session.execute(query):
        nodes[row.id] = RegionNode(
            id=row.id,
            name=row.name,
            level=row.level,
            code=row.code,
            households=row.households,
        )
        parents.append((row.id, row.parent_id))
    roots = []
    for node_id, parent_id in parents:
        parent = nodes.get(parent_id) if parent_id is not None else None
        if root is not None and node_id == root.id:
            roots.append(nodes[node_id])
        elif parent is not None:
            parent.children.append(nodes[node_id])
        elif root is None:
            roots.append(nodes[node_id])
    return roots
