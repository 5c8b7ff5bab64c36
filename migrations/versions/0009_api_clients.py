"""third parties: API clients, webhooks and their delivery log, Open311 requests

Revision ID: 0009
Revises: 0007
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.orm

revision: str = '0009'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
_TS = app.core.orm.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('api_client',
    sa.Column('id', _ID, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('key_prefix', sa.String(length=16), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scopes', _JSON, nullable=False),
    sa.Column('region_id', _ID, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('created_by', _ID, nullable=True),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('last_used_at', _TS, nullable=True),
    sa.Column('revoked_at', _TS, nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_api_client_created_by_user_account')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_api_client_region_id_region')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_api_client_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_client')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_client_key_hash'))
    )
    with op.batch_alter_table('api_client', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_client_region_id'), ['region_id'], unique=False)

    op.create_table('webhook',
    sa.Column('id', _ID, nullable=False),
    sa.Column('client_id', _ID, nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('events', _JSON, nullable=False),
    sa.Column('secret', sa.String(length=128), nullable=False),
    sa.Column('created_at', _TS, nullable=False),
    sa.Column('deleted_at', _TS, nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_client.id'], name=op.f('fk_webhook_client_id_api_client'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook'))
    )
    with op.batch_alter_table('webhook', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_client_id'), ['client_id'], unique=False)

    op.create_table('webhook_delivery',
    sa.Column('id', _ID, nullable=False),
    sa.Column('webhook_id', _ID, nullable=False),
    sa.Column('delivery_id', sa.String(length=64), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('created_at', _TS, nullable=False),
    sa.ForeignKeyConstraint(['webhook_id'], ['webhook.id'], name=op.f('fk_webhook_delivery_webhook_id_webhook'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_delivery'))
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_delivery_webhook_id_id', ['webhook_id', 'id'], unique=False)

    op.create_table('open311_request',
    sa.Column('id', _ID, nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('report_id', _ID, nullable=False),
    sa.Column('client_id', _ID, nullable=False),
    sa.Column('media_url', sa.String(length=500), nullable=True),
    sa.Column('attributes', _JSON, nullable=False),
    sa.Column('created_at', _TS, nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['api_client.id'], name=op.f('fk_open311_request_client_id_api_client')),
    sa.ForeignKeyConstraint(['report_id'], ['report.id'], name=op.f('fk_open311_request_report_id_report'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_open311_request')),
    sa.UniqueConstraint('report_id', name=op.f('uq_open311_request_report_id')),
    sa.UniqueConstraint('token', name=op.f('uq_open311_request_token'))
    )
    with op.batch_alter_table('open311_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_open311_request_client_id'), ['client_id'], unique=False)


def downgrade() -> None:
    op.drop_table('open311_request')
    op.drop_table('webhook_delivery')
    op.drop_table('webhook')
    op.drop_table('api_client')
