"""Uploaded images (content-addressed, EXIF-free copies are what is stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, UTCDateTime, utcnow


class Media(Base):
    __tablename__ = "media"
    # The same caller uploading the same bytes gets the same media.
    __table_args__ = (UniqueConstraint("owner_id", "sha256"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False, index=True)
    # sha256 of the bytes as uploaded (dedupe key); files are stored by their own hash.
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    # Indexed for the orphan sweep (app/media/cleanup.py, migration 0015).
    storage_key: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    thumb_key: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
