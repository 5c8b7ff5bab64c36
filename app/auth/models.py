"""Refresh tokens already exchanged: each one may be used once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, UTCDateTime


class UsedRefreshToken(Base):
    __tablename__ = "used_refresh_token"

    jti: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False
    )
    used_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # Kept until the token would have expired anyway, then purged.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
