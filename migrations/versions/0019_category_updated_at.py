"""category: updated_at

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22

When a category last changed, set by the ORM on every change. Open311's
discovery ``changeset`` is the latest creation or change of any category: an
integrator that caches the service list knows when to read it again. Existing
rows take their creation time. Nullable (expand only): instances still running
the code before it create categories without it during a rolling upgrade.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', app.core.orm.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE category SET updated_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table('category', schema=None) as batch_op:
        batch_op.drop_column('updated_at')
