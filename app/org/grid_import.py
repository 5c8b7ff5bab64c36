"""Importing grid boundaries (API.md ``POST /admin/regions/import``, ``ejiaren
import-grids``): all of a file or nothing, re-import updates, never duplicates."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import String, cast, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.auth.principal import Principal
from app.core.errors import Forbidden
from app.org import importer
from app.org.grid_features import GridFeature, Problem
from app.org.locator import geometry_from_geojson
from app.org.models import Region
from app.org.schemas import ImportResult
from app.org.service import advance_stamp, lock_grid_stamp

IMPORT_ROLE = "district_admin"


def ensure_may_import(principal: Principal | None) -> None:
    """Superadmins import anywhere and district admins within their district; nobody else."""
    if principal is None or principal.is_superadmin:
        return
    if IMPORT_ROLE not in principal.roles:
        raise Forbidden("regions.import_forbidden", "仅系统管理员和区县管理员可以导入网格")


@dataclass
class _Tree:
    """The stored region tree, indexed the ways an import looks nodes up."""

    by_id: dict[int, Region]
    children: dict[int | None, dict[str, Region]] = field(default_factory=lambda: defaultdict(dict))
    by_code: dict[str, Region] = field(default_factory=dict)

    @classmethod
    def of(cls, regions: Iterable[Region]) -> _Tree:
        tree = cls(by_id={})
        for region in regions:
            tree.add(region)
        return tree

    def add(self, region: Region) -> None:
        self.by_id[region.id] = region
        self.children[region.parent_id][region.name] = region
        if region.code:
            self.by_code[region.code] = region

    def child(self, parent: Region | None, name: str) -> Region | None:
        return self.children[parent.id if parent else None].get(name)

    def label(self, region: Region) -> str:
        names = []
        node: Region | None = region
        while node is not None:
            names.append(node.name)
            node = self.by_id.get(node.parent_id) if node.parent_id else None
        return "/".join(reversed(names))


@dataclass
class _Plan:
    feature: GridFeature
    grid: Region | None  # the stored grid this feature replaces; None = new


async def import_grids(
    session: AsyncSession, data: Any, *, principal: Principal | None = None
) -> ImportResult:
    """Create or update the grids of a GeoJSON FeatureCollection, all or nothing.

    Districts, streets and communities are created as needed (matched by name
    under their parent). A grid is matched by ``code`` when given, else by its
    name path; grids missing from the file are kept. Nothing is written unless
    every feature is valid, in scope, and no two grids (in the file or stored)
    would overlap. ``principal`` is ``None`` for the command line (no limits).
    """
    ensure_may_import(principal)
    # Geometry checks are CPU work on possibly thousands of polygons: keep the
    # event loop free for other requests meanwhile.
    features = await asyncio.to_thread(importer.parse_feature_collection, data)

    stamp = await lock_grid_stamp(session)
    regions = (await session.execute(select(Region).order_by(Region.id))).scalars().all()
    tree = _Tree.of(regions)

    if principal is not None:
        _check_scope(features, tree, principal)
    plans, problems = _match(features, tree)
    importer.raise_problems(problems)
    await _check_overlaps_with_stored(plans, tree)

    updated = unchanged = 0
    boundaries_changed = False
    new_grids: list[dict[str, Any]] = []
    await _free_names_of_moving_grids(session, plans, tree)
    for plan in plans:
        feature, grid = plan.feature, plan.grid
        community = await _ensure_parents(session, tree, feature)
        if grid is None:
            new_grids.append(
                {
                    "level": "grid",
                    "name": feature.grid,
                    "parent_id": community.id,
                    "code": feature.code,
                    "households": feature.households,
                    "boundary": feature.boundary,
                    "boundary_sha": feature.boundary_sha,
                    "path": "",
                }
            )
            boundaries_changed = True
            continue
        changed = False
        if _stored_sha(grid) != feature.boundary_sha:
            grid.boundary = feature.boundary
            boundaries_changed = changed = True
        if grid.boundary_sha != feature.boundary_sha:
            grid.boundary_sha = feature.boundary_sha
        if feature.households is not None and grid.households != feature.households:
            grid.households = feature.households
            changed = True
        if feature.code is not None and grid.code != feature.code:
            grid.code = feature.code
            changed = True
        if grid.parent_id != community.id or grid.name != feature.grid:
            grid.parent_id = community.id
            grid.name = feature.grid
            grid.path = f"{community.path}{grid.id}/"
            changed = True
        if changed:
            updated += 1
        else:
            unchanged += 1

    await session.flush()
    if new_grids:
        await _insert_grids(session, new_grids)
    if boundaries_changed:
        advance_stamp(stamp)
    await session.flush()
    return ImportResult(
        created=len(new_grids), updated=updated, unchanged=unchanged, grids=len(plans)
    )


async def _insert_grids(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert new grids in bulk, then derive their paths from their parents'.

    Adding them one ORM object at a time costs a round trip per grid on SQLite
    (the id of each insert is needed for its path): minutes for a city. A bulk
    insert and one UPDATE do the same in two statements on either database.
    """
    await session.execute(insert(Region), rows)
    parent = aliased(Region)
    parent_path = select(parent.path).where(parent.id == Region.parent_id).scalar_subquery()
    await session.execute(
        update(Region)
        .where(
            Region.level == "grid",
            Region.path == "",
            Region.parent_id.in_({row["parent_id"] for row in rows}),
        )
        .values(path=parent_path + cast(Region.id, String) + "/")
        .execution_options(synchronize_session=False)
    )


def _check_scope(features: Sequence[GridFeature], tree: _Tree, principal: Principal) -> None:
    """A district admin may import only grids of the districts they administer."""
    if principal.is_superadmin:
        return
    for feature in features:
        district = tree.child(None, feature.district)
        covered = (
            district is not None
            and district.level == "district"
            and principal.covers(district.path, roles=[IMPORT_ROLE])
        )
        if covered and feature.code is not None:
            # Matching by code could otherwise move a grid out of another district.
            stored = tree.by_code.get(feature.code)
            covered = stored is None or principal.covers(stored.path, roles=[IMPORT_ROLE])
        if not covered:
            raise Forbidden(
                "regions.out_of_scope",
                f"第 {feature.index + 1} 个要素（features[{feature.index}]）的网格"
                f"（{feature.label}）不在您管理的区县内",
                details={"feature_index": feature.index},
            )


def _match(features: Sequence[GridFeature], tree: _Tree) -> tuple[list[_Plan], list[Problem]]:
    plans: list[_Plan] = []
    problems: list[Problem] = []
    claimed: dict[int, GridFeature] = {}
    for feature in features:
        where = f"第 {feature.index + 1} 个要素（features[{feature.index}]）"
        problem = _level_problem(feature, tree, where)
        if problem is not None:
            problems.append(problem)
            continue
        community = _stored_community(tree, feature)
        by_path = tree.child(community, feature.grid) if community is not None else None
        if by_path is not None and by_path.level != "grid":
            problems.append(
                Problem(
                    feature.index,
                    "regions.level_conflict",
                    f"{where}：{tree.label(by_path)} 已存在，但层级是 {by_path.level}，不是 grid",
                    {"region_id": by_path.id, "level": by_path.level, "expected_level": "grid"},
                )
            )
            continue
        grid = None
        if feature.code is not None:
            grid = tree.by_code.get(feature.code)
            if grid is not None and grid.level != "grid":
                problems.append(
                    Problem(
                        feature.index,
                        "regions.code_conflict",
                        f"{where}的编码 {feature.code} 已被区划 {tree.label(grid)} 使用",
                        {"grid_code": feature.code, "region_id": grid.id},
                    )
                )
                continue
        if grid is None and by_path is not None:
            if by_path.code and feature.code and by_path.code != feature.code:
                problems.append(
                    Problem(
                        feature.index,
                        "regions.code_conflict",
                        f"{where}：已有网格 {feature.label} 的编码为 {by_path.code}，"
                        f"与文件中的编码 {feature.code} 不一致",
                        {
                            "grid_code": feature.code,
                            "stored_grid_code": by_path.code,
                            "region_id": by_path.id,
                        },
                    )
                )
                continue
            grid = by_path
        if grid is not None and by_path is not None and by_path.id != grid.id:
            # The feature moves or renames grid ``grid`` onto a name its new
            # community already uses for another grid.
            mover = claimed.get(by_path.id)
            if mover is None and not any(
                f.code is not None and tree.by_code.get(f.code) is by_path for f in features
            ):
                problems.append(
                    Problem(
                        feature.index,
                        "regions.name_taken",
                        f"{where}：编码 {feature.code} 的网格要改名为 {feature.label}，"
                        f"但该社区已有同名网格（id {by_path.id}）",
                        {"grid_code": feature.code, "region_id": by_path.id},
                    )
                )
                continue
        if grid is not None:
            other = claimed.get(grid.id)
            if other is not None:
                problems.append(
                    Problem(
                        feature.index,
                        "regions.duplicate_grid",
                        f"{where}与第 {other.index + 1} 个要素对应同一个已有网格（id {grid.id}）",
                        {"other_index": other.index, "region_id": grid.id},
                    )
                )
                continue
            claimed[grid.id] = feature
        plans.append(_Plan(feature, grid))
    return plans, problems


def _level_problem(feature: GridFeature, tree: _Tree, where: str) -> Problem | None:
    """A name along the feature's path that the tree already uses at another level."""
    parent: Region | None = None
    for level, name in zip(("district", "street", "community"), feature.name_path, strict=False):
        node = tree.child(parent, name)
        if node is None:
            return None
        if node.level != level:
            return Problem(
                feature.index,
                "regions.level_conflict",
                f"{where}：{tree.label(node)} 已存在，但层级是 {node.level}，不是 {level}",
                {"region_id": node.id, "level": node.level, "expected_level": level},
            )
        parent = node
    return None


def _stored_community(tree: _Tree, feature: GridFeature) -> Region | None:
    node: Region | None = None
    for name in feature.name_path[:3]:
        node = tree.child(node, name)
        if node is None:
            return None
    return node


def _stored_sha(grid: Region) -> str | None:
    if grid.boundary_sha:
        return grid.boundary_sha
    if isinstance(grid.boundary, dict):
        return importer.boundary_sha(grid.boundary)
    return None


async def _check_overlaps_with_stored(plans: Sequence[_Plan], tree: _Tree) -> None:
    replaced = {p.grid.id for p in plans if p.grid is not None}
    others: list[tuple[int, str, BaseGeometry]] = []
    for region in tree.by_id.values():
        if region.level != "grid" or region.id in replaced or not isinstance(region.boundary, dict):
            continue
        try:
            geometry = geometry_from_geojson(region.boundary)
        except (ValueError, TypeError, KeyError, IndexError, shapely.errors.GEOSException):
            continue
        if not geometry.is_valid:
            geometry = shapely.make_valid(geometry)
        others.append((region.id, tree.label(region), geometry))
    features = [p.feature for p in plans]
    problems = await asyncio.to_thread(importer.overlaps_with_existing, features, others)
    importer.raise_problems(problems)


async def _free_names_of_moving_grids(
    session: AsyncSession, plans: Sequence[_Plan], tree: _Tree
) -> None:
    """Give grids that change name or community a temporary name first, so
    swapping names between grids never trips the (parent, name) constraint."""
    moving = [
        p.grid
        for p in plans
        if p.grid is not None
        and (
            p.grid.name != p.feature.grid
            or p.grid.parent_id != getattr(_stored_community(tree, p.feature), "id", None)
        )
    ]
    for grid in moving:
        tree.children[grid.parent_id].pop(grid.name, None)
        grid.name = f"~moving~{grid.id}"
    if moving:
        await session.flush()


async def _ensure_parents(session: AsyncSession, tree: _Tree, feature: GridFeature) -> Region:
    """The feature's community, creating its district, street and community as needed."""
    parent: Region | None = None
    for level, name in zip(("district", "street", "community"), feature.name_path, strict=False):
        node = tree.child(parent, name)
        if node is None:
            node = Region(level=level, name=name, parent_id=parent.id if parent else None, path="")
            session.add(node)
            await session.flush()
            node.path = f"{parent.path if parent else '/'}{node.id}/"
            tree.add(node)
        parent = node
    assert parent is not None
    return parent
