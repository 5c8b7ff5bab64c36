"""Where the figures' partial tallies come from: ``report`` or the roll-up.

Which source answers — the roll-up's cells for whole periods, ``report`` for
the partial periods at a window's edges — is decided here and never changes a
number. The cells serve PostgreSQL and scopes made of regions only;
``plan="base"`` forces ``report``, for tests and checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import Database
from app.org.models import Region
from app.reports.models import Report
from app.stats import queries, rollup, windows
from app.stats.figures import Tally
from app.stats.scope import StatsScope

Plan = Literal["auto", "base"]

# Below this many ledger rows a read does not start a fold of its own.
FOLD_WHEN_PENDING = 10_000


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
    cut = windows.split(lo, hi, unit)
    # Parts of ``report`` to add (+1) or to take away (-1) from the cells read.
    parts: list[tuple[datetime, datetime, int]] = []
    first, end = cut.first, cut.end
    whole = cut.whole and not (first is not None and end is not None and first >= end)
    for edge_lo, edge_hi in cut.edges:
        assert edge_lo is not None and edge_hi is not None
        period = windows.floor(edge_lo, unit)
        start, stop = windows.midnight(period), windows.midnight(windows.next_period(period, unit))
        inside = max(min(edge_hi, now) - edge_lo, timedelta(0))
        outside = (edge_lo - start) + max(min(stop, now) - edge_hi, timedelta(0))
        if unit == "day" or inside <= outside:
            parts.append((edge_lo, edge_hi, 1))
            continue
        # Most of this month is in the window (typically: this month so far):
        # its cell, less the few cases of the month outside the window.
        if whole:
            first = None if first is None else min(first, period)
            end = None if end is None else max(end, windows.next_period(period, unit))
        else:
            first, end, whole = period, windows.next_period(period, unit), True
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
    # A key whose every case of a cell lay outside the window (taken away
    # above) counted nothing: no key, as when counting ``report`` alone (a
    # person with no case in the window is no row of the worker breakdown).
    out = {key: t for key, t in out.items() if t.received}
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
