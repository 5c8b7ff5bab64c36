"""Fixed-window rate limits shared by every process: in Redis when configured,
else in the database (a counter row per key and window, in its own short
transaction so a refused request still counts)."""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete

from app.core import clock
from app.core.db import Database
from app.core.errors import RateLimited
from app.core.models import RateLimitBucket
from app.core.rate import Rate
from app.core.rawsql import standalone

__all__ = ["Rate", "RateLimiter"]

_HIT = (
    "INSERT INTO rate_limit_bucket (key, count, expires_at) VALUES ($1, 1, $2)"
    " ON CONFLICT (key) DO UPDATE SET count = rate_limit_bucket.count + 1 RETURNING count"
)


class RateLimiter:
    def __init__(self, db: Database, redis_url: str | None = None) -> None:
        self.db = db
        self._redis = None
        if redis_url:
            import redis.asyncio as redis

            self._redis = redis.from_url(redis_url)

    async def hit(
        self,
        key: str,
        rate: Rate,
        *,
        code: str = "rate_limited",
        message: str = "请求过于频繁，请稍后再试",
    ) -> None:
        """Count one event for ``key``; raise 429 with ``Retry-After`` over the limit."""
        now = clock.now().timestamp()
        window = int(now // rate.window_seconds)
        retry_after = max(1, math.ceil((window + 1) * rate.window_seconds - now))
        bucket = f"rl:{key}:{rate.window_seconds}:{window}"
        count = await (self._hit_redis(bucket, rate) if self._redis else self._hit_db(bucket, rate))
        if count > rate.limit:
            raise RateLimited(retry_after, code, message)

    async def _hit_redis(self, bucket: str, rate: Rate) -> int:
        assert self._redis is not None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(bucket)
            pipe.expire(bucket, rate.window_seconds + 1)
            count, _ = await pipe.execute()
        return int(count)

    async def _hit_db(self, bucket: str, rate: Rate) -> int:
        now = clock.now()
        expires = now + timedelta(seconds=rate.window_seconds + 1)
        async with standalone(self.db) as raw:  # on every limited request
            count = await raw.fetchval(_HIT, bucket, expires)
        return int(count)

    async def purge_expired(self) -> int:
        """Drop finished windows (called from the background loop)."""
        async with self.db.session(write=True) as session:
            result = await session.execute(
                delete(RateLimitBucket).where(RateLimitBucket.expires_at < clock.now())
            )
            await session.commit()
        return int(getattr(result, "rowcount", 0) or 0)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
