"""stats: first response deadline, contribution ledger and roll-up cells

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-23

- ``report.first_response_due_at``: the first response deadline a case was
  given. The response rate compares the first acceptance with it; the
  lifecycle later overwrites ``response_due_at`` (reassignment to the grid
  leader, escalation), which must not rewrite history.
- ``ix_report_created_at``: every figure is over a window of creation time.
- ``stats_delta``: on PostgreSQL, statement-level triggers on ``report`` append
  what each change did to the figures (the old contribution with sign -1, the
  new one with +1) in the same transaction as the change. Appending never
  locks a shared row, so writers never wait on one another or deadlock.
- ``stats_day_cell`` / ``stats_category_cell`` / ``stats_month_cell``: the ledger folded into
  pre-aggregated cells (see ``app/stats/rollup.py``); a read adds the cells and
  the rows still in the ledger in one statement, so figures are exact at any
  moment. SQLite deployments are small and always compute from ``report``;
  the tables exist there only to keep one schema.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm

revision: str = '0004'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_TS = app.core.orm.UTCDateTime(timezone=True)

# What one report row contributes to the figures (DESIGN §6), in SQL over the
# row alias {r}. app/stats/queries.py states the same rules for reading from
# ``report``; tests/stats check that both agree.
_FINISHED = "('resolved', 'closed')"
_EXCLUDED = "('rejected', 'cancelled')"
_CONTRIBUTION = """
    {r}.id AS report_id,
    {r}.created_at AS created_at,
    {r}.region_path AS region_path,
    CASE WHEN {r}.status IN {finished} THEN {r}.resolver_id ELSE {r}.assignee_id END AS worker_id,
    {r}.category_id AS category_id,
    CASE WHEN {r}.first_accepted_at IS NOT NULL AND {r}.first_response_due_at IS NOT NULL
          AND {r}.first_accepted_at <= {r}.first_response_due_at THEN 1 ELSE 0 END AS accepted_on_time,
    CASE WHEN {r}.status IN {finished} THEN 1 ELSE 0 END AS resolved,
    CASE WHEN {r}.status IN {finished} AND {r}.resolved_at IS NOT NULL
          AND {r}.resolve_due_at IS NOT NULL AND {r}.resolved_at <= {r}.resolve_due_at
          AND {r}.overdue_at IS NULL THEN 1 ELSE 0 END AS resolved_on_time,
    CASE WHEN {r}.rating_score IS NOT NULL THEN 1 ELSE 0 END AS rated,
    CASE WHEN {r}.rating_score IN ('satisfied', 'basically_satisfied') THEN 1 ELSE 0 END AS satisfied,
    CASE WHEN {r}.reopen_count > 0 THEN 1 ELSE 0 END AS reopened,
    CASE WHEN {r}.resolve_count > 0 THEN 1 ELSE 0 END AS ever_resolved,
    CASE WHEN {r}.first_accepted_at IS NOT NULL
         THEN (EXTRACT(EPOCH FROM ({r}.first_accepted_at - {r}.created_at)) * 1000000)::bigint
    END AS resp_us,
    CASE WHEN {r}.status IN {finished} AND {r}.resolved_at IS NOT NULL
         THEN (EXTRACT(EPOCH FROM ({r}.resolved_at - {r}.created_at)) * 1000000)::bigint
    END AS res_us
"""
_DELTA_COLUMNS = (
    "report_id, created_at, region_path, worker_id, category_id, sign, accepted_on_time, "
    "resolved, resolved_on_time, rated, satisfied, reopened, ever_resolved, resp_us, res_us"
)
_MEASURES = (
    "accepted_on_time, resolved, resolved_on_time, rated, satisfied, reopened, "
    "ever_resolved, resp_us, res_us"
)


# Open cases, for the overdue count "as of now" (never rolled up, since it moves
# with the clock): few rows, and on PostgreSQL an index-only scan.
_OPEN_PREDICATE = "status IN ('dispatched', 'escalated', 'in_progress', 'submitted')"
_OPEN_INCLUDE = (
    'status', 'accepted_at', 'response_due_at', 'resolve_due_at', 'region_path',
    'assignee_id', 'resolver_id', 'category_id', 'owner_department_id',
)


def _contribution(alias: str) -> str:
    return _CONTRIBUTION.format(r=alias, finished=_FINISHED)


def _select_delta(alias: str, source: str, sign: int) -> str:
    return (
        f"SELECT c.report_id, c.created_at, c.region_path, c.worker_id, c.category_id, {sign}, "
        f"{_MEASURES} "
        f"FROM (SELECT {_contribution(alias)} FROM {source} {alias} "
        f"WHERE {alias}.status NOT IN {_EXCLUDED}) c"
    )


_TRIGGER_FUNCTIONS = {
    "stats_report_inserted": f"""
        INSERT INTO stats_delta ({_DELTA_COLUMNS}) {_select_delta('n', 'new_rows', 1)};
    """,
    "stats_report_deleted": f"""
        INSERT INTO stats_delta ({_DELTA_COLUMNS}) {_select_delta('o', 'old_rows', -1)};
    """,
    # Only rows whose contribution (or cell: region, worker) changed leave a
    # trace: a note or a reminder changes nothing in the figures.
    "stats_report_updated": f"""
        WITH o AS (SELECT {_contribution('x')} FROM old_rows x WHERE x.status NOT IN {_EXCLUDED}),
             n AS (SELECT {_contribution('x')} FROM new_rows x WHERE x.status NOT IN {_EXCLUDED})
        INSERT INTO stats_delta ({_DELTA_COLUMNS})
        SELECT o.report_id, o.created_at, o.region_path, o.worker_id, o.category_id, -1, {', '.join('o.' + m.strip() for m in _MEASURES.split(','))}
        FROM o WHERE NOT EXISTS (
            SELECT 1 FROM n WHERE n.report_id = o.report_id AND ROW(n.*) IS NOT DISTINCT FROM ROW(o.*))
        UNION ALL
        SELECT n.report_id, n.created_at, n.region_path, n.worker_id, n.category_id, 1, {', '.join('n.' + m.strip() for m in _MEASURES.split(','))}
        FROM n WHERE NOT EXISTS (
            SELECT 1 FROM o WHERE o.report_id = n.report_id AND ROW(o.*) IS NOT DISTINCT FROM ROW(n.*));
    """,
    "stats_report_truncated": """
        TRUNCATE stats_delta, stats_day_cell, stats_category_cell, stats_month_cell;
    """,
}
_TRIGGERS = {
    "stats_report_inserted": "AFTER INSERT ON report REFERENCING NEW TABLE AS new_rows",
    "stats_report_deleted": "AFTER DELETE ON report REFERENCING OLD TABLE AS old_rows",
    "stats_report_updated": (
        "AFTER UPDATE ON report REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows"
    ),
    "stats_report_truncated": "AFTER TRUNCATE ON report",
}


_CELL_TABLES = ('stats_day_cell', 'stats_category_cell', 'stats_month_cell')


def _measure_columns() -> list[sa.Column]:
    return [
        sa.Column('received', sa.Integer(), nullable=False),
        sa.Column('accepted_on_time', sa.Integer(), nullable=False),
        sa.Column('resolved', sa.Integer(), nullable=False),
        sa.Column('resolved_on_time', sa.Integer(), nullable=False),
        sa.Column('rated', sa.Integer(), nullable=False),
        sa.Column('satisfied', sa.Integer(), nullable=False),
        sa.Column('reopened', sa.Integer(), nullable=False),
        sa.Column('ever_resolved', sa.Integer(), nullable=False),
        sa.Column('resp_n', sa.Integer(), nullable=False),
        sa.Column('resp_sum_us', sa.BigInteger(), nullable=False),
        sa.Column('res_n', sa.Integer(), nullable=False),
        sa.Column('res_sum_us', sa.BigInteger(), nullable=False),
        sa.Column('resp_values', sa.LargeBinary(), nullable=True),
        sa.Column('res_values', sa.LargeBinary(), nullable=True),
    ]


def _backfill_first_response_due(bind: sa.Connection) -> None:
    """Cases filed before this revision: the first 'dispatched' event plus the
    category's response minutes (an automatic dispatch happens at creation,
    whose exact instant the deadline was computed from)."""
    if bind.dialect.name == "postgresql":
        op.execute("""
            UPDATE report r
               SET first_response_due_at =
                   CASE WHEN e.first_at - r.created_at < interval '1 second'
                        THEN r.created_at ELSE e.first_at END
                   + make_interval(mins => c.response_sla_minutes)
              FROM (SELECT report_id, min(created_at) AS first_at FROM report_event
                     WHERE type = 'dispatched' GROUP BY report_id) e,
                   category c
             WHERE e.report_id = r.id AND c.id = r.category_id
        """)
        return
    from datetime import timedelta

    report = sa.table(
        'report', sa.column('id', _ID), sa.column('created_at', _TS),
        sa.column('category_id', _ID), sa.column('first_response_due_at', _TS),
    )
    event = sa.table(
        'report_event', sa.column('report_id', _ID), sa.column('type', sa.String()),
        sa.column('created_at', _TS),
    )
    category = sa.table(
        'category', sa.column('id', _ID), sa.column('response_sla_minutes', sa.Integer()),
    )
    first = (
        sa.select(event.c.report_id, sa.func.min(event.c.created_at).label('first_at'))
        .where(event.c.type == 'dispatched')
        .group_by(event.c.report_id)
        .subquery()
    )
    rows = bind.execute(
        sa.select(
            report.c.id, report.c.created_at,
            sa.type_coerce(first.c.first_at, _TS), category.c.response_sla_minutes,
        )
        .join(first, first.c.report_id == report.c.id)
        .join(category, category.c.id == report.c.category_id)
    ).all()
    for report_id, created_at, first_at, minutes in rows:
        start = created_at if first_at - created_at < timedelta(seconds=1) else first_at
        bind.execute(
            report.update()
            .where(report.c.id == report_id)
            .values(first_response_due_at=start + timedelta(minutes=minutes))
        )


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_response_due_at', _TS, nullable=True))
        batch_op.create_index('ix_report_created_at', ['created_at'], unique=False)
        batch_op.create_index(
            'ix_report_open_created_at', ['created_at'], unique=False,
            postgresql_where=sa.text(_OPEN_PREDICATE), sqlite_where=sa.text(_OPEN_PREDICATE),
            postgresql_include=list(_OPEN_INCLUDE),
        )

    op.create_table('stats_delta',
    sa.Column('id', _ID, nullable=False),
    sa.Column('report_id', _ID, nullable=False),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('region_path', sa.String(length=255), nullable=False),
    sa.Column('worker_id', _ID, nullable=True),
    sa.Column('category_id', _ID, nullable=False),
    sa.Column('sign', sa.SmallInteger(), nullable=False),
    sa.Column('accepted_on_time', sa.SmallInteger(), nullable=False),
    sa.Column('resolved', sa.SmallInteger(), nullable=False),
    sa.Column('resolved_on_time', sa.SmallInteger(), nullable=False),
    sa.Column('rated', sa.SmallInteger(), nullable=False),
    sa.Column('satisfied', sa.SmallInteger(), nullable=False),
    sa.Column('reopened', sa.SmallInteger(), nullable=False),
    sa.Column('ever_resolved', sa.SmallInteger(), nullable=False),
    sa.Column('resp_us', sa.BigInteger(), nullable=True),
    sa.Column('res_us', sa.BigInteger(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stats_delta')),
    )
    op.create_table('stats_day_cell',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('street_path', sa.String(length=255), nullable=False),
    *_measure_columns(),
    sa.PrimaryKeyConstraint('day', 'street_path', name=op.f('pk_stats_day_cell')),
    )
    op.create_table('stats_category_cell',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('street_path', sa.String(length=255), nullable=False),
    sa.Column('category_id', _ID, nullable=False),
    *_measure_columns(),
    sa.PrimaryKeyConstraint(
        'day', 'street_path', 'category_id', name=op.f('pk_stats_category_cell')
    ),
    )
    op.create_table('stats_month_cell',
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('region_path', sa.String(length=255), nullable=False),
    sa.Column('worker_id', _ID, nullable=False),
    *_measure_columns(),
    sa.PrimaryKeyConstraint('month', 'region_path', 'worker_id', name=op.f('pk_stats_month_cell')),
    )

    bind = op.get_bind()
    _backfill_first_response_due(bind)
    if bind.dialect.name != "postgresql":
        return
    for table in _CELL_TABLES:
        # Packed durations are read whole and do not compress: skip pglz both ways.
        op.execute(f"ALTER TABLE {table} ALTER COLUMN resp_values SET STORAGE EXTERNAL")
        op.execute(f"ALTER TABLE {table} ALTER COLUMN res_values SET STORAGE EXTERNAL")
    for name, body in _TRIGGER_FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}\nRETURN NULL;\nEND $$"
        )
        op.execute(
            f"CREATE TRIGGER {name} {_TRIGGERS[name]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    # Existing cases enter the ledger once; the first fold builds their cells.
    op.execute(f"INSERT INTO stats_delta ({_DELTA_COLUMNS}) {_select_delta('r', 'report', 1)}")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in _TRIGGER_FUNCTIONS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON report")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    for table in _CELL_TABLES:
        op.drop_table(table)
    op.drop_table('stats_delta')
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_open_created_at')
        batch_op.drop_index('ix_report_created_at')
        batch_op.drop_column('first_response_due_at')
