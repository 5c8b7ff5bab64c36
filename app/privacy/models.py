"""The audit log: every staff read of a resident's personal data (PIPL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, UTCDateTime, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject_id_id", "subject_id", "id"),
        Index("ix_audit_log_actor_id_id", "actor_id", "id"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    # Whose data was read.
    subject_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    # What was read, e.g. ``report.reporter_contact``; and on what, e.g. ``report:42``.
    action: Mapped[str] = mapped_column(String(48), nullable=False)
    resource: Mapped[str] = mapped_column(String(64), nullable=False)
    # The region the read concerned, so admins see the entries of their own scope.
    region_path: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
