"""report_follow: drop follows of cases that are not neighbourhood issues

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22

Only a neighbourhood issue may be found nearby and followed by other
residents (``Category.followable``); a consultation or an errand names the
resident's family, address and documents. Until this revision a public
errand or consultation category could be followed by anyone who knew (or
counted up to) a case's id, and the follower read its description. The
code refuses such follows now and opens nothing through those left; this
revision removes them. A downgrade cannot bring them back (nor should it).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "DELETE FROM report_follow WHERE report_id IN"
        " (SELECT id FROM report WHERE kind <> 'issue')"
    )


def downgrade() -> None:
    pass
