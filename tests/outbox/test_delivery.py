"""Delivery on the rolled-back harness: outcomes, back-off on a frozen clock,
attempts, dead messages and the claim lease."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.outbox import DeliveryContext, deliver_due, enqueue
from app.outbox.models import OutboxMessage
from app.outbox.service import backoff
from tests.outbox.conftest import KIND, Recorder

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


async def _enqueue(session: AsyncSession, **payload: object) -> OutboxMessage:
    message = await enqueue(session, kind=KIND, payload=dict(payload), target="test")
    await session.flush()
    return message


async def _reload(session: AsyncSession, message: OutboxMessage) -> OutboxMessage:
    await session.refresh(message)
    return message


async def test_enqueue_only_adds_to_the_session(session: AsyncSession) -> None:
    clock.set_now(T0)
    message = await enqueue(session, kind=KIND, payload={"a": 1})
    assert message in session.new
    assert message.status == "pending" and message.attempts == 0
    assert message.next_attempt_at == T0
    assert len(message.delivery_id) == 36


async def test_due_message_is_sent_once(
    session: AsyncSession, ctx: DeliveryContext, recorder: Recorder
) -> None:
    clock.set_now(T0)
    message = await _enqueue(session, n=1)
    assert await deliver_due(ctx.db, ctx) == 1
    assert recorder.delivered == [(message.id, message.delivery_id, {"n": 1})]
    message = await _reload(session, message)
    assert message.status == "sent" and message.sent_at == T0 and message.attempts == 1
    assert message.result == {"ok": True}
    assert await deliver_due(ctx.db, ctx) == 0
    assert len(recorder.delivered) == 1


async def test_message_not_yet_due_waits(
    session: AsyncSession, ctx: DeliveryContext, recorder: Recorder
) -> None:
    clock.set_now(T0)
    message = await _enqueue(session)
    message.next_attempt_at = T0 + timedelta(minutes=1)
    await session.flush()
    assert await deliver_due(ctx.db, ctx) == 0
    clock.advance(timedelta(minutes=1))
    assert await deliver_due(ctx.db, ctx) == 1


async def test_retries_back_off_then_die_then_admin_retry_sends(
    session: AsyncSession, ctx: DeliveryContext, recorder: Recorder
) -> None:
    settings = ctx.settings
    clock.set_now(T0)
    message = await _enqueue(session)
    message.max_attempts = 3
    await session.flush()
    recorder.outcomes = ["retry", "retry", "retry"]

    assert await deliver_due(ctx.db, ctx) == 0
    message = await _reload(session, message)
    assert message.status == "pending" and message.attempts == 1
    assert message.last_error == "接收方暂时不可用"
    first_wait = message.next_attempt_at - T0
    base = timedelta(seconds=settings.outbox_backoff_base_seconds)
    assert base * (1 - settings.outbox_backoff_jitter) <= first_wait <= base

    # Not before its time, however often the worker passes.
    clock.set_now(message.next_attempt_at - timedelta(seconds=1))
    assert await deliver_due(ctx.db, ctx) == 0
    assert len(recorder.delivered) == 1

    clock.set_now(message.next_attempt_at)
    await deliver_due(ctx.db, ctx)
    message = await _reload(session, message)
    assert message.status == "pending" and message.attempts == 2
    second_wait = message.next_attempt_at - clock.now()
    assert base * 2 * (1 - settings.outbox_backoff_jitter) <= second_wait <= base * 2

    clock.set_now(message.next_attempt_at)
    await deliver_due(ctx.db, ctx)
    message = await _reload(session, message)
    assert message.status == "dead" and message.attempts == 3
    assert len(recorder.delivered) == 3

    clock.advance(timedelta(days=1))
    assert await deliver_due(ctx.db, ctx) == 0

    from app.outbox.service import retry

    await retry(session, message.id)
    assert await deliver_due(ctx.db, ctx) == 1
    message = await _reload(session, message)
    assert message.status == "sent" and message.attempts == 1
    assert len(set(recorder.delivery_ids())) == 1, "every attempt carries the same delivery id"


async def test_permanent_failure_is_dead_at_once(
    session: AsyncSession, ctx: DeliveryContext, recorder: Recorder
) -> None:
    clock.set_now(T0)
    message = await _enqueue(session)
    recorder.outcomes = ["dead"]
    assert await deliver_due(ctx.db, ctx) == 0
    message = await _reload(session, message)
    assert message.status == "dead" and message.attempts == 1
    assert message.last_error == "接收方拒收"


async def test_handler_bug_is_retried_and_the_pass_goes_on(
    session: AsyncSession, ctx: DeliveryContext, recorder: Recorder
) -> None:
    clock.set_now(T0)
    broken = await _enqueue(session, n=1)
    fine = await _enqueue(session, n=2)
    recorder.outcomes = ["boom"]
    assert await deliver_due(ctx.db, ctx) == 1
    assert (await _reload(session, broken)).status == "pending"
    assert "RuntimeError" in (broken.last_error or "")
    assert (await _reload(session, fine)).status == "sent"


async def test_unknown_kind_is_dead(session: AsyncSession, ctx: DeliveryContext) -> None:
    clock.set_now(T0)
    message = await enqueue(session, kind="test.nobody", payload={})
    await session.flush()
    await deliver_due(ctx.db, ctx)
    message = await _reload(session, message)
    assert message.status == "dead" and "no handler" in (message.last_error or "")


async def test_a_claim_whose_lease_ran_out_is_taken_again(
    session: AsyncSession, ctx: DeliveryContext, recorder: Recorder
) -> None:
    """A worker that died after claiming leaves the message ``sending``: it is
    not sent while the lease holds, then sent again with the same delivery id."""
    clock.set_now(T0)
    message = await _enqueue(session)
    message.status = "sending"
    message.attempts = 1
    message.locked_until = T0 + timedelta(seconds=ctx.settings.outbox_lease_seconds)
    await session.flush()
    assert await deliver_due(ctx.db, ctx) == 0
    clock.advance(timedelta(seconds=ctx.settings.outbox_lease_seconds + 1))
    assert await deliver_due(ctx.db, ctx) == 1
    message = await _reload(session, message)
    assert message.status == "sent" and message.attempts == 2
    assert recorder.delivery_ids() == [message.delivery_id]


async def test_retry_after_from_the_receiver_wins_over_back_off(
    session: AsyncSession, ctx: DeliveryContext
) -> None:
    from app.outbox import RetryableDelivery, register_handler, unregister_handler

    async def slow_down(message: OutboxMessage, _: DeliveryContext) -> None:
        raise RetryableDelivery("每分钟配额已用完", retry_after=60)

    register_handler("test.slow", slow_down)
    try:
        clock.set_now(T0)
        message = await enqueue(session, kind="test.slow", payload={})
        await session.flush()
        await deliver_due(ctx.db, ctx)
        message = await _reload(session, message)
        assert message.next_attempt_at == T0 + timedelta(seconds=60)
    finally:
        unregister_handler("test.slow")


def test_backoff_doubles_up_to_the_cap(ctx: DeliveryContext) -> None:
    settings = ctx.settings.model_copy(
        update={
            "outbox_backoff_base_seconds": 10.0,
            "outbox_backoff_max_seconds": 60.0,
            "outbox_backoff_jitter": 0.0,
        }
    )
    waits = [backoff(settings, n).total_seconds() for n in range(1, 7)]
    assert waits == [10, 20, 40, 60, 60, 60]
    jittered = ctx.settings.model_copy(update={"outbox_backoff_jitter": 0.5})
    rng = random.Random(7)
    for n in range(1, 5):
        wait = backoff(jittered, n, rng=rng).total_seconds()
        full = min(jittered.outbox_backoff_max_seconds, 30 * 2 ** (n - 1))
        assert full * 0.5 <= wait <= full
