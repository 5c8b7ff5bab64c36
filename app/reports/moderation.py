"""Content security for what residents write (DESIGN §8): WeChat's
``msg_sec_check`` runs before the request's transaction opens.

- ``risky``: refused, nothing stored.
- ``review``: stored, hidden from everyone but the author and staff until a
  person clears it (``POST /admin/reports/{id}/review``).
- WeChat slow or down: stored as ``pending`` and checked again by the
  background loop — a case is never lost because WeChat is unavailable.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select, update

from app.auth.principal import Principal
from app.core.db import Database
from app.core.errors import AppError, Invalid
from app.reports.models import Report
from app.users.models import User
from app.wechat.client import WeChatClient

log = logging.getLogger("ejiaren.moderation")
RECHECK_BATCH = 50


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


async def recheck_pending(db: Database, wechat: Any) -> int:
    """Check the text of cases stored while WeChat was unavailable. The network
    calls run between two short transactions, never inside one."""
    async with db.session(write=False) as session:
        rows = (
            await session.execute(
                select(Report.id, Report.description, User.openid)
                .join(User, User.id == Report.reporter_id)
                .where(Report.moderation == "pending")
                .order_by(Report.id)
                .limit(RECHECK_BATCH)
            )
        ).all()
    verdicts: dict[int, str] = {}
    for report_id, text, openid in rows:
        if not openid or not text:
            verdicts[report_id] = "pass"
            continue
        try:
            suggest = await wechat.msg_sec_check(openid=openid, content=text)
        except AppError as exc:
            log.info("content recheck still deferred: %s", exc.code)
            break  # WeChat still down: try the rest next pass
        verdicts[report_id] = "blocked" if suggest == "risky" else suggest
    if not verdicts:
        return 0
    async with db.session(write=True) as session:
        for report_id, state in verdicts.items():
            await session.execute(
                update(Report)
                .where(Report.id == report_id, Report.moderation == "pending")
                .values(moderation=state)
            )
        await session.commit()
    return len(verdicts)
