"""report: a worker's cases newest first

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

``GET /worker/tasks`` without a status filter asks for one assignee's cases
ordered by id. ``ix_report_assignee_id_status_id`` cannot give them in id
order across statuses, so with a million reports PostgreSQL walked the primary
key backwards and filtered (11,000 rows read for a page of 21; the busiest
worker's list took 40 ms, twice the same list filtered by status). This
index answers the page directly, on SQLite as well.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index('ix_report_assignee_id_id', ['assignee_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_assignee_id_id')
