"""Background work: run in-process by ``ejiaren serve`` on one machine, or alone
by ``ejiaren worker``. Each pass is idempotent, so a pass cut short by a crash
is simply done again by the next one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

log = logging.getLogger("ejiaren.worker")

PASS_INTERVAL_SECONDS = 15.0
MAX_OUTBOX_BATCHES = 20


async def run_once(state: Any) -> None:
    """One pass over every background job. Each job runs even when one before
    it failed; the first failure is raised at the end of the pass."""
    from app.core.idempotency import purge_expired
    from app.media.cleanup import sweep_orphans
    from app.ops.metrics import METRICS
    from app.reports.moderation import recheck_pending
    from app.reports.sweeps import run_sweeps
    from app.stats.rollup import fold

    jobs: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        ("sweeps", lambda: run_sweeps(state.db)),
        ("moderation_recheck", lambda: recheck_pending(state.db, state.wechat)),
        ("outbox", lambda: deliver_outbox(state)),
        # The figures' ledger into the roll-up cells (PostgreSQL; nothing on SQLite).
        ("stats_fold", lambda: fold(state.db)),
        ("purge_rate_limits", lambda: state.limiter.purge_expired()),
        ("purge_idempotency", lambda: purge_expired(state.db)),
        ("purge_refresh_tokens", lambda: _purge_refresh_tokens(state.db)),
        ("purge_webhook_secrets", lambda: _purge_webhook_secrets(state.db)),
        # Image files no media row references, past a grace period, a bounded slice a pass.
        ("media_orphans", lambda: sweep_orphans(state.db, state.settings.media_dir)),
    ]
    failure: BaseException | None = None
    for name, job in jobs:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            METRICS.job_runs.labels(name, "error").inc()
            log.exception("background job %s failed", name)
            failure = failure or exc
        else:
            METRICS.job_runs.labels(name, "ok").inc()
    if failure is not None:
        raise failure


async def _purge_refresh_tokens(db: Any) -> int:
    from app.auth.service import purge_used_refresh_tokens

    async with db.session(write=True) as session:
        purged = await purge_used_refresh_tokens(session)
        await session.commit()
    return purged


async def _purge_webhook_secrets(db: Any) -> int:
    """Webhook secrets replaced by a rotation whose overlap is over."""
    from app.integrations.webhooks import forget_expired_secrets

    async with db.session(write=True) as session:
        purged = await forget_expired_secrets(session)
        await session.commit()
    return purged


async def deliver_outbox(state: Any) -> int:
    """Deliver what is due in the outbox, in batches until nothing due is left
    (bounded, so one pass cannot run forever)."""
    from app.integrations.webhook_delivery import shared_client
    from app.outbox import DeliveryContext, deliver_due

    shared: httpx.AsyncClient | None = getattr(state, "outbox_http", None)
    http = shared or httpx.AsyncClient(timeout=state.settings.outbox_send_timeout_seconds)
    try:
        ctx = DeliveryContext(settings=state.settings, http=http, db=state.db, wechat=state.wechat)
        sent = 0
        # The webhook deliveries of the whole pass share one client and its connections.
        async with shared_client():
            for _ in range(MAX_OUTBOX_BATCHES):
                done = await deliver_due(state.db, ctx)
                sent += done
                if done < state.settings.outbox_batch_size:
                    break
        return sent
    finally:
        if shared is None:
            await http.aclose()


async def run_forever(state: Any, interval: float = PASS_INTERVAL_SECONDS) -> None:
    while True:
        try:
            await run_once(state)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background pass failed; retrying in %.0fs", interval)
        await asyncio.sleep(interval)


async def run_standalone(*, once: bool = False) -> None:
    """``ejiaren worker``: the same passes, without the API."""
    from types import SimpleNamespace

    # The API's modules register the outbox handlers and report-event listeners.
    import app.main  # noqa: F401
    from app.core.db import Database
    from app.core.logging import configure_logging
    from app.core.ratelimit import RateLimiter
    from app.core.settings import get_settings
    from app.wechat.client import WeChatClient

    settings = get_settings()
    configure_logging(settings.log_level)
    db = Database(settings)
    state = SimpleNamespace(
        settings=settings,
        db=db,
        limiter=RateLimiter(db, settings.redis_url),
        wechat=WeChatClient.from_settings(settings, db=db),
    )
    log.info("worker started")
    try:
        if once:
            await run_once(state)
        else:
            await run_forever(state)
    finally:
        await state.wechat.aclose()
        await state.limiter.close()
        await db.dispose()
