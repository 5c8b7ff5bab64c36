"""merge the outbox, API client and audit branches; index report.duplicate_of_id

The three branches of 0007 (0008 outbox, 0009 API clients, 0010 audit log)
become one head again. Deleting or merging a case looks up the cases marked
duplicates of it; without an index that is a scan of every case.

Revision ID: 0011
Revises: 0008, 0009, 0010
Create Date: 2026-11-22
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0011'
down_revision: tuple[str, ...] | None = ('0008', '0009', '0010')
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('report') as batch:
        batch.create_index('ix_report_duplicate_of_id', ['duplicate_of_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('report') as batch:
        batch.drop_index('ix_report_duplicate_of_id')
