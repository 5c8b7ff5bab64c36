"""Background work: run in-process by ``ejiaren serve`` on one machine, or alone
by ``ejiaren worker``. Each pass is idempotent, so a pass cut short by a crash
is simply done again by the next one."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("ejiaren.worker")

PASS_INTERVAL_SECONDS = 15.0


async def run_once(state: Any) -> None:
    """One pass over every background job."""
    from app.core.idempotency import purge_expired
    from app.reports.moderation import recheck_pending
    from app.reports.sweeps import run_sweeps

    await run_sweeps(state.db)
    await recheck_pending(state.db, state.wechat)
    await state.limiter.purge_expired()
    await purge_expired(state.db)


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
        wechat=WeChatClient.from_settings(settings),
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
