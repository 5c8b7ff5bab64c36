from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, UTCDateTime, utcnow


class SubscribeConsent(Base):
    """One-time subscribe messages: each consent the user gives in
    ``wx.requestSubscribeMessage`` allows WeChat to deliver one message of
    that template. ``remaining`` counts the consents not yet used; a message
    takes one when it is written; a refusal (or WeChat's 43101) sets it to 0."""

    __tablename__ = "subscribe_consent"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    template_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
