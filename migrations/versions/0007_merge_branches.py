"""merge the report index, stats, policies and convenience branches

Revision ID: 0007
Revises: 0003, 0004, 0005, 0006
Create Date: 2026-11-22

Those revisions were written side by side from 0002 and touch different
tables; this joins them so the history has a single head again.
"""
from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = ("0003", "0004", "0005", "0006")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
