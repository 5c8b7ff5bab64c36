"""Personal information (PIPL): what we hold about a person, forgetting them,
and the audit log of staff reading a resident's personal data.

- Export gives every row that is about the caller, column by column, except
  secrets (the password hash, the token version).
- Deleting a resident anonymises the account and keeps their cases, so the
  published figures do not change: the name, phone, WeChat identity, address and
  home grid are cleared, all tokens are revoked, follows and consents go,
  the answers kept for their retried requests and the messages queued or
  sent to their WeChat account go,
  bookings not yet started are cancelled (the seats are freed) and photos never
  attached to a case are removed. The text of their cases stays: it is the
  record of what the government was asked to do; but phone and identity card
  numbers they wrote into it (descriptions, rating comments, their timeline
  notes such as reopen reasons) are masked, as they would name the person.
- Staff accounts are not self-deleted: an admin disables them (their actions
  are part of the cases' history).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from sqlalchemy import ColumnElement, Select, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from app.auth.dependencies import release_resident_writer
from app.auth.principal import Principal
from app.convenience import bookings
from app.convenience.models import Booking, ServiceSlot
from app.core import clock
from app.core.errors import Conflict
from app.core.masking import mask_numbers_in_text
from app.core.models import IdempotencyRecord
from app.core.net import client_ip
from app.core.orm import Base
from app.core.request_context import request_id_var
from app.core.settings import Settings
from app.media.models import Media
from app.media.service import media_read
from app.notify.models import SubscribeConsent
from app.outbox.models import OutboxMessage
from app.privacy.models import AuditEntry
from app.reports.models import ExtensionRequest, Report, ReportEvent, ReportFollow, ReportMedia
from app.users.models import Membership, User

log = logging.getLogger(__name__)

DELETED_NICKNAME = "已注销用户"
# Never exported: they are secrets, not information about the person.
_SECRET_COLUMNS = frozenset({"password_hash", "token_version"})


def _row(obj: DeclarativeBase) -> dict[str, Any]:
    return {
        c.key: getattr(obj, c.key)
        for c in obj.__mapper__.column_attrs
        if c.key not in _SECRET_COLUMNS
    }


async def _rows(session: AsyncSession, stmt: Select[Any]) -> list[dict[str, Any]]:
    return [_row(o) for o in await session.scalars(stmt)]


async def export(session: AsyncSession, *, user: User, settings: Settings) -> dict[str, Any]:
    """Everything held about ``user``, as JSON-ready sections."""
    uid = user.id
    own_reports = select(Report.id).where(Report.reporter_id == uid)
    media = list(
        await session.scalars(select(Media).where(Media.owner_id == uid).order_by(Media.id))
    )
    data: dict[str, Any] = {
        "exported_at": clock.now(),
        "profile": _row(user),
        "roles": await _rows(session, select(Membership).where(Membership.user_id == uid)),
        "reports": await _rows(
            session, select(Report).where(Report.reporter_id == uid).order_by(Report.id)
        ),
        # What the person did on any case, and every step of their own cases.
        "report_events": await _rows(
            session,
            select(ReportEvent)
            .where((ReportEvent.actor_id == uid) | ReportEvent.report_id.in_(own_reports))
            .order_by(ReportEvent.id),
        ),
        "follows": await _rows(session, select(ReportFollow).where(ReportFollow.user_id == uid)),
        "extension_requests": await _rows(
            session,
            select(ExtensionRequest)
            .where(ExtensionRequest.requested_by == uid)
            .order_by(ExtensionRequest.id),
        ),
        "media": [
            {**_row(m), "urls": media_read(m, settings).model_dump(mode="json")} for m in media
        ],
        "bookings": await _rows(
            session, select(Booking).where(Booking.user_id == uid).order_by(Booking.id)
        ),
        # Who among the staff read this person's data, and when (PIPL: the right to know).
        "access_log": await _rows(
            session, select(AuditEntry).where(AuditEntry.subject_id == uid).order_by(AuditEntry.id)
        ),
    }
    for name, rows in (await _extra_sections(session, uid)).items():
        data[name] = rows
    return jsonable_encoder(data)


async def _extra_sections(session: AsyncSession, uid: int) -> dict[str, list[dict[str, Any]]]:
    """Tables of other domains that hold rows about a person (subscription
    consents and the like), found through the metadata so a new one is not
    forgotten: every mapped table with a ``user_id`` column not exported above."""
    # Exported above, or bookkeeping that says nothing about the person.
    done = {"membership", "report_follow", "booking", "used_refresh_token"}
    out: dict[str, list[dict[str, Any]]] = {}
    for mapper in sorted(Base.registry.mappers, key=lambda m: m.class_.__name__):
        table = mapper.local_table
        name = getattr(table, "name", None)
        if name is None or name in done or "user_id" not in table.c:
            continue
        out[name] = await _rows(session, select(mapper.class_).where(table.c.user_id == uid))
    return out


class StaffCannotDelete(Conflict):
    code = "me.staff_account"
    message = "工作人员账号不能自行注销，请联系管理员停用"


class AlreadyDeleted(Conflict):
    code = "me.already_deleted"
    message = "账号已注销"


async def erase(session: AsyncSession, *, principal: Principal, settings: Settings) -> None:
    """Anonymise the caller (see the module docstring)."""
    user = principal.user
    if principal.is_staff or user.kind != "resident":
        raise StaffCannotDelete()
    # The account row is locked first and read again: a write of this resident
    # under way (it holds the row KEY SHARE, ``auth.dependencies``) finishes
    # before, and is erased below with the rest; one arriving now waits, and
    # finds the account deleted. Of two deletions at once, the second finds it so.
    release_resident_writer(session)
    await session.execute(
        select(User)
        .where(User.id == user.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if user.deleted_at is not None:
        raise AlreadyDeleted()
    now = clock.now()
    upcoming = await session.scalars(
        select(Booking.id)
        .join(ServiceSlot, ServiceSlot.id == Booking.slot_id)
        .where(Booking.user_id == user.id, Booking.status == "booked", ServiceSlot.start_at > now)
    )
    for booking_id in list(upcoming):
        await bookings.cancel(session, principal=principal, booking_id=booking_id)
    await session.execute(delete(ReportFollow).where(ReportFollow.user_id == user.id))
    await _delete_unattached_media(session, user.id)
    await session.execute(delete(SubscribeConsent).where(SubscribeConsent.user_id == user.id))
    # Copies of what they sent and were sent: the answers kept for their retried
    # requests (their cases, in full), and the messages to their WeChat account.
    await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.owner == f"user:{user.id}")
    )
    await session.execute(delete(OutboxMessage).where(OutboxMessage.target == f"user:{user.id}"))
    await _mask_written_numbers(session, user.id)
    user.name = None
    user.nickname = DELETED_NICKNAME
    user.phone = None
    user.openid = None
    user.unionid = None
    user.address = None
    user.home_grid_id = None
    user.disabled = True
    user.deleted_at = now
    user.token_version += 1
    await session.flush()
    log.info("user deleted (anonymised) user=%s", user.id)


def _masked(text: str | None) -> str | None:
    return mask_numbers_in_text(text) if text else text


async def _mask_written_numbers(session: AsyncSession, uid: int) -> None:
    """Mask the phone and identity card numbers in the texts the person wrote:
    their cases' descriptions and rating comments, and the notes of the
    timeline steps they took. Only rows whose text changes are written, and
    not through the case's version: a handler acting on the case meanwhile is
    not refused for it."""
    cases = await session.execute(
        # In id order, the order every other locker of several cases takes them.
        select(Report.id, Report.description, Report.rating_comment)
        .where(Report.reporter_id == uid)
        .order_by(Report.id)
    )
    for rid, text, comment in cases.all():
        if (_masked(text), _masked(comment)) != (text, comment):
            await session.execute(
                update(Report)
                .where(Report.id == rid)
                .values(description=_masked(text), rating_comment=_masked(comment))
                .execution_options(synchronize_session=False)
            )
    notes = await session.execute(
        select(ReportEvent.id, ReportEvent.note)
        .where(ReportEvent.actor_id == uid, ReportEvent.note.is_not(None))
        .order_by(ReportEvent.id)
    )
    for event_id, note in notes.all():
        if _masked(note) != note:
            await session.execute(
                update(ReportEvent)
                .where(ReportEvent.id == event_id)
                .values(note=_masked(note))
                .execution_options(synchronize_session=False)
            )


async def _delete_unattached_media(session: AsyncSession, uid: int) -> None:
    """Photos uploaded but never attached to a case are only the person's; the
    stored files are content-addressed and may be shared, so they are left to
    storage housekeeping and only the rows (the ownership) go."""
    attached = exists().where(ReportMedia.media_id == Media.id)
    await session.execute(delete(Media).where(Media.owner_id == uid, ~attached))


# ---------------------------------------------------------------- audit log


async def record(
    session: AsyncSession,
    request: Request,
    settings: Settings,
    *,
    actor: Principal,
    subject_id: int,
    action: str,
    resource: str,
    region_path: str | None,
) -> None:
    """Write one audit entry in the request's transaction: the read and its
    record commit together or not at all."""
    session.add(
        AuditEntry(
            at=clock.now(),
            actor_id=actor.id,
            subject_id=subject_id,
            action=action,
            resource=resource,
            region_path=region_path,
            ip=client_ip(request, settings.trusted_proxies),
            request_id=request_id_var.get(),
        )
    )


def audit_clause(principal: Principal) -> ColumnElement[bool]:
    """Entries an admin may read: those about their own region subtrees (an
    entry without a region only for a superadmin)."""
    return principal.region_clause(func.coalesce(AuditEntry.region_path, ""))


async def audit_page(
    session: AsyncSession,
    *,
    principal: Principal,
    actor_id: int | None,
    subject_id: int | None,
    action: str | None,
    lo: datetime | None,
    hi: datetime | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditEntry]:
    stmt = select(AuditEntry).where(audit_clause(principal))
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if subject_id is not None:
        stmt = stmt.where(AuditEntry.subject_id == subject_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if lo is not None:
        stmt = stmt.where(AuditEntry.at >= lo)
    if hi is not None:
        stmt = stmt.where(AuditEntry.at < hi)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(await session.scalars(stmt.order_by(AuditEntry.id.desc()).limit(limit + 1)))
