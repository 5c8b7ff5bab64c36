"""Writing messages to the outbox and delivering them.

Delivery, one pass (``deliver_due``):

1. claim: in a short transaction, pick due messages (``pending`` whose
   ``next_attempt_at`` has come, or ``sending`` whose lease ran out because
   the worker that claimed them died), mark them ``sending`` with a lease and
   one more attempt, commit. PostgreSQL skips rows another worker is claiming
   (``FOR UPDATE SKIP LOCKED``); SQLite serialises claims with ``BEGIN
   IMMEDIATE``. Either way no two workers hold one message at once.
2. send each claimed message with its handler, outside any transaction.
3. record the outcome in its own short transaction, only if the claim is
   still ours (same attempt, same lease): ``sent``; ``pending`` again with
   exponential back-off; or ``dead`` after a permanent failure or the last
   attempt.

A worker that dies between 2 and 3 leaves the message ``sending``; it is sent
again after the lease, with the same ``delivery_id`` so the receiver can drop
the repeat. That is the only way one message reaches a receiver twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import Database
from app.core.pagination import split_page
from app.core.settings import Settings
from app.outbox.errors import (
    OutboxMessageNotFound,
    OutboxNotDead,
    PermanentDelivery,
    RetryableDelivery,
)
from app.outbox.models import OutboxMessage
from app.outbox.registry import DeliveryContext, DeliveryResult, handler_for

log = logging.getLogger("ejiaren.outbox")

_ERROR_MAX = 1000


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    payload: dict[str, Any],
    target: str | None = None,
    max_attempts: int | None = None,
) -> OutboxMessage:
    """Add a message to the caller's transaction: it exists, and is sent, only
    if that transaction commits. Nothing is flushed or sent here."""
    now = clock.now()
    message = OutboxMessage(
        kind=kind,
        delivery_id=str(uuid.uuid4()),
        target=target,
        payload=payload,
        status="pending",
        attempts=0,
        max_attempts=max_attempts,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(message)
    return message


def backoff(settings: Settings, attempts: int, *, rng: random.Random | None = None) -> timedelta:
    """Wait before attempt ``attempts + 1``: base × 2^(attempts−1), capped, then
    shortened by up to ``outbox_backoff_jitter`` of itself so that messages
    failing together do not all come back at the same second."""
    base = settings.outbox_backoff_base_seconds
    delay = min(settings.outbox_backoff_max_seconds, base * 2 ** max(attempts - 1, 0))
    jitter = (rng or random).random() * settings.outbox_backoff_jitter
    return timedelta(seconds=delay * (1 - jitter))


def _due(now: datetime) -> Any:
    return or_(
        and_(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.locked_until < now),
    )


async def _anything_due(db: Database, now: datetime) -> bool:
    # A plain read first: an idle pass never takes SQLite's write lock, and an
    # uncommitted message is not seen (nor waited for).
    async with db.session(write=False) as session:
        found = await session.scalar(select(OutboxMessage.id).where(_due(now)).limit(1))
        await session.rollback()
    return found is not None


async def _claim(db: Database, settings: Settings, limit: int) -> list[OutboxMessage]:
    now = clock.now()
    if not await _anything_due(db, now):
        return []
    lease_until = now + timedelta(seconds=settings.outbox_lease_seconds)
    async with db.session(write=True) as session:
        rows = list(
            await session.scalars(
                select(OutboxMessage)
                .where(_due(now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for message in rows:
            message.status = "sending"
            message.attempts += 1
            message.locked_until = lease_until
        await session.commit()
    return rows


async def _send(message: OutboxMessage, ctx: DeliveryContext) -> DeliveryResult | None:
    handler = handler_for(message.kind)
    if handler is None:
        raise PermanentDelivery(f"no handler for kind {message.kind!r}")
    try:
        async with asyncio.timeout(ctx.settings.outbox_send_timeout_seconds):
            return await handler(message, ctx)
    except TimeoutError:
        raise RetryableDelivery("delivery timed out") from None


async def _record(
    db: Database,
    settings: Settings,
    message: OutboxMessage,
    *,
    result: DeliveryResult | None = None,
    error: Exception | None = None,
) -> str:
    """Write the outcome if the claim is still ours; the status written (or ``lost``)."""
    now = clock.now()
    values: dict[str, Any]
    if error is None:
        values = {
            "status": "sent",
            "sent_at": now,
            "locked_until": None,
            "last_error": None,
            "result": result.data if result is not None else None,
        }
    else:
        text = (getattr(error, "message", None) or str(error) or type(error).__name__)[:_ERROR_MAX]
        limit = message.max_attempts or settings.outbox_max_attempts
        if isinstance(error, PermanentDelivery) or message.attempts >= limit:
            values = {"status": "dead", "locked_until": None, "last_error": text}
        else:
            retry_after = getattr(error, "retry_after", None)
            wait = (
                timedelta(seconds=retry_after)
                if retry_after is not None
                else backoff(settings, message.attempts)
            )
            values = {
                "status": "pending",
                "next_attempt_at": now + wait,
                "locked_until": None,
                "last_error": text,
            }
    async with db.session(write=True) as session:
        done = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message.id,
                OutboxMessage.status == "sending",
                OutboxMessage.attempts == message.attempts,
                OutboxMessage.locked_until == message.locked_until,
            )
            .values(**values)
        )
        await session.commit()
    if getattr(done, "rowcount", 0) != 1:
        # The lease ran out while sending and another worker took the message over.
        log.warning("outbox message %s: claim lost before its outcome was written", message.id)
        return "lost"
    return str(values["status"])


async def deliver_due(db: Database, ctx: DeliveryContext, *, limit: int | None = None) -> int:
    """One delivery pass: claim up to ``limit`` due messages, send them, record
    the outcomes. Returns how many were sent successfully."""
    settings = ctx.settings
    claimed = await _claim(db, settings, limit or settings.outbox_batch_size)
    sent = 0
    for message in claimed:
        result: DeliveryResult | None = None
        error: Exception | None = None
        try:
            result = await _send(message, ctx)
        except (RetryableDelivery, PermanentDelivery) as exc:
            error = exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a handler bug must not stop the pass
            log.exception("outbox handler for %s failed", message.kind)
            error = RetryableDelivery(f"{type(exc).__name__}: {exc}")
        status = await _record(db, settings, message, result=result, error=error)
        if status == "sent":
            sent += 1
        elif status != "lost":
            log.info(
                "outbox message %s (%s) attempt %s: %s (%s)",
                message.id,
                message.kind,
                message.attempts,
                status,
                error,
            )
    return sent


# -- admin -----------------------------------------------------------------


async def list_messages(
    session: AsyncSession,
    *,
    status: str | None,
    kind: str | None = None,
    after_id: int | None = None,
    limit: int = 20,
) -> tuple[Sequence[OutboxMessage], bool]:
    stmt = select(OutboxMessage)
    if status is not None:
        stmt = stmt.where(OutboxMessage.status == status)
    if kind is not None:
        stmt = stmt.where(OutboxMessage.kind == kind)
    if after_id is not None:
        stmt = stmt.where(OutboxMessage.id < after_id)
    rows = list(await session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(limit + 1)))
    return split_page(rows, limit)


async def retry(session: AsyncSession, message_id: int) -> OutboxMessage:
    """A dead message goes back to ``pending`` with its attempts reset (and its
    ``delivery_id`` kept: it is the same message)."""
    message = await session.scalar(
        select(OutboxMessage).where(OutboxMessage.id == message_id).with_for_update()
    )
    if message is None:
        raise OutboxMessageNotFound()
    if message.status != "dead":
        raise OutboxNotDead(details={"status": message.status})
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = clock.now()
    message.locked_until = None
    await session.flush()
    return message
