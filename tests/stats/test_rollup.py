"""The roll-up never changes a figure: on PostgreSQL every figure read through
the cells and the ledger equals the same figure computed from ``report``, before
and after a fold, after cases change state once counted, and for windows that
cut days and months in two. Also: the median is PostgreSQL's
``percentile_cont(0.5)`` and the mean of the two middle values in Python alike."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import load_principal
from app.core import clock
from app.core.settings import Settings
from app.core.timewin import parse_window
from app.reports.models import Report
from app.stats import breakdowns, rollup, service, sources, windows
from app.stats.scope import StatsScope, scope_for_principal
from tests.factories import make_user
from tests.reports.helpers import act
from tests.stats.helpers import NOW, Fixed, make_fixed

WINDOWS = [
    ("2026-10-01", "2026-12-01"),  # whole months
    (None, None),  # all time
    ("2026-09-15", "2026-11-15"),  # a whole month between two partial ones
    ("2026-10-31T12:00:00+08:00", "2026-11-05T12:00:00+08:00"),  # partial days, no whole month
    ("2026-11-01T00:30:00+08:00", "2026-11-01T00:30:00.000001+08:00"),  # one microsecond
    ("2026-11-01", None),
    ("2026-10-15", "2026-12-15"),  # most of October, and December so far: cell less the rest
    ("2026-10-15", "2026-11-10"),  # two partial months, no whole one
    ("2026-11-03T06:00:00+08:00", "2026-12-01"),  # November less its first days
    # November less the days of G, the community admin's only case: they are
    # no row of the worker breakdown, as counting ``report`` shows.
    ("2026-11-07", "2026-12-01"),
]


@pytest.fixture
async def fixed(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession, settings: Settings
) -> Fixed:
    return await make_fixed(client, app, session, settings)


def postgres_only(session: AsyncSession) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the roll-up exists on PostgreSQL only")


async def every_figure(
    session: AsyncSession, scope: StatsScope, region: Any, plan: sources.Plan
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for start, end in WINDOWS:
        lo, hi = parse_window(start, end)
        key = f"{start}..{end}"
        out[f"summary {key}"] = await service.summary(
            session, scope=scope, region=region, lo=lo, hi=hi, plan=plan
        )
        for by in ("street", "community", "grid", "worker", "category"):
            items = await breakdowns.breakdown(
                session, scope=scope, region=region, lo=lo, hi=hi, by=by, plan=plan
            )
            out[f"{by} {key}"] = [(i.key, i.name, i.figures) for i in items]
        tlo, thi = windows.trend_window(lo, hi, "day")
        for interval in ("day", "week", "month"):
            out[f"trend {interval} {key}"] = await service.trend(
                session, scope=scope, region=region, lo=tlo, hi=thi, interval=interval, plan=plan
            )
    return out


async def assert_same(
    session: AsyncSession, scope: StatsScope, region: Any = None
) -> dict[str, Any]:
    auto = await every_figure(session, scope, region, "auto")
    base = await every_figure(session, scope, region, "base")
    assert auto.keys() == base.keys()
    for key in auto:
        assert auto[key] == base[key], key
    return auto


async def fold_all(session: AsyncSession) -> None:
    while await rollup.fold_batch(session):
        pass
    assert await session.scalar(text("SELECT count(*) FROM stats_delta")) == 0


async def test_cells_and_ledger_equal_report(
    session: AsyncSession, fixed: Fixed, client: httpx.AsyncClient
) -> None:
    postgres_only(session)
    w = fixed.world
    scopes = [
        (StatsScope(paths=None), None),
        (scope_for_principal(await load_principal(session, w.street_admin)), None),
        (scope_for_principal(await load_principal(session, w.street_admin)), w.tree.community),
        (scope_for_principal(await load_principal(session, w.community_admin)), None),
    ]
    # Nothing of this test is folded yet: its cases come from the ledger. (Cells
    # may exist already: the background pass folds what other tests committed.)
    tables = ("stats_day_cell", "stats_month_cell", "stats_category_cell")

    async def cell_counts() -> list[int]:
        return [await session.scalar(text(f"SELECT count(*) FROM {t}")) or 0 for t in tables]

    cells_before = await cell_counts()
    before = [await assert_same(session, s, r) for s, r in scopes]

    await fold_all(session)
    assert all(a > b for a, b in zip(await cell_counts(), cells_before, strict=True))
    after = [await assert_same(session, s, r) for s, r in scopes]
    assert after == before

    # Cases change state after being counted: F is rated, H is accepted again by
    # the community and resolved, C is reopened again.
    clock.set_now(NOW)
    r = await act(client, w.h(w.resident), fixed.ids["F"], "rating", {"score": "satisfied"})
    assert r.status_code == 200, r.text
    r = await act(client, w.h(w.community_admin), fixed.ids["H"], "accept")
    assert r.status_code == 200, r.text
    r = await act(client, w.h(w.community_admin), fixed.ids["H"], "resolve", {"note": "已解决"})
    assert r.status_code == 200, r.text
    pending = await session.scalar(text("SELECT count(*) FROM stats_delta"))
    assert pending and pending > 0
    changed = [await assert_same(session, s, r) for s, r in scopes]
    summary = changed[0]["summary 2026-10-01..2026-12-01"]
    # Rated 3 → 4 (F 满意), satisfied 2 → 3; resolved 5 → 6 (H), H still late:
    # flagged overdue before its escalation. Overdue open: only E now.
    assert (summary["rated"], summary["satisfied"], summary["satisfaction_rate"]) == (4, 3, 0.75)
    assert (summary["resolved"], summary["resolved_on_time"], summary["overdue_open"]) == (6, 3, 1)

    await fold_all(session)
    assert [await assert_same(session, s, r) for s, r in scopes] == changed

    # A rebuild from scratch gives the same cells.
    await rollup.rebuild(session)
    assert [await assert_same(session, s, r) for s, r in scopes] == changed


async def test_a_deleted_case_leaves_no_empty_group(session: AsyncSession, fixed: Fixed) -> None:
    """A case moved to someone and then deleted nets to nothing in the ledger:
    that person is not listed, as they are not when counting ``report``."""
    postgres_only(session)
    stranger = await make_user(session, kind="staff", name="临时人员")
    rid = fixed.ids["A"]  # accepted and resolved: it carries both durations
    await session.execute(
        text("UPDATE report SET resolver_id = :u WHERE id = :id"), {"u": stranger.id, "id": rid}
    )
    await session.execute(text("DELETE FROM report WHERE id = :id"), {"id": rid})
    for plan in ("auto", "base"):
        items = await breakdowns.breakdown(
            session,
            scope=StatsScope(paths=None),
            region=None,
            lo=None,
            hi=None,
            by="worker",
            plan=plan,
        )
        assert stranger.id not in [i.key for i in items], plan
    await assert_same(session, StatsScope(paths=None))


async def test_changes_that_do_not_touch_a_figure_leave_no_ledger_row(
    session: AsyncSession, fixed: Fixed, client: httpx.AsyncClient
) -> None:
    postgres_only(session)
    await fold_all(session)
    w = fixed.world
    clock.set_now(NOW)
    r = await act(
        client, w.h(w.other_community_admin), fixed.ids["E"], "supervise", {"note": "请尽快签收"}
    )
    assert r.status_code == 200, r.text
    assert await session.scalar(text("SELECT count(*) FROM stats_delta")) == 0
    # A transfer changes whom the case counts for: -old +new.
    r = await act(
        client,
        w.h(w.other_community_admin),
        fixed.ids["E"],
        "transfer",
        {"assignee_id": w.other_community_admin.id, "reason": "换人"},
    )
    assert r.status_code == 200, r.text
    rows = (
        await session.execute(text("SELECT sign, worker_id FROM stats_delta ORDER BY id"))
    ).all()
    assert [tuple(r) for r in rows] == [(-1, w.far_worker.id), (1, w.other_community_admin.id)]


async def test_trigger_and_report_rules_agree_row_by_row(
    session: AsyncSession, fixed: Fixed
) -> None:
    """Each report's ledger rows sum to what ``report`` says it contributes."""
    postgres_only(session)
    ledger = {
        row.report_id: row
        for row in await session.execute(
            text("""
                SELECT report_id, sum(sign) AS n, sum(sign * accepted_on_time) AS aot,
                       sum(sign * resolved) AS resolved, sum(sign * resolved_on_time) AS rot,
                       sum(sign * rated) AS rated, sum(sign * satisfied) AS satisfied,
                       sum(sign * reopened) AS reopened, sum(sign * ever_resolved) AS ever,
                       sum(sign * resp_us) AS resp, sum(sign * res_us) AS res
                  FROM stats_delta GROUP BY report_id HAVING sum(sign) <> 0
            """)
        )
    }
    for name, rid in fixed.ids.items():
        report = await session.get(Report, rid)
        assert report is not None
        by_rules = await service.summary(
            session,
            scope=StatsScope(paths=None),
            region=None,
            lo=report.created_at,
            hi=report.created_at + timedelta(microseconds=1),
            plan="base",
        )
        row = ledger.get(rid)
        if report.status in ("rejected", "cancelled"):
            assert row is None, name
            continue
        assert row is not None, name
        assert (row.n, row.aot, row.resolved, row.rot) == (
            by_rules["received"],
            by_rules["accepted_on_time"],
            by_rules["resolved"],
            by_rules["resolved_on_time"],
        ), name
        assert (row.rated, row.satisfied, row.reopened, row.ever) == (
            by_rules["rated"],
            by_rules["satisfied"],
            by_rules["reopened"],
            by_rules["ever_resolved"],
        ), name


def _minutes(us: Decimal) -> float:
    return float((us / 60_000_000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


async def test_median_is_percentile_cont_on_both_databases(
    session: AsyncSession, fixed: Fixed
) -> None:
    lo, hi = parse_window("2026-10-01", "2026-12-01")
    assert lo is not None and hi is not None
    rows = (
        await session.execute(
            select(Report.created_at, Report.first_accepted_at).where(
                Report.status.not_in(("rejected", "cancelled")),
                Report.created_at >= lo,
                Report.created_at < hi,
                Report.first_accepted_at.is_not(None),
            )
        )
    ).all()
    durations = [(a - c) // timedelta(microseconds=1) for c, a in rows]
    assert sorted(durations) == [m * 60_000_000 for m in (10, 20, 20, 30, 90, 150)]
    summary = await service.summary(
        session, scope=StatsScope(paths=None), region=None, lo=lo, hi=hi, plan="base"
    )
    # Python's statistics.median is the mean of the two middle values too.
    assert summary["median_response_minutes"] == _minutes(Decimal(statistics.median(durations)))
    if session.get_bind().dialect.name == "postgresql":
        pg = await session.scalar(
            text("""
                SELECT percentile_cont(0.5) WITHIN GROUP (
                    ORDER BY EXTRACT(EPOCH FROM first_accepted_at - created_at) * 1000000)
                  FROM report
                 WHERE status NOT IN ('rejected', 'cancelled') AND first_accepted_at IS NOT NULL
                   AND created_at >= :lo AND created_at < :hi
            """),
            {"lo": lo, "hi": hi},
        )
        assert summary["median_response_minutes"] == _minutes(Decimal(str(pg)))


async def test_fold_on_sqlite_is_a_no_op(session: AsyncSession, fixed: Fixed, app: FastAPI) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert await rollup.fold(app.state.db) == 0
    assert await session.scalar(select(func.count()).select_from(text("stats_delta"))) == 0


def test_split_windows() -> None:
    from app.core.clock import SHANGHAI

    lo = datetime(2026, 9, 15, tzinfo=SHANGHAI)
    hi = datetime(2026, 11, 15, 6, tzinfo=SHANGHAI)
    cut = windows.split(lo, hi, "month")
    assert (str(cut.first), str(cut.end)) == ("2026-10-01", "2026-11-01")
    assert cut.edges == (
        (lo, datetime(2026, 10, 1, tzinfo=SHANGHAI)),
        (datetime(2026, 11, 1, tzinfo=SHANGHAI), hi),
    )
    cut = windows.split(lo, hi, "day")
    assert (str(cut.first), str(cut.end)) == ("2026-09-15", "2026-11-15")
    assert cut.edges == ((datetime(2026, 11, 15, tzinfo=SHANGHAI), hi),)
    # From a midnight to 03:00: no whole day, one edge.
    cut = windows.split(lo, lo + timedelta(hours=3), "day")
    assert cut.first == cut.end and cut.edges == ((lo, lo + timedelta(hours=3)),)
    # Inside one day: one edge.
    cut = windows.split(lo + timedelta(hours=1), lo + timedelta(hours=3), "day")
    assert not cut.whole and cut.edges == ((lo + timedelta(hours=1), lo + timedelta(hours=3)),)
    # Across one boundary, with no whole period between: an edge on each side.
    cut = windows.split(lo, datetime(2026, 10, 10, tzinfo=SHANGHAI), "month")
    october = datetime(2026, 10, 1, tzinfo=SHANGHAI)
    assert cut.edges == ((lo, october), (october, datetime(2026, 10, 10, tzinfo=SHANGHAI)))
    cut = windows.split(None, None, "month")
    assert cut.whole and cut.first is None and cut.end is None and cut.edges == ()
