"""audit log of staff reads of residents' personal data

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-22
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm

revision: str = '0010'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', _ID, nullable=False),
    sa.Column('at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor_id', _ID, nullable=False),
    sa.Column('subject_id', _ID, nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('resource', sa.String(length=64), nullable=False),
    sa.Column('region_path', sa.String(length=255), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user_account.id'], name=op.f('fk_audit_log_actor_id_user_account')),
    sa.ForeignKeyConstraint(['subject_id'], ['user_account.id'], name=op.f('fk_audit_log_subject_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    op.create_index('ix_audit_log_actor_id_id', 'audit_log', ['actor_id', 'id'], unique=False)
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_subject_id_id', 'audit_log', ['subject_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_subject_id_id', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_index('ix_audit_log_actor_id_id', table_name='audit_log')
    op.drop_table('audit_log')
