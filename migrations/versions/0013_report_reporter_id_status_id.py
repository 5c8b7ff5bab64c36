"""report: a resident's cases of one status, newest first

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22

``GET /reports/mine?status=…`` asks for one reporter's cases of one status
ordered by id. ``ix_report_reporter_id_id`` has no status, so with a million
reports PostgreSQL combined it with ``ix_report_status_created_at`` in a
BitmapAnd: it read every case of that status in the district (14,454 index
entries, 74 pages from disk, 2.3 ms) to keep the busiest resident's 7, and
sorted them. The cost grew with the district's cases, not the resident's.
SQLite walked all of the resident's cases and filtered. This index answers
the page directly on both, as ``ix_report_assignee_id_status_id`` does for
the worker inbox.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index(
            'ix_report_reporter_id_status_id', ['reporter_id', 'status', 'id'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_reporter_id_status_id')
