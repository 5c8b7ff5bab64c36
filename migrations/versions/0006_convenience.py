"""convenience services: catalogue, service points, slots and bookings

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-23
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.core.orm

revision: str = '0006'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade() -> None:
    op.create_table('service',
    sa.Column('id', _ID, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('materials', _JSON, nullable=False),
    sa.Column('where_text', sa.String(length=200), nullable=False),
    sa.Column('hours', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('bookable', sa.Boolean(), nullable=False),
    sa.Column('errand', sa.Boolean(), nullable=False),
    sa.Column('region_id', _ID, nullable=True),
    sa.Column('region_path', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', _ID, nullable=True),
    sa.Column('created_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_service_created_by_user_account')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_service_region_id_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service'))
    )
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.create_index('ix_service_active_id', ['active', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_service_category'), ['category'], unique=False)
        batch_op.create_index('ix_service_region_path', ['region_path'], unique=False, postgresql_ops={'region_path': 'text_pattern_ops'})

    op.create_table('service_point',
    sa.Column('id', _ID, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lng', sa.Float(), nullable=False),
    sa.Column('coord_in', sa.String(length=8), nullable=False),
    sa.Column('address', sa.String(length=200), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('opening_hours', _JSON, nullable=False),
    sa.Column('open_on_holidays', sa.Boolean(), nullable=False),
    sa.Column('region_id', _ID, nullable=True),
    sa.Column('region_path', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', _ID, nullable=True),
    sa.Column('created_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_service_point_created_by_user_account')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_service_point_region_id_region')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_point'))
    )
    with op.batch_alter_table('service_point', schema=None) as batch_op:
        batch_op.create_index('ix_service_point_lat_lng', ['lat', 'lng'], unique=False)
        batch_op.create_index('ix_service_point_region_path', ['region_path'], unique=False, postgresql_ops={'region_path': 'text_pattern_ops'})

    op.create_table('service_slot',
    sa.Column('id', _ID, nullable=False),
    sa.Column('service_id', _ID, nullable=False),
    sa.Column('point_id', _ID, nullable=False),
    sa.Column('start_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booked', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_by', _ID, nullable=True),
    sa.Column('created_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    # The database itself refuses an overbooked slot, whatever the code does.
    sa.CheckConstraint('booked >= 0 AND booked <= capacity', name=op.f('ck_service_slot_booked_within_capacity')),
    sa.CheckConstraint('capacity >= 1 AND capacity <= 1000', name=op.f('ck_service_slot_capacity_range')),
    sa.CheckConstraint('start_at < end_at', name=op.f('ck_service_slot_starts_before_end')),
    sa.ForeignKeyConstraint(['created_by'], ['user_account.id'], name=op.f('fk_service_slot_created_by_user_account')),
    sa.ForeignKeyConstraint(['point_id'], ['service_point.id'], name=op.f('fk_service_slot_point_id_service_point')),
    sa.ForeignKeyConstraint(['service_id'], ['service.id'], name=op.f('fk_service_slot_service_id_service')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_slot'))
    )
    with op.batch_alter_table('service_slot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_service_slot_point_id'), ['point_id'], unique=False)
        batch_op.create_index('ix_service_slot_service_id_start_at', ['service_id', 'start_at'], unique=False)

    op.create_table('booking',
    sa.Column('id', _ID, nullable=False),
    sa.Column('slot_id', _ID, nullable=False),
    sa.Column('user_id', _ID, nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', app.core.orm.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cancelled_at', app.core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_in_at', app.core.orm.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_in_by', _ID, nullable=True),
    sa.ForeignKeyConstraint(['checked_in_by'], ['user_account.id'], name=op.f('fk_booking_checked_in_by_user_account')),
    sa.ForeignKeyConstraint(['slot_id'], ['service_slot.id'], name=op.f('fk_booking_slot_id_service_slot')),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_booking_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_booking'))
    )
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.create_index('ix_booking_slot_id_status', ['slot_id', 'status'], unique=False)
        batch_op.create_index('ix_booking_user_id_id', ['user_id', 'id'], unique=False)
        # One active seat per resident and slot; cancelled bookings stay as history.
        batch_op.create_index('uq_booking_active_seat', ['slot_id', 'user_id'], unique=True, postgresql_where=sa.text("status <> 'cancelled'"), sqlite_where=sa.text("status <> 'cancelled'"))


def downgrade() -> None:
    with op.batch_alter_table('booking', schema=None) as batch_op:
        batch_op.drop_index('uq_booking_active_seat', postgresql_where=sa.text("status <> 'cancelled'"), sqlite_where=sa.text("status <> 'cancelled'"))
        batch_op.drop_index('ix_booking_user_id_id')
        batch_op.drop_index('ix_booking_slot_id_status')

    op.drop_table('booking')
    with op.batch_alter_table('service_slot', schema=None) as batch_op:
        batch_op.drop_index('ix_service_slot_service_id_start_at')
        batch_op.drop_index(batch_op.f('ix_service_slot_point_id'))

    op.drop_table('service_slot')
    with op.batch_alter_table('service_point', schema=None) as batch_op:
        batch_op.drop_index('ix_service_point_region_path', postgresql_ops={'region_path': 'text_pattern_ops'})
        batch_op.drop_index('ix_service_point_lat_lng')

    op.drop_table('service_point')
    with op.batch_alter_table('service', schema=None) as batch_op:
        batch_op.drop_index('ix_service_region_path', postgresql_ops={'region_path': 'text_pattern_ops'})
        batch_op.drop_index(batch_op.f('ix_service_category'))
        batch_op.drop_index('ix_service_active_id')

    op.drop_table('service')
