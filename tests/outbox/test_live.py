"""Delivery against committed data, each session on its own connection as in
production: what an open or rolled-back transaction enqueued is never sent,
and two deliverers running at once send every message exactly once.

On PostgreSQL the claim skips locked rows; on SQLite ``BEGIN IMMEDIATE``
serialises the claims. Rows are deleted at the start and the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import delete, func, select

from app.core import clock
from app.core.db import Database
from app.core.settings import Settings
from app.outbox import (
    DeliveryContext,
    DeliveryResult,
    OutboxMessage,
    deliver_due,
    enqueue,
    register_handler,
    unregister_handler,
)
from app.wechat.client import WeChatClient
from tests.outbox.conftest import KIND, Recorder

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


async def _wipe(db: Database) -> None:
    async with db.session(write=True) as s:
        await s.execute(delete(OutboxMessage))
        await s.commit()


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[DeliveryContext]:
    db = Database(settings)
    await _wipe(db)
    wechat = WeChatClient.from_settings(settings)
    try:
        async with httpx.AsyncClient() as http:
            yield DeliveryContext(settings=settings, http=http, db=db, wechat=wechat)
    finally:
        await _wipe(db)
        await wechat.aclose()
        await db.dispose()


async def test_nothing_is_sent_while_the_transaction_is_open(
    live: DeliveryContext, recorder: Recorder
) -> None:
    clock.set_now(T0)
    db = live.db
    # As a request does: a write session, one transaction, committed at the end.
    async with db.session(write=True) as request:
        message = await enqueue(request, kind=KIND, payload={"n": 1})
        await request.flush()
        assert await deliver_due(db, live) == 0
        assert recorder.delivered == []
        await request.commit()
    assert await deliver_due(db, live) == 1
    assert recorder.delivery_ids() == [message.delivery_id]


async def test_a_rolled_back_change_sends_nothing(
    live: DeliveryContext, recorder: Recorder
) -> None:
    clock.set_now(T0)
    db = live.db
    async with db.session(write=True) as request:
        await enqueue(request, kind=KIND, payload={"n": 1})
        await request.flush()
        await request.rollback()
    assert await deliver_due(db, live) == 0
    async with db.session(write=False) as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
    assert recorder.delivered == []


async def test_two_deliverers_at_once_send_each_message_exactly_once(
    live: DeliveryContext, settings: Settings
) -> None:
    clock.set_now(T0)
    total = 40
    async with live.db.session(write=True) as s:
        for n in range(total):
            await enqueue(s, kind="test.concurrent", payload={"n": n})
        await s.commit()

    seen: list[str] = []

    async def handler(message: OutboxMessage, _: DeliveryContext) -> DeliveryResult:
        seen.append(message.delivery_id)
        await asyncio.sleep(0)  # let the other deliverer run in between
        return DeliveryResult()

    register_handler("test.concurrent", handler)
    # A second process: its own engine and connections.
    other_db = Database(settings)
    other = DeliveryContext(settings=settings, http=live.http, db=other_db, wechat=live.wechat)
    try:
        counts = await asyncio.gather(
            deliver_due(live.db, live, limit=7),
            deliver_due(other_db, other, limit=7),
            deliver_due(live.db, live, limit=7),
            deliver_due(other_db, other, limit=7),
        )
        while sum(counts) < total:
            more = await asyncio.gather(
                deliver_due(live.db, live, limit=7), deliver_due(other_db, other, limit=7)
            )
            assert sum(more) > 0, "messages left that nobody could claim"
            counts = [*counts, *more]
    finally:
        unregister_handler("test.concurrent")
        await other_db.dispose()
    assert sum(counts) == total
    assert len(seen) == total and len(set(seen)) == total
    async with live.db.session(write=False) as s:
        statuses = list(await s.scalars(select(OutboxMessage.status)))
    assert statuses == ["sent"] * total
