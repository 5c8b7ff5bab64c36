"""media: find a row by its stored file

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22

The worker's orphan sweep asks, for each batch of files on disk, which of
them a media row still names (as the image or as its thumbnail). Without an
index on either column each batch read the whole media table.
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.create_index('ix_media_storage_key', ['storage_key'], unique=False)
        batch_op.create_index('ix_media_thumb_key', ['thumb_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('media', schema=None) as batch_op:
        batch_op.drop_index('ix_media_thumb_key')
        batch_op.drop_index('ix_media_storage_key')
