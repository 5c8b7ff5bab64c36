"""webhook: the replaced signing secret, kept while a rotation overlaps

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22

Rotating a webhook's secret keeps the old one signing for a while (both
signatures in ``X-Ejiaren-Signature``), so a receiver can switch without
missing deliveries. Both columns are null outside an overlap.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TS = app.core.orm.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("previous_secret_expires_at", _TS, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook", schema=None) as batch_op:
        batch_op.drop_column("previous_secret_expires_at")
        batch_op.drop_column("previous_secret")
