"""Services (事项), service points (服务阵地), slots and bookings.

A service or point belongs to a region (``region_path`` copied from it, so a
scope check is one prefix match); an empty path means the whole deployment,
which only a superadmin manages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, JSONDoc, TimestampMixin, UTCDateTime, utcnow

BOOKING_STATUSES = ("booked", "checked_in", "cancelled")
# A seat is held by a booking in one of these states.
ACTIVE_BOOKING = ("booked", "checked_in")


class Service(TimestampMixin, Base):
    """One 便民服务事项 of the public catalogue (养老认证, 社保代缴 …)."""

    __tablename__ = "service"
    __table_args__ = (
        Index("ix_service_active_id", "active", "id"),
        Index(
            "ix_service_region_path",
            "region_path",
            postgresql_ops={"region_path": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    category: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    materials: Mapped[list[str]] = mapped_column(JSONDoc, nullable=False, default=list)
    # "where" is an SQL keyword, so the column has another name.
    where_text: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    hours: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    bookable: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    errand: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    region_path: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class ServicePoint(TimestampMixin, Base):
    """A place residents go to (党群服务中心, 便民服务站, 暖心驿站 …), stored in WGS-84.

    ``opening_hours`` is a list of ``{"weekday": 1..7, "open": "HH:MM", "close": "HH:MM"}``
    in Asia/Shanghai, sorted, without overlaps.
    """

    __tablename__ = "service_point"
    __table_args__ = (
        # The bounding-box prefilter of "nearby" is a range on both columns.
        Index("ix_service_point_lat_lng", "lat", "lng"),
        Index(
            "ix_service_point_region_path",
            "region_path",
            postgresql_ops={"region_path": "text_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    lat: Mapped[float] = mapped_column(Float, nullable=False)
    lng: Mapped[float] = mapped_column(Float, nullable=False)
    coord_in: Mapped[str] = mapped_column(String(8), nullable=False, default="wgs84")
    address: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    phone: Mapped[str | None] = mapped_column(String(32))
    opening_hours: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONDoc, nullable=False, default=list
    )
    open_on_holidays: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    region_path: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class ServiceSlot(Base):
    """A bookable time window of one service at one point.

    ``booked`` counts the seats held; it only moves through conditional UPDATEs
    (``booked < capacity`` to take a seat), and the CHECK is the last line of
    defence should any code path forget that.
    """

    __tablename__ = "service_slot"
    __table_args__ = (
        CheckConstraint("capacity >= 1 AND capacity <= 1000", name="capacity_range"),
        CheckConstraint("booked >= 0 AND booked <= capacity", name="booked_within_capacity"),
        CheckConstraint("start_at < end_at", name="starts_before_end"),
        Index("ix_service_slot_service_id_start_at", "service_id", "start_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("service.id"), nullable=False)
    point_id: Mapped[int] = mapped_column(
        ForeignKey("service_point.id"), nullable=False, index=True
    )
    start_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    end_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    booked: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class Booking(Base):
    """One resident's seat in a slot. Cancelled bookings stay as history; the
    partial unique index lets a resident hold at most one active seat per slot."""

    __tablename__ = "booking"
    __table_args__ = (
        Index(
            "uq_booking_active_seat",
            "slot_id",
            "user_id",
            unique=True,
            postgresql_where=text("status <> 'cancelled'"),
            sqlite_where=text("status <> 'cancelled'"),
        ),
        Index("ix_booking_user_id_id", "user_id", "id"),
        Index("ix_booking_slot_id_status", "slot_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("service_slot.id"), nullable=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="booked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
