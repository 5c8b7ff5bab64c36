"""Content security for what residents write (DESIGN §8): WeChat's
``msg_sec_check`` runs before the request's transaction opens. It covers the
description, the rating comment and the reopen reason (a timeline note), and
each keeps its verdict (``Report.moderation``, ``Report.rating_moderation``,
``ReportEvent.moderation``):

- ``risky``: refused, nothing stored.
- ``review``: stored, hidden from everyone but the author and staff until a
  person clears it (``POST /admin/reports/{id}/review``).
- WeChat slow or down: stored as ``pending`` and checked again by the
  background loop — a case is never lost because WeChat is unavailable.
  Found risky then, it becomes ``blocked``: kept for the author and the
  staff, hidden from everyone else like held text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, literal_column, or_, select, update

from app.auth.principal import Principal
from app.core.db import Database
from app.core.errors import AppError, Invalid
from app.reports.models import Report, ReportEvent
from app.users.models import User
from app.wechat.client import WeChatClient

log = logging.getLogger("ejiaren.moderation")
RECHECK_BATCH = 50
# Text content security has not (yet) let through: read only by its author and the staff.
HELD = ("review", "pending")
# Written into the SQL, not sent as a parameter: the recheck's conditions are
# then those of the partial indexes ``ix_report_pending_text`` and
# ``ix_report_event_pending_note`` (``models.PENDING_*_PREDICATE``), which
# both databases use only for the same constant.
_PENDING: ColumnElement[str] = literal_column("'pending'")


def shown(state: str | None) -> bool:
    """Whether text with this verdict may be read by others than its author
    and the staff. NULL: a rating comment stored before verdicts were kept."""
    return state is None or state == "pass"


async def check_text(wechat: WeChatClient, principal: Principal, text: str | None) -> str:
    """The moderation state to store with ``text``; raises 422 ``content.risky``."""
    if not text or not text.strip() or principal.is_staff or not principal.user.openid:
        return "pass"
    try:
        verdict = await wechat.msg_sec_check(openid=principal.user.openid, content=text)
    except AppError as exc:  # timeout, busy, rate-limited, unavailable …
        log.warning("content check deferred: %s", exc.code)
        return "pending"
    if verdict == "risky":
        raise Invalid("content.risky", "内容含有不当信息，请修改后再提交")
    return verdict


@dataclass(frozen=True)
class _Pending:
    """One text waiting for its check: ``what`` is description, rating or note."""

    what: str
    id: int
    text: str | None
    openid: str | None


async def recheck_pending(db: Database, wechat: Any) -> int:
    """Check the texts stored while WeChat was unavailable: descriptions,
    rating comments and residents' notes. The network calls run between two
    short transactions, never inside one. Returns how many were decided."""
    async with db.session(write=False) as session:
        cases = (
            await session.execute(
                select(
                    Report.id,
                    Report.moderation,
                    Report.description,
                    Report.rating_moderation,
                    Report.rating_comment,
                    User.openid,
                )
                .join(User, User.id == Report.reporter_id)
                .where(or_(Report.moderation == _PENDING, Report.rating_moderation == _PENDING))
                .order_by(Report.id)
                .limit(RECHECK_BATCH)
            )
        ).all()
        notes = (
            await session.execute(
                select(ReportEvent.id, ReportEvent.note, User.openid)
                .outerjoin(User, User.id == ReportEvent.actor_id)
                .where(ReportEvent.moderation == _PENDING)
                .order_by(ReportEvent.id)
                .limit(RECHECK_BATCH)
            )
        ).all()
    queue: list[_Pending] = []
    for row in cases:
        if row.moderation == "pending":
            queue.append(_Pending("description", row.id, row.description, row.openid))
        if row.rating_moderation == "pending":
            queue.append(_Pending("rating", row.id, row.rating_comment, row.openid))
    queue += [_Pending("note", row.id, row.note, row.openid) for row in notes]

    verdicts: dict[_Pending, str] = {}
    known: dict[tuple[str, str], str] = {}  # a rating comment is also its event's note
    for item in queue:
        if not item.openid or not item.text:
            verdicts[item] = "pass"
            continue
        key = (item.openid, item.text)
        if key not in known:
            try:
                suggest = await wechat.msg_sec_check(openid=item.openid, content=item.text)
            except AppError as exc:
                log.info("content recheck still deferred: %s", exc.code)
                break  # WeChat still down: try the rest next pass
            known[key] = "blocked" if suggest == "risky" else suggest
        verdicts[item] = known[key]
    if not verdicts:
        return 0
    async with db.session(write=True) as session:
        for item, state in verdicts.items():
            # Each only while still pending: a person may have decided meanwhile,
            # and a case rated again has a new comment with its own check.
            if item.what == "description":
                stmt: Any = update(Report).where(
                    Report.id == item.id, Report.moderation == "pending"
                )
                stmt = stmt.values(moderation=state)
            elif item.what == "rating":
                stmt = update(Report).where(
                    Report.id == item.id,
                    Report.rating_moderation == "pending",
                    Report.rating_comment == item.text,
                )
                stmt = stmt.values(rating_moderation=state)
            else:
                stmt = update(ReportEvent).where(
                    ReportEvent.id == item.id, ReportEvent.moderation == "pending"
                )
                stmt = stmt.values(moderation=state)
            await session.execute(stmt)
        await session.commit()
    return len(verdicts)
