"""Regions (district → street → community → grid) and departments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, JSONDoc, TimestampMixin, UTCDateTime, utcnow

LEVELS = ("district", "street", "community", "grid")


class Region(TimestampMixin, Base):
    """A node of the region tree. ``path`` is the materialised ancestry
    (``/1/5/12/``) so "everything under this street" is one prefix query."""

    __tablename__ = "region"
    __table_args__ = (
        UniqueConstraint("parent_id", "name"),
        Index("ix_region_path", "path", postgresql_ops={"path": "text_pattern_ops"}),
        Index("ix_region_level", "level"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    level: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    code: Mapped[str | None] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    households: Mapped[int | None] = mapped_column(Integer)
    # GeoJSON geometry (Polygon or MultiPolygon, WGS-84); grids only.
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    boundary_sha: Mapped[str | None] = mapped_column(String(64))


class Department(Base):
    """A department (城管、住建、供电 …) that takes cases routed or escalated to it."""

    __tablename__ = "department"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), nullable=False, index=True)
    category_codes: Mapped[list[str]] = mapped_column(JSONDoc, default=list, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
