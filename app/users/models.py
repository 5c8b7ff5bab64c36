"""Users (residents and staff in one table) and their role memberships."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.orm import Base, BigIntPK, TimestampMixin, UTCDateTime, utcnow

ROLES = (
    "grid_worker",
    "grid_worker_part",
    "grid_leader",
    "community_admin",
    "street_admin",
    "district_admin",
    "department_staff",
    "superadmin",
)


class User(TimestampMixin, Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # resident: came from WeChat; staff: created by an admin (may bind WeChat later).
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="resident")
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(64))
    nickname: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    home_grid_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    address: Mapped[str | None] = mapped_column(String(200))
    on_duty: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    # Bumped by logout and password change; every token carries the version it was issued at.
    token_version: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# "WangWu" and "wangwu" are one account: the service checks before it creates,
# and this index refuses the second of two creates that passed the check at
# once (migration 0020). Usernames are ASCII, so lower() is the same everywhere.
USERNAME_LOWER_INDEX = "uq_user_account_username_lower"
Index(USERNAME_LOWER_INDEX, func.lower(User.username), unique=True)


class Membership(Base):
    """``(user, region, role)``: the user holds ``role`` over the subtree of ``region``."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "region_id"),
        Index("ix_membership_region_id_role", "region_id", "role"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    # NULL only for superadmin, whose authority is not tied to a region.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
