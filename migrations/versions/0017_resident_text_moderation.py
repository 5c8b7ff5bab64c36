"""report, report_event: keep the content-security verdict of the rating
comment and of residents' notes

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22

The rating comment and the reopen reason go through WeChat's content check
like the description, but only the description kept its verdict: a comment
held for review, or stored unchecked while WeChat was down, was then shown
to API keys as approved text. ``report.rating_moderation`` keeps the
comment's verdict (NULL: no comment, or one stored before this revision),
``report_event.moderation`` a note's (``pass`` for every existing note and
for staff notes). Two partial indexes hold only what still waits for the
background recheck, so its every pass reads a few index entries instead of
both tables.

A downgrade drops the verdicts with the columns: upgrading again marks every
note ``pass`` and every comment unchecked (NULL), so text still held at the
downgrade becomes readable to API keys. Clear or block held text (``POST
/admin/reports/{id}/review``) before downgrading past this revision. The
indexes are built without ``CONCURRENTLY``, like every index here: the
builds hold writes to the two tables for the length of one scan of each.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PENDING_TEXT = "moderation = 'pending' OR rating_moderation = 'pending'"
_PENDING_NOTE = "moderation = 'pending'"


def upgrade() -> None:
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rating_moderation', sa.String(length=16), nullable=True))
        batch_op.create_index(
            'ix_report_pending_text', ['id'], unique=False,
            postgresql_where=sa.text(_PENDING_TEXT), sqlite_where=sa.text(_PENDING_TEXT),
        )
    with op.batch_alter_table('report_event', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('moderation', sa.String(length=16), nullable=False, server_default='pass')
        )
        batch_op.create_index(
            'ix_report_event_pending_note', ['id'], unique=False,
            postgresql_where=sa.text(_PENDING_NOTE), sqlite_where=sa.text(_PENDING_NOTE),
        )


def downgrade() -> None:
    with op.batch_alter_table('report_event', schema=None) as batch_op:
        batch_op.drop_index('ix_report_event_pending_note')
        batch_op.drop_column('moderation')
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index('ix_report_pending_text')
        batch_op.drop_column('rating_moderation')
