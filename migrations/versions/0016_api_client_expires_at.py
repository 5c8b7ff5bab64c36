"""api_client: a key may expire

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22

A key issued to a third party for a project or a contract period stops
working by itself at ``expires_at`` (null: it does not expire), instead of
relying on someone remembering to revoke it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', app.core.orm.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
