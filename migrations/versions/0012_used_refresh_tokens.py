"""refresh tokens are single-use: remember the ones exchanged

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('used_refresh_token',
    sa.Column('jti', sa.String(length=32), nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('used_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_used_refresh_token_user_id_user_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_used_refresh_token'))
    )
    op.create_index(op.f('ix_used_refresh_token_expires_at'), 'used_refresh_token', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_used_refresh_token_expires_at'), table_name='used_refresh_token')
    op.drop_table('used_refresh_token')
