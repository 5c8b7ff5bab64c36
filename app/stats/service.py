"""The figures (DESIGN §6): summary, trend and the banner.

Every figure is over the cases created in ``[lo, hi)`` that the scope covers,
within ``region`` when one is given; rejected and cancelled cases are left out.
The partial tallies they add up come from ``sources.tallies``; breakdowns and
rankings are in ``breakdowns``, the windows' arithmetic in ``windows``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.org.models import Region
from app.stats import queries
from app.stats.figures import Tally, figures, merged
from app.stats.scope import StatsScope
from app.stats.sources import Plan, tallies
from app.stats.windows import Interval, buckets, period_start
from app.users.models import User


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
        per_bucket[period_start(day, interval)].merge(t)
    return [(b, figures(per_bucket[b])) for b in starts]


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
