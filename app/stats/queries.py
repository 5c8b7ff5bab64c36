"""All SQL of the figures.

Two ways to the same numbers:

- ``from_reports``: straight from ``report``, portable (SQLite and PostgreSQL).
  It is the definition, and what small sets (a community, a worker, an edge
  of a window) and every SQLite deployment use.
- ``from_day_cells`` / ``from_month_cells``: PostgreSQL only, the roll-up cells
  plus the ledger rows not folded yet, read in one statement (one snapshot),
  so a fold running meanwhile can never count a change twice or miss it.

Each returns partial ``Tally`` objects by group key; ``figures.py`` does the
arithmetic.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    extract,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.reports.models import Report
from app.reports.overdue import overdue_condition
from app.reports.state import EXCLUDED, FINISHED
from app.stats.figures import COUNTS, Tally

R = Report
SATISFIED = ("satisfied", "basically_satisfied")


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


async def tune(session: AsyncSession) -> None:
    """PostgreSQL, for this transaction only: room to hash-aggregate the packed
    durations in memory instead of spilling to disk; no JIT compilation (it
    costs more than it saves on these short aggregates); and a plan made for
    the actual window and region every time — the driver prepares statements,
    and after five runs PostgreSQL would switch to a generic plan that reads
    the whole ledger and every cell whatever the window."""
    if dialect_of(session) == "postgresql":
        await session.execute(
            text(
                "SELECT set_config('work_mem', '64MB', true), set_config('jit', 'off', true), "
                "set_config('plan_cache_mode', 'force_custom_plan', true)"
            )
        )


# ---------------------------------------------------------------- the rules


def worker_expr() -> ColumnElement[Any]:
    """Who a case counts for: the one who resolved it last once it is resolved or
    closed, else whoever owns it now (``None`` while it waits in a queue)."""
    return case((R.status.in_(FINISHED), R.resolver_id), else_=R.assignee_id)


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def duration_us(dialect: str, end: Any, start: Any) -> ColumnElement[int]:
    """``end - start`` in whole microseconds, exact on both databases."""
    if dialect == "postgresql":
        return cast(extract("epoch", end - start) * 1_000_000, BigInteger)
    # SQLite keeps these columns as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole
    # seconds from strftime('%s'), microseconds from the six digits after the dot.
    return (
        cast(func.strftime("%s", end), Integer) - cast(func.strftime("%s", start), Integer)
    ) * 1_000_000 + (
        cast(func.substr(end, 21, 6), Integer) - cast(func.substr(start, 21, 6), Integer)
    )


def shanghai_day(dialect: str, column: Any) -> ColumnElement[Any]:
    """The Asia/Shanghai calendar day of a UTC timestamp. SQLite adds a fixed
    8 hours: Shanghai has kept UTC+8 without daylight saving since 1991."""
    if dialect == "postgresql":
        return cast(func.timezone("Asia/Shanghai", column), Date)
    return func.date(column, "+8 hours")


@dataclass(frozen=True)
class Contribution:
    """What one ``report`` row adds to the figures (DESIGN §6). Rejected and
    cancelled cases add nothing; the trigger of migration 0004 states the same
    rules for the ledger, and tests check that both agree."""

    accepted_on_time: ColumnElement[int]
    resolved: ColumnElement[int]
    resolved_on_time: ColumnElement[int]
    rated: ColumnElement[int]
    satisfied: ColumnElement[int]
    reopened: ColumnElement[int]
    ever_resolved: ColumnElement[int]
    resp_us: ColumnElement[Any]
    res_us: ColumnElement[Any]

    @classmethod
    def of(cls, dialect: str) -> Contribution:
        finished = R.status.in_(FINISHED)
        return cls(
            # Accepted for the first time by the first response deadline it was given.
            accepted_on_time=_flag(
                and_(
                    R.first_accepted_at.is_not(None),
                    R.first_response_due_at.is_not(None),
                    R.first_accepted_at <= R.first_response_due_at,
                )
            ),
            resolved=_flag(finished),
            # Last resolution by the resolution deadline in force (approved
            # extensions included), and never flagged overdue meanwhile: a case
            # escalated for lateness gets a fresh deadline but stays late.
            resolved_on_time=_flag(
                and_(
                    finished,
                    R.resolved_at.is_not(None),
                    R.resolve_due_at.is_not(None),
                    R.resolved_at <= R.resolve_due_at,
                    R.overdue_at.is_(None),
                )
            ),
            rated=_flag(R.rating_score.is_not(None)),
            satisfied=_flag(R.rating_score.in_(SATISFIED)),
            reopened=_flag(R.reopen_count > 0),
            ever_resolved=_flag(R.resolve_count > 0),
            resp_us=case(
                (
                    R.first_accepted_at.is_not(None),
                    duration_us(dialect, R.first_accepted_at, R.created_at),
                ),
                else_=None,
            ),
            res_us=case(
                (
                    and_(finished, R.resolved_at.is_not(None)),
                    duration_us(dialect, R.resolved_at, R.created_at),
                ),
                else_=None,
            ),
        )


def counted() -> ColumnElement[bool]:
    return R.status.not_in(EXCLUDED)


def overdue_expr(now: datetime) -> ColumnElement[bool]:
    """超期数: the one rule of ``reports.overdue``."""
    return overdue_condition(now)


def _packed(dialect: str, expr: ColumnElement[Any]) -> ColumnElement[Any]:
    """Every non-null value of ``expr`` in a group, packed for ``figures.Durations``."""
    if dialect == "postgresql":
        return func.string_agg(func.int8send(expr), literal_column("''::bytea"))
    return func.group_concat(expr)


def path_clause(column: Any, paths: Sequence[str] | None) -> ColumnElement[bool]:
    """``column`` lies under one of ``paths`` (``None``: anywhere). Paths hold only
    digits and slashes, so no LIKE escaping is needed; the pattern is written
    into the statement so the planner can use the prefix index."""
    if paths is None:
        return true()
    if not paths:
        return false()
    for p in paths:
        if not all(ch.isdigit() or ch == "/" for ch in p):
            raise ValueError(f"unexpected region path {p!r}")
    return or_(*[column.like(bindparam(None, p + "%", literal_execute=True)) for p in paths])


def window_clause(column: Any, lo: datetime | None, hi: datetime | None) -> ColumnElement[bool]:
    conds = []
    if lo is not None:
        conds.append(column >= lo)
    if hi is not None:
        conds.append(column < hi)
    return and_(true(), *conds)


# ---------------------------------------------------------------- from report

GroupBy = str  # "none" | "region_path" | "worker" | "category" | "day"


def _group_expr(dialect: str, by: GroupBy) -> ColumnElement[Any] | None:
    if by == "none":
        return None
    if by == "region_path":
        return R.region_path.expression
    if by == "worker":
        return worker_expr()
    if by == "category":
        return R.category_id.expression
    if by == "day":
        return shanghai_day(dialect, R.created_at)
    raise ValueError(by)


def _key(dialect: str, by: GroupBy, value: Any) -> Hashable:
    if by == "day" and isinstance(value, str):
        return date.fromisoformat(value)
    return value  # type: ignore[no-any-return]


async def from_reports(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    lo: datetime | None,
    hi: datetime | None,
    by: GroupBy,
    now: datetime | None,
) -> dict[Hashable, Tally]:
    """Partial figures by group, straight from ``report``. ``visible`` is the
    caller's scope (and region) as a condition on ``report``; ``now`` adds the
    open overdue count (``None``: leave it out, for windows whose overdue
    cases are counted elsewhere)."""
    dialect = dialect_of(session)
    c = Contribution.of(dialect)
    group = _group_expr(dialect, by)
    where = and_(counted(), visible, window_clause(R.created_at, lo, hi))
    key_col = [group.label("k")] if group is not None else []
    stmt = select(
        *key_col,
        func.count().label("received"),
        func.sum(c.accepted_on_time).label("accepted_on_time"),
        func.sum(c.resolved).label("resolved"),
        func.sum(c.resolved_on_time).label("resolved_on_time"),
        func.sum(c.rated).label("rated"),
        func.sum(c.satisfied).label("satisfied"),
        func.sum(c.reopened).label("reopened"),
        func.sum(c.ever_resolved).label("ever_resolved"),
        func.count(c.resp_us).label("resp_n"),
        func.sum(c.resp_us).label("resp_sum_us"),
        func.count(c.res_us).label("res_n"),
        func.sum(c.res_us).label("res_sum_us"),
        _packed(dialect, c.resp_us).label("resp_values"),
        _packed(dialect, c.res_us).label("res_values"),
    ).where(where)
    if group is not None:
        stmt = stmt.group_by(group)
    out: dict[Hashable, Tally] = {}
    first = 1 if group is not None else 0
    for row in await session.execute(stmt):
        if not row.received:
            continue
        t = Tally()
        t.add_counts(row[first : first + len(COUNTS)])
        t.resp.add(row.resp_values)
        t.res.add(row.res_values)
        out[_key(dialect, by, row.k) if group is not None else None] = t
    if now is not None:
        for key, n in (
            await overdue_counts(session, visible=visible, lo=lo, hi=hi, by=by, now=now)
        ).items():
            out.setdefault(key, Tally()).overdue_open += n
    return out


async def overdue_counts(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool],
    lo: datetime | None,
    hi: datetime | None,
    by: GroupBy,
    now: datetime,
) -> dict[Hashable, int]:
    """Open cases past their deadline as of ``now``, by group. Open cases are a
    small share of all, reached through the (status, created_at) index."""
    dialect = dialect_of(session)
    group = _group_expr(dialect, by)
    key_col = [group.label("k")] if group is not None else []
    stmt = select(*key_col, func.count().label("n")).where(
        overdue_expr(now), visible, window_clause(R.created_at, lo, hi)
    )
    if group is not None:
        stmt = stmt.group_by(group)
    return {
        (_key(dialect, by, row.k) if group is not None else None): int(row.n)
        for row in await session.execute(stmt)
        if row.n
    }


# ---------------------------------------------------------------- from the roll-up (PostgreSQL)

_MEASURES = (
    "received, accepted_on_time, resolved, resolved_on_time, rated, satisfied, "
    "reopened, ever_resolved, resp_n, resp_sum_us, res_n, res_sum_us"
)
# Counts come back as bigint (not numeric) for speed; sums of microseconds stay
# numeric, which cannot overflow.
_OUTER = """
    sum(received)::bigint AS received, sum(accepted_on_time)::bigint AS accepted_on_time,
    sum(resolved)::bigint AS resolved, sum(resolved_on_time)::bigint AS resolved_on_time,
    sum(rated)::bigint AS rated, sum(satisfied)::bigint AS satisfied,
    sum(reopened)::bigint AS reopened, sum(ever_resolved)::bigint AS ever_resolved,
    sum(resp_n)::bigint AS resp_n, sum(resp_sum_us) AS resp_sum_us,
    sum(res_n)::bigint AS res_n, sum(res_sum_us) AS res_sum_us,
    string_agg(resp_add, ''::bytea) AS resp_add, string_agg(resp_del, ''::bytea) AS resp_del,
    string_agg(res_add, ''::bytea) AS res_add, string_agg(res_del, ''::bytea) AS res_del
"""
# The ledger's rows, summed with their signs: a change is -old +new.
_LEDGER = """
    sum(sign) AS received, sum(sign * accepted_on_time) AS accepted_on_time,
    sum(sign * resolved) AS resolved, sum(sign * resolved_on_time) AS resolved_on_time,
    sum(sign * rated) AS rated, sum(sign * satisfied) AS satisfied,
    sum(sign * reopened) AS reopened, sum(sign * ever_resolved) AS ever_resolved,
    coalesce(sum(sign) FILTER (WHERE resp_us IS NOT NULL), 0) AS resp_n,
    coalesce(sum(sign * resp_us), 0) AS resp_sum_us,
    coalesce(sum(sign) FILTER (WHERE res_us IS NOT NULL), 0) AS res_n,
    coalesce(sum(sign * res_us), 0) AS res_sum_us,
    string_agg(int8send(resp_us), ''::bytea) FILTER (WHERE sign > 0) AS resp_add,
    string_agg(int8send(resp_us), ''::bytea) FILTER (WHERE sign < 0) AS resp_del,
    string_agg(int8send(res_us), ''::bytea) FILTER (WHERE sign > 0) AS res_add,
    string_agg(int8send(res_us), ''::bytea) FILTER (WHERE sign < 0) AS res_del
"""
SHANGHAI_DAY_SQL = "(created_at AT TIME ZONE 'Asia/Shanghai')::date"
SHANGHAI_MONTH_SQL = "date_trunc('month', created_at AT TIME ZONE 'Asia/Shanghai')::date"


def _like_any(column: str, paths: Sequence[str] | None, params: dict[str, Any], tag: str) -> str:
    if paths is None:
        return "TRUE"
    if not paths:
        return "FALSE"
    parts = []
    for i, p in enumerate(paths):
        params[f"{tag}{i}"] = p + "%"
        parts.append(f"{column} LIKE :{tag}{i}")
    return "(" + " OR ".join(parts) + ")"


def _range(column: str, lo: Any, hi: Any, params: dict[str, Any], tag: str) -> str:
    conds = ["TRUE"]
    if lo is not None:
        params[f"{tag}_lo"] = lo
        conds.append(f"{column} >= :{tag}_lo")
    if hi is not None:
        params[f"{tag}_hi"] = hi
        conds.append(f"{column} < :{tag}_hi")
    return " AND ".join(conds)


def _tallies(rows: Sequence[Any]) -> dict[Hashable, Tally]:
    """Rows of (key, the COUNTS…, resp_add, resp_del, res_add, res_del)."""
    out: dict[Hashable, Tally] = {}
    n = len(COUNTS)
    for row in rows:
        t = out.setdefault(row[0], Tally())
        t.add_counts(row[1 : 1 + n])
        resp_add, resp_del, res_add, res_del = row[1 + n : 5 + n]
        t.resp.add(resp_add)
        t.resp.remove(resp_del)
        t.res.add(res_add)
        t.res.remove(res_del)
    return out


async def from_day_cells(
    session: AsyncSession,
    *,
    street_paths: Sequence[str] | None,
    first_day: date | None,
    end_day: date | None,
    by: GroupBy,
) -> dict[Hashable, Tally]:
    """Whole Shanghai days [first_day, end_day) under ``street_paths`` (paths of
    streets or of the district: the cells are per day and street, and per
    category in a table of their own), in one group or by day or category."""
    params: dict[str, Any] = {}
    lo_ts = _midnight(first_day) if first_day is not None else None
    hi_ts = _midnight(end_day) if end_day is not None else None
    key = {"none": "NULL::date", "day": "day", "category": "category_id"}[by]
    table, cell_category = (
        ("stats_category_cell", "category_id") if by == "category" else ("stats_day_cell", "0")
    )
    sql = f"""
        SELECT {key} AS k, {_OUTER} FROM (
            SELECT day, {cell_category} AS category_id, {_MEASURES},
                   resp_values AS resp_add, NULL::bytea AS resp_del,
                   res_values AS res_add, NULL::bytea AS res_del
              FROM {table}
             WHERE {_range("day", first_day, end_day, params, "d")}
               AND {_like_any("street_path", street_paths, params, "p")}
            UNION ALL
            SELECT {SHANGHAI_DAY_SQL} AS day, category_id, {_LEDGER}
              FROM stats_delta
             WHERE {_range("created_at", lo_ts, hi_ts, params, "t")}
               AND {_like_any("region_path", street_paths, params, "p")}
             GROUP BY 1, 2
        ) parts
        {"" if by == "none" else "GROUP BY 1"}
    """
    rows = (await session.execute(text(sql), params)).all()
    return {k: t for k, t in _tallies(rows).items() if _nonempty(t)}


async def from_month_cells(
    session: AsyncSession,
    *,
    paths: Sequence[str] | None,
    first_month: date | None,
    end_month: date | None,
    by: str,
) -> dict[Hashable, Tally]:
    """Whole Shanghai months [first_month, end_month) under ``paths``, grouped by
    ``region_path`` or by worker (``None`` for cases waiting in a queue)."""
    params: dict[str, Any] = {}
    lo_ts = _midnight(first_month) if first_month is not None else None
    hi_ts = _midnight(end_month) if end_month is not None else None
    if by == "region_path":
        cell_key, ledger_key = "region_path", "region_path"
    elif by == "worker":
        cell_key, ledger_key = "NULLIF(worker_id, 0)", "worker_id"
    else:
        raise ValueError(by)
    sql = f"""
        SELECT k, {_OUTER} FROM (
            SELECT {cell_key} AS k, {_MEASURES},
                   resp_values AS resp_add, NULL::bytea AS resp_del,
                   res_values AS res_add, NULL::bytea AS res_del
              FROM stats_month_cell
             WHERE {_range("month", first_month, end_month, params, "m")}
               AND {_like_any("region_path", paths, params, "p")}
            UNION ALL
            SELECT {ledger_key} AS k, {_LEDGER}
              FROM stats_delta
             WHERE {_range("created_at", lo_ts, hi_ts, params, "t")}
               AND {_like_any("region_path", paths, params, "p")}
             GROUP BY 1
        ) parts
        GROUP BY k
    """
    rows = (await session.execute(text(sql), params)).all()
    return {k: t for k, t in _tallies(rows).items() if _nonempty(t)}


def _nonempty(t: Tally) -> bool:
    """A group whose rows cancel out (cases added, then deleted) is not a group:
    every count nets to zero, and ``resp_n``/``res_n`` count the durations, so
    the duration multisets are empty too."""
    return any(getattr(t, name) for name in (*COUNTS, "overdue_open"))


def _midnight(day: date) -> datetime:
    from app.core.clock import SHANGHAI

    return datetime.combine(day, datetime.min.time(), SHANGHAI)
