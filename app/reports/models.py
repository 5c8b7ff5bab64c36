"""诉求 (reports) and what hangs off them: categories, events, photos, followers,
extension requests; and the holiday table that overrides the built-in calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, JSONDoc, UTCDateTime, utcnow

KINDS = ("issue", "consultation", "errand", "sos")
STATUSES = (
    "submitted",
    "dispatched",
    "in_progress",
    "escalated",
    "resolved",
    "closed",
    "rejected",
    "cancelled",
)
COMPLEXITIES = ("simple", "general", "complex", "difficult")
OPEN_PREDICATE = "status IN ('dispatched', 'escalated', 'in_progress', 'submitted')"
# Resident text stored while WeChat was down, for the background recheck: its
# queries (``moderation.recheck_pending``) state the same conditions with the
# constant written into the SQL, so both databases use the small partial
# indexes below (a few entries) instead of reading both tables every pass.
PENDING_TEXT_PREDICATE = "moderation = 'pending' OR rating_moderation = 'pending'"
PENDING_NOTE_PREDICATE = "moderation = 'pending'"


class Category(Base):
    """A kind of 诉求 with its SLA policy and routing rule."""

    __tablename__ = "category"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="issue")
    complexity: Mapped[str] = mapped_column(String(16), nullable=False, default="general")
    response_sla_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=60)
    # "natural" (hours on the clock) or "working" (working days, Chinese calendar).
    sla_calendar: Mapped[str] = mapped_column(String(16), nullable=False, default="natural")
    # Days to resolve by complexity, e.g. {"simple": 1, "general": 3, "complex": 7, "difficult": 15}.
    resolve_days: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False, default=dict)
    # "grid": to the grid worker; "department": straight to a department's queue.
    routing: Mapped[str] = mapped_column(String(16), nullable=False, default="grid")
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    public: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    sort_order: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    # Set on every change made through the ORM: Open311's discovery changeset.
    # Nullable, so code from before it (a rolling upgrade) still creates categories.
    updated_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow
    )

    @property
    def followable(self) -> bool:
        """Whether other residents may find its open cases nearby and follow
        them: public neighbourhood issues only. A consultation or an errand is
        one resident's own business (their family, their documents), whatever
        ``public`` says (which also offers the category to Open311)."""
        return self.public and self.kind == "issue"


class Holiday(Base):
    """An admin's override of the built-in calendar for one day."""

    __tablename__ = "holiday"

    day_date: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean, nullable=False)
    name: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class Report(Base):
    """One 诉求 / 工单. ``region_path`` is the path of its grid (or of the queue it
    waits in when it has no grid), so scope checks are one prefix match."""

    __tablename__ = "report"
    __table_args__ = (
        Index("ix_report_assignee_id_status_id", "assignee_id", "status", "id"),
        # The unfiltered worker inbox: one assignee's cases in id order.
        Index("ix_report_assignee_id_id", "assignee_id", "id"),
        Index("ix_report_reporter_id_id", "reporter_id", "id"),
        # The resident's list filtered by status (migration 0013).
        Index("ix_report_reporter_id_status_id", "reporter_id", "status", "id"),
        Index(
            "ix_report_region_path",
            "region_path",
            postgresql_ops={"region_path": "text_pattern_ops"},
        ),
        Index("ix_report_status_created_at", "status", "created_at"),
        Index("ix_report_created_at", "created_at"),
        # Open cases only, for the overdue count of the figures ("as of now").
        Index(
            "ix_report_open_created_at",
            "created_at",
            postgresql_where=text(OPEN_PREDICATE),
            sqlite_where=text(OPEN_PREDICATE),
            postgresql_include=[
                "status",
                "accepted_at",
                "response_due_at",
                "resolve_due_at",
                "region_path",
                "assignee_id",
                "resolver_id",
                "category_id",
                "owner_department_id",
            ],
        ),
        Index("ix_report_grid_id_created_at", "grid_id", "created_at"),
        Index("ix_report_owner_department_id_status", "owner_department_id", "status"),
        Index(
            "ix_report_pending_text",
            "id",
            postgresql_where=text(PENDING_TEXT_PREDICATE),
            sqlite_where=text(PENDING_TEXT_PREDICATE),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id"), nullable=False, index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    # Content security of the description: pass | review (held for a person) |
    # pending (WeChat was down) | blocked (found risky later, or kept hidden by
    # a person). Anything but pass is read only by the author and the staff.
    moderation: Mapped[str] = mapped_column(String(16), nullable=False, default="pass")
    lat: Mapped[float | None] = mapped_column(Float)  # WGS-84
    lng: Mapped[float | None] = mapped_column(Float)
    coord_in: Mapped[str | None] = mapped_column(String(8))  # what the client sent
    address: Mapped[str | None] = mapped_column(String(200))
    grid_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    region_path: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    # Who owns it now: a person, or a queue (region level / department).
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    owner_level: Mapped[str] = mapped_column(String(16), nullable=False, default="grid")
    owner_region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    owner_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    last_assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolver_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    complexity: Mapped[str] = mapped_column(String(16), nullable=False, default="general")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The first response deadline the case was given; the response rate is judged
    # against it, since reassignment and escalation overwrite ``response_due_at``.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolve_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    extension_hours: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolve_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    reopen_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rating_score: Mapped[str | None] = mapped_column(String(24))
    rating_comment: Mapped[str | None] = mapped_column(String(500))
    # Content security of ``rating_comment``, as ``moderation``; NULL without a
    # comment (and for comments stored before the verdict was kept): nothing held.
    rating_moderation: Mapped[str | None] = mapped_column(String(16))
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    helpful: Mapped[bool | None] = mapped_column(Boolean)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"), index=True)
    policy_id: Mapped[int | None] = mapped_column(BigIntPK)
    service_id: Mapped[int | None] = mapped_column(BigIntPK)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="miniapp")
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    __mapper_args__ = {"version_id_col": version}


class ReportEvent(Base):
    """Append-only timeline: every transition, note, photo, rating, reminder."""

    __tablename__ = "report_event"
    __table_args__ = (
        Index("ix_report_event_report_id_id", "report_id", "id"),
        Index(
            "ix_report_event_pending_note",
            "id",
            postgresql_where=text(PENDING_NOTE_PREDICATE),
            sqlite_where=text(PENDING_NOTE_PREDICATE),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("report.id", ondelete="CASCADE"), nullable=False
    )
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    # Content security of a note a resident wrote (rating comment, reopen
    # reason), as ``Report.moderation``; staff notes are not checked: pass.
    moderation: Mapped[str] = mapped_column(
        String(16), nullable=False, default="pass", server_default="pass"
    )
    # Machine-readable facts (dispatch rule, grid, assignee, deadlines, rating …).
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class ReportMedia(Base):
    """A photo on a report: from the submission (event_id NULL) or from an event."""

    __tablename__ = "report_media"
    __table_args__ = (UniqueConstraint("report_id", "media_id", "event_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("report.id", ondelete="CASCADE"), nullable=False, index=True
    )
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id"), nullable=False, index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("report_event.id"))
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ReportFollow(Base):
    __tablename__ = "report_follow"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("report.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class ExtensionRequest(Base):
    """延期: extra natural hours on the resolution deadline, approved one level up."""

    __tablename__ = "extension_request"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    report_id: Mapped[int] = mapped_column(
        ForeignKey("report.id", ondelete="CASCADE"), nullable=False, index=True
    )
    requested_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"), nullable=False)
    hours: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
