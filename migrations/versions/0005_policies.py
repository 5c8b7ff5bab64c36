"""policies and their search index

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23

The search index is an ordinary table of postings (term, policy) written by
the service from jieba's segmentation, ranked with the same SQL on SQLite and
PostgreSQL, so neither database needs a Chinese-aware full-text extension.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.orm
from sqlalchemy.dialects import postgresql


revision: str = '0005'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('policy',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('issuer', sa.String(length=64), nullable=True),
    sa.Column('doc_number', sa.String(length=64), nullable=True),
    sa.Column('region_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('effective_from', sa.Date(), nullable=True),
    sa.Column('effective_to', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('published_at', app.core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('archived_at', app.core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('updated_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('title_folded', sa.String(length=200), nullable=False),
    sa.Column('title_len', sa.Integer(), nullable=False),
    sa.Column('body_len', sa.Integer(), nullable=False),
    sa.Column('title_terms', sa.Text(), nullable=False),
    sa.Column('body_terms', sa.Text(), nullable=False),
    sa.Column('index_version', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_policy_created_by_user_account')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_policy_region_id_region')),
    sa.ForeignKeyConstraint(['updated_by'], ['user_account.id'], name=op.f('fk_policy_updated_by_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy'))
    )
    with op.batch_alter_table('policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_region_id'), ['region_id'], unique=False)
        batch_op.create_index('ix_policy_status_category', ['status', 'category'], unique=False)
        batch_op.create_index('ix_policy_status_published_at', ['status', 'published_at', 'id'], unique=False)

    # WITHOUT ROWID on SQLite, and a key that includes the other columns on
    # PostgreSQL: either way the postings of one term are one contiguous range
    # of the key, read without visiting anything else.
    op.create_table('policy_tag',
    sa.Column('policy_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('tag', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['policy.id'], name=op.f('fk_policy_tag_policy_id_policy'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('policy_id', 'tag', name=op.f('pk_policy_tag')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('policy_tag', schema=None) as batch_op:
        batch_op.create_index('ix_policy_tag_tag', ['tag'], unique=False)

    op.create_table('policy_term',
    sa.Column('term', sa.String(length=32), nullable=False),
    sa.Column('policy_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('weight', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.ForeignKeyConstraint(['policy_id'], ['policy.id'], name=op.f('fk_policy_term_policy_id_policy'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('term', 'policy_id', name=op.f('pk_policy_term'), postgresql_include=['weight', 'region_id']),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('policy_term', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_policy_term_policy_id'), ['policy_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('policy_term', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_policy_term_policy_id'))
    op.drop_table('policy_term')
    with op.batch_alter_table('policy_tag', schema=None) as batch_op:
        batch_op.drop_index('ix_policy_tag_tag')
    op.drop_table('policy_tag')
    with op.batch_alter_table('policy', schema=None) as batch_op:
        batch_op.drop_index('ix_policy_status_published_at')
        batch_op.drop_index('ix_policy_status_category')
        batch_op.drop_index(batch_op.f('ix_policy_region_id'))
    op.drop_table('policy')
