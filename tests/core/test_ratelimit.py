from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from app.core import clock
from app.core.errors import RateLimited
from app.core.ratelimit import Rate, RateLimiter


@pytest.mark.parametrize(
    ("text", "limit", "window"),
    [
        ("20/minute", 20, 60),
        ("5/10 seconds", 5, 10),
        ("1000/day", 1000, 86400),
        ("3 / hour", 3, 3600),
    ],
)
def test_parse(text: str, limit: int, window: int) -> None:
    assert Rate.parse(text) == Rate(limit, window)


@pytest.mark.parametrize("text", ["", "20", "x/minute", "20/fortnight"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        Rate.parse(text)


async def _exercise(limiter: RateLimiter) -> None:
    key = f"test:{uuid.uuid4().hex}"
    rate = Rate(limit=3, window_seconds=60)
    with clock.frozen(datetime(2026, 11, 22, 8, 0, 10, tzinfo=UTC)):
        for _ in range(3):
            await limiter.hit(key, rate)
        with pytest.raises(RateLimited) as info:
            await limiter.hit(key, rate)
        assert info.value.status_code == 429
        # 50 seconds remain in the minute window that started at 08:00:00.
        assert info.value.headers == {"Retry-After": "50"}
        # Another key has its own budget.
        await limiter.hit(key + ":other", rate)
        clock.advance(timedelta(seconds=60))
        await limiter.hit(key, rate)  # a new window


async def test_database_backend(app: FastAPI) -> None:
    await _exercise(app.state.limiter)


async def test_database_backend_purges_expired(app: FastAPI) -> None:
    limiter: RateLimiter = app.state.limiter
    with clock.frozen(datetime(2026, 11, 22, 8, 0, 0, tzinfo=UTC)):
        await limiter.hit(f"test:{uuid.uuid4().hex}", Rate(5, 60))
        clock.advance(timedelta(minutes=5))
        assert await limiter.purge_expired() >= 1


async def test_redis_backend(app: FastAPI) -> None:
    import redis.asyncio as redis

    probe = redis.from_url("redis://127.0.0.1:6379/15")
    try:
        await probe.ping()
    except (OSError, redis.RedisError):
        pytest.skip("Redis 不可用")
    finally:
        await probe.aclose()
    limiter = RateLimiter(app.state.db, "redis://127.0.0.1:6379/15")
    try:
        await _exercise(limiter)
    finally:
        await limiter.close()
