"""The outbox table: one row per message a change causes, written in the same
transaction as the change and delivered later by the worker."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow

STATUSES = ("pending", "sending", "sent", "dead")


class OutboxMessage(Base):
    """``pending`` → ``sending`` (claimed under a lease) → ``sent``; back to
    ``pending`` with a later ``next_attempt_at`` after a retryable failure;
    ``dead`` after a permanent failure or the last attempt. An admin may put a
    dead message back to ``pending``."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_message_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    # Sent with every attempt, so a receiver can drop repeats.
    delivery_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    target: Mapped[str | None] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # NULL: the ``outbox_max_attempts`` setting at delivery time.
    max_attempts: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    # What the receiver answered on success (e.g. WeChat's msgid), for the admin list.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc)
    # While ``sending``: the claim lease; a claim whose lease ran out (crashed
    # worker) may be taken again.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
