"""Breakdowns and rankings (DESIGN §6): the figures per street, community,
grid, worker or category, and those items ranked by one metric."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import WORKER_ROLES
from app.org.models import Region
from app.reports.models import Category
from app.stats import queries
from app.stats.figures import Tally, figures
from app.stats.scope import StatsScope
from app.stats.sources import Plan, tallies
from app.users.models import Membership, User

By = Literal["street", "community", "grid", "worker", "category"]

LEVEL_NAMES = {"street": "街道", "community": "社区", "grid": "网格"}
NO_WORKER = "无经办人（在队列中）"

# Ranking direction of each metric: True when more is better.
METRICS: dict[str, bool] = {
    "received": True,
    "accepted_on_time": True,
    "response_rate": True,
    "resolved": True,
    "completion_rate": True,
    "resolved_on_time": True,
    "on_time_rate": True,
    "rated": True,
    "satisfied": True,
    "satisfaction_rate": True,
    "reopened": False,
    "ever_resolved": True,
    "reopen_rate": False,
    "overdue_open": False,
    "avg_response_minutes": False,
    "median_response_minutes": False,
    "avg_resolve_hours": False,
    "median_resolve_hours": False,
}


@dataclass
class Item:
    key: int | None
    name: str
    figures: dict[str, Any]
    code: str | None = None


async def breakdown(
    session: AsyncSession,
    *,
    scope: StatsScope,
    region: Region | None,
    lo: datetime | None,
    hi: datetime | None,
    by: By,
    plan: Plan = "auto",
) -> list[Item]:
    """One item per street, community, grid, worker or category — each one of
    the scope, even without cases, plus an item with a null key for cases that
    have no such place or person (in a queue above the level, or unowned)."""
    paths = (region.path,) if region is not None else scope.paths
    if by in LEVEL_NAMES:
        return await _by_region_level(session, scope, region, lo, hi, by, paths, plan)
    if by == "worker":
        return await _by_worker(session, scope, region, lo, hi, paths, plan)
    return await _by_category(session, scope, region, lo, hi, plan)


async def _by_region_level(
    session: AsyncSession,
    scope: StatsScope,
    region: Region | None,
    lo: datetime | None,
    hi: datetime | None,
    level: str,
    paths: Sequence[str] | None,
    plan: Plan,
) -> list[Item]:
    parts = await tallies(
        session, scope=scope, region=region, lo=lo, hi=hi, group="region_path", plan=plan
    )
    # Names and paths only: a grid row also carries its boundary polygon.
    regions = {
        r.id: r
        for r in await session.execute(
            select(Region.id, Region.name, Region.path).where(Region.level == level)
        )
    }
    grouped: dict[int | None, Tally] = {}
    for path, t in parts.items():
        key = _ancestor(str(path), regions)
        grouped.setdefault(key, Tally()).merge(t)
    for r in regions.values():
        if paths is None or any(r.path.startswith(p) for p in paths):
            grouped.setdefault(r.id, Tally())
    items = [
        Item(key=k, name=regions[k].name, figures=figures(t))
        for k, t in grouped.items()
        if k is not None
    ]
    items.sort(key=lambda i: (i.name, i.key or 0))
    if None in grouped and grouped[None].received:
        items.append(
            Item(key=None, name=f"未定位到{LEVEL_NAMES[level]}", figures=figures(grouped[None]))
        )
    return items


def _chunks(values: list[int], size: int) -> list[list[int]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _ancestor(path: str, regions: dict[int, Any]) -> int | None:
    for part in path.strip("/").split("/"):
        if part.isdigit() and int(part) in regions:
            return int(part)
    return None


async def _by_worker(
    session: AsyncSession,
    scope: StatsScope,
    region: Region | None,
    lo: datetime | None,
    hi: datetime | None,
    paths: Sequence[str] | None,
    plan: Plan,
) -> list[Item]:
    parts = await tallies(
        session, scope=scope, region=region, lo=lo, hi=hi, group="worker", plan=plan
    )
    staff = (
        select(Membership.user_id)
        .join(Region, Region.id == Membership.region_id)
        .where(Membership.role.in_(WORKER_ROLES), queries.path_clause(Region.path, paths))
    )
    ids = {int(k) for k in parts if isinstance(k, int)} | set(await session.scalars(staff))
    if scope.worker_id is not None and region is None:
        ids.add(scope.worker_id)
    names: dict[int, str] = {}
    for chunk in _chunks(sorted(ids), 5000):
        for uid, name, nickname in await session.execute(
            select(User.id, User.name, User.nickname).where(User.id.in_(chunk))
        ):
            names[uid] = name or nickname or f"用户{uid}"
    items = [
        Item(key=uid, name=names.get(uid, f"用户{uid}"), figures=figures(parts.get(uid, Tally())))
        for uid in ids
    ]
    items.sort(key=lambda i: (i.name, i.key or 0))
    if None in parts and parts[None].received:
        items.append(Item(key=None, name=NO_WORKER, figures=figures(parts[None])))
    return items


async def _by_category(
    session: AsyncSession,
    scope: StatsScope,
    region: Region | None,
    lo: datetime | None,
    hi: datetime | None,
    plan: Plan,
) -> list[Item]:
    parts = await tallies(
        session, scope=scope, region=region, lo=lo, hi=hi, group="category", plan=plan
    )
    cats = list(
        await session.scalars(
            select(Category)
            .where(Category.active.is_(True) | Category.id.in_([k for k in parts if k is not None]))
            .order_by(Category.sort_order, Category.name, Category.id)
        )
    )
    return [
        Item(key=c.id, name=c.name, code=c.code, figures=figures(parts.get(c.id, Tally())))
        for c in cats
    ]


# ---------------------------------------------------------------- ranking


def rank(items: Sequence[Item], metric: str) -> list[tuple[int | None, Item]]:
    """Best to worst by ``metric``; ties go to more cases received, then to the
    name. Items without a value (a rate with nothing to divide by) come last,
    unranked."""
    more_is_better = METRICS[metric]
    valued = [i for i in items if i.key is not None and i.figures[metric] is not None]
    blank = [i for i in items if i.key is not None and i.figures[metric] is None]

    def order(i: Item) -> tuple[Any, ...]:
        value = i.figures[metric]
        return (-value if more_is_better else value, -i.figures["received"], i.name, i.key)

    valued.sort(key=order)
    blank.sort(key=lambda i: (-i.figures["received"], i.name, i.key))
    return [(n, i) for n, i in enumerate(valued, start=1)] + [(None, i) for i in blank]
