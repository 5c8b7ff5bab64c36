"""Which case events notify whom, the consents that allow it, and delivery.

Decisions (DESIGN §8, issue 6):

- resident (the reporter): ``report_dispatched`` when the case is dispatched
  (automatically or by an admin); ``report_resolved`` when it is resolved or
  a consultation answered — that one message also asks for the rating, since
  rating is possible from that moment and a second message would need a
  second consent; ``report_rejected`` when staff reject it (invalid, a
  duplicate, not ours), with the reason;
- staff: the owner of the case as the event leaves it — its assignee, or,
  while nobody is assigned, the people of the queue it waits in (the admins
  of the owning community, street or district; a department's staff; a
  queue with nobody active in it falls to the admins of the nearest level
  above, at the top to the superadmins):
  ``task_new`` when a case is dispatched to them (an SOS to the grid leaders
  at once too), transferred or reassigned to them, arrives in their queue
  (left there at submission, returned, escalated, routed to a department by
  its category) or comes back to them by a reopen; ``task_reminder`` on the
  response-deadline reminder and on a 督办 note; ``task_escalated`` to the
  previous owner when their case is escalated by someone else (the overdue
  sweep, an admin).
- Nobody is told about their own action, nor anyone who may not open the
  case (``access.staff_can_see``): the message opens it. Users without an
  openid (staff who never bound WeChat), deleted or disabled users get
  nothing; one transaction tells a person the same thing of a case once.
- A message is written only while the user has a consent left for its
  template, and takes one (in the same transaction as the event). 43101 from
  WeChat means there is none: the message is dead at once and the count is
  set to 0. Other failures are retried by the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import GRANT_COLUMNS, GRANT_JOINS, grant_of_row
from app.auth.principal import Grant, Principal
from app.core import clock
from app.core.errors import AppError, Invalid
from app.core.rawsql import Raw
from app.core.settings import Settings, SubscribeTemplate, get_settings
from app.notify.models import SubscribeConsent
from app.notify.values import fit
from app.outbox import (
    DeliveryContext,
    DeliveryResult,
    OutboxMessage,
    PermanentDelivery,
    RetryableDelivery,
    enqueue,
    register_handler,
)
from app.outbox.listeners import listen
from app.reports import access
from app.reports.models import Category, Report, ReportEvent
from app.users.models import User
from app.wechat.errors import WeChatNoConsent, WeChatRateLimited

log = logging.getLogger("ejiaren.notify")

KIND = "wechat.subscribe"
MAX_REMAINING = 100

STATUS_LABELS = {
    "submitted": "待派单",
    "dispatched": "已派单",
    "in_progress": "处理中",
    "escalated": "已上报",
    "resolved": "已办结",
    "closed": "已完结",
    "rejected": "已驳回",
    "cancelled": "已撤销",
}

_settings: Settings | None = None


def configure(settings: Settings) -> None:
    """Use these settings' templates (the API process and tests call this; the
    worker falls back to the environment's settings)."""
    global _settings
    _settings = settings


def _current_settings() -> Settings:
    return _settings or _default_settings()


@lru_cache
def _default_settings() -> Settings:
    return get_settings()


def templates(settings: Settings | None = None) -> dict[str, SubscribeTemplate]:
    return (settings or _current_settings()).wechat_subscribe_templates


# -- consents ----------------------------------------------------------------


async def record_consent(
    session: AsyncSession, *, user: User, template_id: str, accepted: bool, settings: Settings
) -> SubscribeConsent:
    known = {t.template_id for t in templates(settings).values()}
    if template_id not in known:
        raise Invalid(
            "notify.unknown_template",
            "该订阅消息模板未启用",
            details={"template_id": template_id},
        )
    consent = await session.scalar(
        select(SubscribeConsent)
        .where(SubscribeConsent.user_id == user.id, SubscribeConsent.template_id == template_id)
        .with_for_update()
    )
    if consent is None:
        consent = SubscribeConsent(user_id=user.id, template_id=template_id, remaining=0)
        session.add(consent)
    consent.remaining = min(consent.remaining + 1, MAX_REMAINING) if accepted else 0
    consent.updated_at = clock.now()
    await session.flush()
    return consent


async def list_consents(session: AsyncSession, user: User) -> list[SubscribeConsent]:
    return list(
        await session.scalars(
            select(SubscribeConsent)
            .where(SubscribeConsent.user_id == user.id)
            .order_by(SubscribeConsent.template_id)
        )
    )


async def _take_consent(session: AsyncSession, user_id: int, template_id: str) -> bool:
    taken = await (await Raw.of(session)).execute(
        "UPDATE subscribe_consent SET remaining = remaining - 1, updated_at = $1"
        " WHERE user_id = $2 AND template_id = $3 AND remaining > 0",
        clock.now(),
        user_id,
        template_id,
    )
    return taken == 1


# -- events → messages ---------------------------------------------------------


# The admins who dispatch from a queue at each level (DESIGN §4); a department's
# queue is its staff.
_QUEUE_ADMINS = {
    "community": "community_admin",
    "street": "street_admin",
    "district": "district_admin",
}


_ACTIVE_MEMBERS = (
    "SELECT DISTINCT m.user_id, m.role, m.region_id FROM membership m"
    " JOIN user_account u ON u.id = m.user_id"
    " WHERE u.disabled = false AND u.deleted_at IS NULL AND {where} ORDER BY m.user_id"
)


async def _queue_members(session: AsyncSession, report: Report) -> list[int]:
    """The people of the queue a case waits in: the staff of its department, or
    the admins of the community, street or district that owns it. A queue
    with nobody active in it (no admin appointed yet, every one disabled)
    falls to the admins of the nearest level above that has one, and at the
    top to the superadmins: a case waiting where nobody looks is a case lost."""
    raw = await Raw.of(session)
    if report.owner_level == "department":
        if report.owner_department_id is None:
            return []
        rows = await raw.fetch(
            _ACTIVE_MEMBERS.format(where="m.role = 'department_staff' AND m.department_id = $1"),
            report.owner_department_id,
        )
        if rows:
            return sorted({int(row["user_id"]) for row in rows})
        # Nobody in the department: the admins of the region it serves, and up.
        region_id = await raw.fetchval(
            "SELECT region_id FROM department WHERE id = $1", report.owner_department_id
        )
        include_own = True
    else:
        role = _QUEUE_ADMINS.get(report.owner_level)
        region_id = report.owner_region_id
        if role is None or region_id is None:
            return []
        rows = await raw.fetch(
            _ACTIVE_MEMBERS.format(where="m.role = $1 AND m.region_id = $2"), role, region_id
        )
        if rows:
            return sorted({int(row["user_id"]) for row in rows})
        include_own = False
    path = await raw.fetchval("SELECT path FROM region WHERE id = $1", region_id)
    ancestry = [int(part) for part in (path or "").split("/") if part.isdigit()]
    if not include_own:
        ancestry = ancestry[:-1]
    return await _nearest_admins(raw, list(reversed(ancestry)))


async def _nearest_admins(raw: Raw, region_ids: list[int]) -> list[int]:
    """The active admins of the first of ``region_ids`` (nearest first) that has
    any; the superadmins when none has."""
    if region_ids:
        marks = ", ".join(f"${i}" for i in range(1, len(region_ids) + 1))
        admins = ", ".join(f"'{role}'" for role in _QUEUE_ADMINS.values())
        rows = await raw.fetch(
            _ACTIVE_MEMBERS.format(where=f"m.role IN ({admins}) AND m.region_id IN ({marks})"),
            *region_ids,
        )
        by_region: dict[int, list[int]] = {}
        for row in rows:
            by_region.setdefault(int(row["region_id"]), []).append(int(row["user_id"]))
        for region_id in region_ids:
            if region_id in by_region:
                return sorted(set(by_region[region_id]))
    rows = await raw.fetch(_ACTIVE_MEMBERS.format(where="m.role = 'superadmin'"))
    return [int(row["user_id"]) for row in rows]


async def _owners(session: AsyncSession, report: Report) -> list[int | None]:
    """Who holds the case now, as the event left it: its assignee, else the
    people of the queue it waits in."""
    if report.assignee_id is not None:
        return [report.assignee_id]
    return list(await _queue_members(session, report))


async def _recipients(
    session: AsyncSession, report: Report, event: ReportEvent
) -> list[tuple[str, int | None]]:
    kind = event.type
    # SOS: the grid leaders named by dispatch are told at once, besides the owner
    # (a person, or the queue when nobody could be given the case).
    told = [int(u) for u in (event.data or {}).get("notify") or [] if u != report.assignee_id]
    if kind == "dispatched":
        return [
            ("report_dispatched", report.reporter_id),
            *[("task_new", uid) for uid in await _owners(session, report)],
            *[("task_new", uid) for uid in told],
        ]
    if kind == "queued":
        return [("task_new", uid) for uid in [*await _owners(session, report), *told]]
    if kind in ("transferred", "reassigned"):
        return [("task_new", report.assignee_id)]
    if kind in ("returned", "reopened"):
        # A case arriving in a queue, or back with the owner a reopen gives it to.
        return [("task_new", uid) for uid in await _owners(session, report)]
    if kind in ("resolved", "answered"):
        return [("report_resolved", report.reporter_id)]
    if kind == "rejected":
        # The reason is the message (a duplicate's names the case it joins).
        return [("report_rejected", report.reporter_id)]
    if kind in ("reminded", "supervised"):
        return [("task_reminder", uid) for uid in await _owners(session, report)]
    if kind == "escalated":
        return [
            ("task_escalated", report.last_assignee_id),
            *[("task_new", uid) for uid in await _owners(session, report)],
        ]
    return []


# Each recipient with what scope needs to know of them: their grants.
_REACHABLE = (
    f"SELECT u.id, u.openid, {GRANT_COLUMNS} FROM {GRANT_JOINS}"
    " WHERE u.id IN ({marks}) AND u.openid IS NOT NULL AND u.deleted_at IS NULL"
    " AND u.disabled = false ORDER BY u.id, m.id"
)


async def _reachable(session: AsyncSession, report: Report, ids: list[int]) -> dict[int, str]:
    """The openid of each of ``ids`` who can be told and may open the case: its
    reporter, or staff the case is visible to by the rule of every read
    (``access.staff_can_see``); a message opens the case, and one that opens
    on "not found" would tell its number and category to someone outside."""
    raw = await Raw.of(session)
    marks = ", ".join(f"${i}" for i in range(1, len(ids) + 1))
    openids: dict[int, str] = {}
    grants: dict[int, list[Grant]] = {}
    for row in await raw.fetch(_REACHABLE.format(marks=marks), *ids):
        openids[row["id"]] = row["openid"]
        held = grants.setdefault(row["id"], [])
        grant = grant_of_row(row)
        if grant is not None:
            held.append(grant)
    return {
        uid: openid
        for uid, openid in openids.items()
        if uid == report.reporter_id
        or access.staff_can_see(Principal(user=User(id=uid), grants=grants[uid]), report)
    }


class _Facts:
    """The values a template field may name, looked up only when asked for."""

    def __init__(self, session: AsyncSession, report: Report, event: ReportEvent) -> None:
        self.session, self.report, self.event = session, report, event

    async def get(self, source: str) -> Any:
        if source.startswith("="):
            return source[1:]
        getter = SOURCES.get(source)
        if getter is None:
            log.warning("unknown subscribe-message value source %r", source)
            return None
        return await getter(self)

    async def _name_of(self, user_id: int | None) -> str | None:
        if user_id is None:
            return None
        user = await self.session.get(User, user_id)
        return (user.name or user.nickname) if user else None


async def _number(f: _Facts) -> str:
    from app.reports.service import report_number

    return report_number(f.report)


async def _category(f: _Facts) -> str | None:
    category = await f.session.get(Category, f.report.category_id)
    return category.name if category else None


async def _grid(f: _Facts) -> str | None:
    from app.org.models import Region

    grid = await f.session.get(Region, f.report.grid_id) if f.report.grid_id else None
    return grid.name if grid else None


async def _due_at(f: _Facts) -> Any:
    from app.reports.overdue import due_at

    return due_at(f.report)


async def _const(value: Any) -> Any:
    return value


SOURCES: dict[str, Callable[[_Facts], Awaitable[Any]]] = {
    "number": _number,
    "category": _category,
    "status": lambda f: _const(STATUS_LABELS.get(f.report.status, f.report.status)),
    "description": lambda f: _const(f.report.description),
    "address": lambda f: _const(f.report.address),
    "note": lambda f: _const(f.event.note),
    "event_at": lambda f: _const(f.event.created_at or clock.now()),
    "created_at": lambda f: _const(f.report.created_at),
    "response_due_at": lambda f: _const(f.report.response_due_at),
    "resolve_due_at": lambda f: _const(f.report.resolve_due_at),
    # The deadline the handler works to now (a reopened or supervised case's
    # response deadline has long passed).
    "due_at": _due_at,
    "assignee_name": lambda f: f._name_of(f.report.assignee_id),
    "grid_name": _grid,
}


def _sent_in_transaction(session: AsyncSession) -> set[tuple[int, int, str]]:
    """The messages this session (one request, or one sweep: one transaction)
    has written, by case, person and type. One change may write two events
    that tell the same person the same thing (a reopen that sends the case to
    a department's queue, then dispatches it there): one message, one consent."""
    sent: set[tuple[int, int, str]] = session.info.setdefault("notify.sent", set())
    return sent


@listen
async def on_report_event(session: AsyncSession, report: Report, event: ReportEvent) -> None:
    plan = [
        (m, uid)
        for m, uid in await _recipients(session, report, event)
        if uid and uid != event.actor_id
    ]
    if not plan:
        return
    settings = _current_settings()
    wanted = [(m, templates(settings).get(m), uid) for m, uid in dict.fromkeys(plan)]
    wanted = [(m, t, uid) for m, t, uid in wanted if t is not None]
    if not wanted:
        return
    # Every new case tells its reporter and its handler: one statement for all
    # of them, through ``Raw`` (on the submit path).
    reachable = await _reachable(
        session, report, sorted({uid for _, _, uid in wanted if uid is not None})
    )
    facts = _Facts(session, report, event)
    sent = _sent_in_transaction(session)
    for message_type, template, user_id in wanted:
        assert template is not None and user_id is not None
        openid = reachable.get(user_id)
        if (report.id, user_id, message_type) in sent:
            continue
        if not openid or not await _take_consent(session, user_id, template.template_id):
            continue
        sent.add((report.id, user_id, message_type))
        data = {
            key: {"value": fit(key, await facts.get(source))}
            for key, source in template.fields.items()
        }
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template.template_id,
            "data": data,
            "miniprogram_state": settings.wechat_miniprogram_state,
            "lang": "zh_CN",
        }
        if template.page:
            body["page"] = template.page.format(report_id=report.id)
        await enqueue(
            session,
            kind=KIND,
            target=f"user:{user_id}",
            payload={
                "type": message_type,
                "user_id": user_id,
                "report_id": report.id,
                "event_id": event.id,
                "message": body,
            },
        )


# -- delivery ------------------------------------------------------------------


async def deliver(message: OutboxMessage, ctx: DeliveryContext) -> DeliveryResult:
    body = message.payload.get("message")
    if not isinstance(body, dict):
        raise PermanentDelivery("消息内容缺失")
    try:
        answer = await ctx.wechat.send_subscribe_message(body)
    except WeChatNoConsent:
        await _clear_consent(ctx, message.payload.get("user_id"), body.get("template_id"))
        raise PermanentDelivery("43101 用户未订阅该消息（不再重试）") from None
    except WeChatRateLimited:
        raise RetryableDelivery("45011 微信接口调用过于频繁", retry_after=60) from None
    except AppError as exc:
        errcode = exc.details.get("errcode")
        raise RetryableDelivery(f"{exc.code}{f' {errcode}' if errcode else ''}") from None
    return DeliveryResult({"msgid": answer.get("msgid")})


async def _clear_consent(ctx: DeliveryContext, user_id: Any, template_id: Any) -> None:
    if not isinstance(user_id, int) or not isinstance(template_id, str):
        return
    async with ctx.db.session(write=True) as session:
        await session.execute(
            update(SubscribeConsent)
            .where(SubscribeConsent.user_id == user_id, SubscribeConsent.template_id == template_id)
            .values(remaining=0, updated_at=clock.now())
        )
        await session.commit()


register_handler(KIND, deliver)
