"""The figures (DESIGN §6): summary, breakdowns, trends, rankings and the banner.

Every figure is over the cases created in ``[lo, hi)`` that the scope covers,
within ``region`` when one is given; rejected and cancelled cases are left out.
Which source answers — ``report`` itself or the roll-up — is decided here and
never changes a number (``plan="base"`` forces ``report``, for tests and checks).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import WORKER_ROLES
from app.core import clock
from app.core.clock import SHANGHAI
from app.core.db import Database
from app.core.errors import Invalid
from app.org.models import Region
from app.reports.models import Category, Report
from app.stats import queries, rollup
from app.stats.figures import Tally, figures, merged
from app.stats.scope import StatsScope
from app.users.models import Membership, User

Plan = Literal["auto", "base"]
By = Literal["street", "community", "grid", "worker", "category"]
Interval = Literal["day", "week", "month"]
Level = Literal["grid", "worker"]

LEVEL_NAMES = {"street": "街道", "community": "社区", "grid": "网格"}
NO_WORKER = "无经办人（在队列中）"
MAX_BUCKETS = 1000
DEFAULT_BUCKETS = {"day": 30, "week": 12, "month": 12}

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

# Below this many ledger rows a read does not start a fold of its own.
FOLD_WHEN_PENDING = 10_000


@dataclass
class Item:
    key: int | None
    name: str
    figures: dict[str, Any]
    code: str | None = None


# ---------------------------------------------------------------- windows


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), SHANGHAI)


def _period_start(day: date, unit: str) -> date:
    if unit == "day":
        return day
    if unit == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_period(day: date, unit: str) -> date:
    if unit == "day":
        return day + timedelta(days=1)
    if unit == "week":
        return day + timedelta(days=7)
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _floor(moment: datetime, unit: str) -> date:
    return _period_start(moment.astimezone(SHANGHAI).date(), unit)


def _ceil(moment: datetime, unit: str) -> date:
    start = _floor(moment, unit)
    return start if midnight(start) == moment else _next_period(start, unit)


@dataclass(frozen=True)
class Split:
    """A window cut into whole periods ``[first, end)`` (``None``: unbounded)
    served by cells, and the partial periods at its edges served by ``report``."""

    whole: bool
    first: date | None
    end: date | None
    edges: tuple[tuple[datetime | None, datetime | None], ...]


def split(lo: datetime | None, hi: datetime | None, unit: str) -> Split:
    """Each edge lies within one period."""
    first = _ceil(lo, unit) if lo is not None else None
    end = _floor(hi, unit) if hi is not None else None
    if first is not None and end is not None and first > end:  # inside one period
        return Split(False, None, None, ((lo, hi),))
    edges = []
    if lo is not None and first is not None and midnight(first) > lo:
        edges.append((lo, midnight(first)))
    if hi is not None and end is not None and midnight(end) < hi:
        edges.append((midnight(end), hi))
    return Split(True, first, end, tuple(edges))


# ---------------------------------------------------------------- sources


def _depth(path: str) -> int:
    return path.strip("/").count("/") + 1 if path.strip("/") else 0


def _merge_into(target: dict[Hashable, Tally], parts: dict[Hashable, Tally]) -> None:
    for key, t in parts.items():
        if key in target:
            target[key].merge(t)
        else:
            target[key] = t


async def tallies(
    session: AsyncSession,
    *,
    scope: StatsScope,
    region: Region | None,
    lo: datetime | None,
    hi: datetime | None,
    group: queries.GroupBy,
    plan: Plan = "auto",
    with_overdue: bool = True,
) -> dict[Hashable, Tally]:
    """Partial figures by ``group`` (none, day, region_path, worker, category)."""
    region_cond: ColumnElement[bool] = (
        queries.path_clause(Report.region_path, [region.path]) if region is not None else true()
    )
    visible = and_(scope.clause(), region_cond)
    paths = (region.path,) if region is not None else scope.paths
    now = clock.now()
    await queries.tune(session)
    postgres = queries.dialect_of(session) == "postgresql"
    use_cells = plan == "auto" and postgres and scope.by_region_only
    out: dict[Hashable, Tally] = {}
    unit = None
    if (
        use_cells
        and group in ("none", "day", "category")
        and all(_depth(p) <= 2 for p in paths or ())
    ):
        unit = "day"
    elif use_cells and group in ("region_path", "worker"):
        unit = "month"
    if unit is None:
        return await queries.from_reports(
            session, visible=visible, lo=lo, hi=hi, by=group, now=now if with_overdue else None
        )
    cut = split(lo, hi, unit)
    # Parts of ``report`` to add (+1) or to take away (-1) from the cells read.
    parts: list[tuple[datetime, datetime, int]] = []
    first, end = cut.first, cut.end
    whole = cut.whole and not (first is not None and end is not None and first >= end)
    for edge_lo, edge_hi in cut.edges:
        assert edge_lo is not None and edge_hi is not None
        period = _floor(edge_lo, unit)
        start, stop = midnight(period), midnight(_next_period(period, unit))
        inside = max(min(edge_hi, now) - edge_lo, timedelta(0))
        outside = (edge_lo - start) + max(min(stop, now) - edge_hi, timedelta(0))
        if unit == "day" or inside <= outside:
            parts.append((edge_lo, edge_hi, 1))
            continue
        # Most of this month is in the window (typically: this month so far):
        # its cell, less the few cases of the month outside the window.
        if whole:
            first = None if first is None else min(first, period)
            end = None if end is None else max(end, _next_period(period, unit))
        else:
            first, end, whole = period, _next_period(period, unit), True
        if edge_lo > start:
            parts.append((start, edge_lo, -1))
        if edge_hi < stop:
            parts.append((edge_hi, stop, -1))
    if whole:
        if unit == "day":
            cells = await queries.from_day_cells(
                session, street_paths=paths, first_day=first, end_day=end, by=group
            )
        else:
            cells = await queries.from_month_cells(
                session, paths=paths, first_month=first, end_month=end, by=group
            )
        _merge_into(out, cells)
    for part_lo, part_hi, sign in parts:
        found = await queries.from_reports(
            session, visible=visible, lo=part_lo, hi=part_hi, by=group, now=None
        )
        if sign > 0:
            _merge_into(out, found)
        else:
            for key, t in found.items():
                out.setdefault(key, Tally()).subtract(t)
    if with_overdue:
        for key, n in (
            await queries.overdue_counts(session, visible=visible, lo=lo, hi=hi, by=group, now=now)
        ).items():
            out.setdefault(key, Tally()).overdue_open += n
    return out


_folding: set[asyncio.Task[int]] = set()


async def fold_if_behind(session: AsyncSession, db: Database) -> None:
    """Start a fold in the background when the ledger has grown long. The
    background worker should fold regularly; this keeps reads fast where it
    does not, without making the caller wait for the fold."""
    if _folding or queries.dialect_of(session) != "postgresql":
        return
    behind = await session.scalar(
        text("SELECT id FROM stats_delta ORDER BY id OFFSET :n LIMIT 1"),
        {"n": FOLD_WHEN_PENDING},
    )
    if behind is None:
        return
    task = asyncio.create_task(rollup.fold(db))
    _folding.add(task)
    task.add_done_callback(_folding.discard)


# ---------------------------------------------------------------- summary and trend


async def summary(
    session: AsyncSession,
    *,
    scope: StatsScope,
    region: Region | None,
    lo: datetime | None,
    hi: datetime | None,
    plan: Plan = "auto",
) -> dict[str, Any]:
    # By day, then added up here: the database then builds a few hundred
    # moderate values instead of one huge one, which costs it several times more.
    parts = await tallies(session, scope=scope, region=region, lo=lo, hi=hi, group="day", plan=plan)
    return figures(merged(parts.values()))


def trend_window(
    lo: datetime | None, hi: datetime | None, interval: Interval
) -> tuple[datetime, datetime]:
    """A trend needs bounds: ``to`` defaults to the end of today (Shanghai) and
    ``from`` to 30 days, 12 weeks or 12 months of whole periods before it."""
    if hi is None:
        hi = midnight(clock.now().astimezone(SHANGHAI).date() + timedelta(days=1))
    if lo is None:
        start = _ceil(hi, interval)
        for _ in range(DEFAULT_BUCKETS[interval]):
            start = _period_start(start - timedelta(days=1), interval)
        lo = midnight(start)
    return lo, hi


def buckets(lo: datetime, hi: datetime, interval: Interval) -> list[date]:
    out = []
    day = _floor(lo, interval)
    while midnight(day) < hi:
        out.append(day)
        if len(out) > MAX_BUCKETS:
            raise Invalid(
                "stats.window_too_long",
                f"时间范围过大：按{ {'day': '日', 'week': '周', 'month': '月'}[interval] }统计最多 {MAX_BUCKETS} 个区间",
                details={"interval": interval, "max_buckets": MAX_BUCKETS},
            )
        day = _next_period(day, interval)
    return out


async def trend(
    session: AsyncSession,
    *,
    scope: StatsScope,
    region: Region | None,
    lo: datetime,
    hi: datetime,
    interval: Interval,
    plan: Plan = "auto",
) -> list[tuple[date, dict[str, Any]]]:
    """Figures per day, ISO week (Monday first) or month, Asia/Shanghai; every
    bucket of the window appears, empty ones with zeros and null rates."""
    starts = buckets(lo, hi, interval)
    by_day = await tallies(
        session, scope=scope, region=region, lo=lo, hi=hi, group="day", plan=plan
    )
    per_bucket: dict[date, Tally] = {b: Tally() for b in starts}
    for day, t in by_day.items():
        assert isinstance(day, date)
        per_bucket[_period_start(day, interval)].merge(t)
    return [(b, figures(per_bucket[b])) for b in starts]


# ---------------------------------------------------------------- breakdowns


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


# ---------------------------------------------------------------- banner


async def banner(session: AsyncSession, region: Region | None) -> dict[str, Any]:
    """The home-page line: residents registered in the region, cases handled
    (now resolved or closed) and the completion and satisfaction rates, over
    all time."""
    parts = await tallies(
        session,
        scope=StatsScope(paths=None),
        region=region,
        lo=None,
        hi=None,
        group="day",
        with_overdue=False,
    )
    total = figures(merged(parts.values()))
    residents = (
        select(func.count())
        .select_from(User)
        .where(User.kind == "resident", User.deleted_at.is_(None))
    )
    if region is not None and region.parent_id is not None:
        residents = residents.join(Region, Region.id == User.home_grid_id).where(
            queries.path_clause(Region.path, [region.path])
        )
    return {
        "registered_users": int(await session.scalar(residents) or 0),
        "handled": total["resolved"],
        "completion_rate": total["completion_rate"],
        "satisfaction_rate": total["satisfaction_rate"],
    }
