"""Where the access token is kept: in memory (one process), in the database,
or in Redis; the last two are shared by every process of the service.

A store also offers a refresh lock, so that only one process at a time asks
``stable_token`` for a new token while the others keep using the one that is
still valid or wait for the new one (DESIGN §8). The lock is a lease that
expires by itself, so a process that dies while refreshing blocks no one for
long. No database transaction stays open across the network call.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from app.core import clock
from app.core.db import Database
from app.core.models import AppState

# Refresh this long before WeChat's expiry, so a token never dies mid-request.
TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
# How long a refresh may hold the lock before another process may take it over.
REFRESH_LEASE = timedelta(seconds=30)
# How long a process reuses the token it read from the database.
MEMO_SECONDS = 30.0

TOKEN_KEY = "wechat_access_token"
LOCK_KEY = "wechat_access_token_lock"


class TokenStore(Protocol):
    async def get(self, *, margin: timedelta = TOKEN_REFRESH_MARGIN) -> str | None:
        """The cached token while it has more than ``margin`` left, else ``None``."""

    async def put(self, token: str, expires_at: datetime) -> None: ...

    async def invalidate(self, token: str) -> None:
        """Forget ``token``, only if it is still the cached one."""

    async def try_lock(self) -> bool:
        """Take the refresh lock (a lease); ``False`` while someone else holds it."""

    async def unlock(self) -> None: ...


class AccessTokenCache:
    """The access token of this process, in memory (tests, one-process tools).
    The in-process ``asyncio.Lock`` of the client is the only lock needed."""

    def __init__(self) -> None:
        self._token: str | None = None
        self._expires_at: datetime | None = None

    async def get(self, *, margin: timedelta = TOKEN_REFRESH_MARGIN) -> str | None:
        if self._token is None or self._expires_at is None:
            return None
        if self._expires_at - margin <= clock.now():
            return None
        return self._token

    async def put(self, token: str, expires_at: datetime) -> None:
        self._token, self._expires_at = token, expires_at

    async def invalidate(self, token: str) -> None:
        if self._token == token:
            self._token = self._expires_at = None

    async def try_lock(self) -> bool:
        return True

    async def unlock(self) -> None:
        return None


def _usable(token: str | None, expires: int, margin: timedelta) -> str | None:
    if not token or datetime.fromtimestamp(expires, UTC) - margin <= clock.now():
        return None
    return token


class DatabaseTokenCache:
    """The token in ``app_state`` (text = token, int = expiry as a Unix time),
    the lock in another ``app_state`` row (text = owner, ``updated_at`` = lease end)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.owner = secrets.token_hex(8)
        # (token, expiry, when read): what this process last read or wrote.
        self._memo: tuple[str | None, int, float] | None = None
        # Moved by put and invalidate: a read that began before either does
        # not bring back what they replaced.
        self._generation = 0

    async def get(self, *, margin: timedelta = TOKEN_REFRESH_MARGIN) -> str | None:
        # Every text a resident writes is checked with this token: remembered for
        # MEMO_SECONDS instead of read for each. Another process's refresh is
        # seen within that time; the old token stays valid at WeChat meanwhile,
        # and a token WeChat refuses is invalidated, which forgets it here too.
        # A remembered token that is due for refresh is read again: another
        # process may have refreshed it already.
        memo = self._memo
        if memo is not None and time.monotonic() - memo[2] <= MEMO_SECONDS:
            usable = _usable(memo[0], memo[1], margin)
            if usable:
                return usable
        generation = self._generation
        async with self.db.session(write=False) as session:
            row = await session.get(AppState, TOKEN_KEY)
            read = (row.value_text, row.value_int, time.monotonic()) if row else None
            await session.rollback()
        if self._generation == generation:
            self._memo = read
        return _usable(read[0], read[1], margin) if read else None

    async def put(self, token: str, expires_at: datetime) -> None:
        await self._upsert(TOKEN_KEY, token, int(expires_at.timestamp()), clock.now())
        self._generation += 1
        self._memo = (token, int(expires_at.timestamp()), time.monotonic())

    async def invalidate(self, token: str) -> None:
        self._generation += 1
        self._memo = None
        async with self.db.session(write=True) as session:
            await session.execute(
                delete(AppState).where(AppState.key == TOKEN_KEY, AppState.value_text == token)
            )
            await session.commit()

    async def try_lock(self) -> bool:
        now = clock.now()
        async with self.db.session(write=True) as session:
            taken = await session.execute(
                update(AppState)
                .where(
                    AppState.key == LOCK_KEY,
                    (AppState.value_text == self.owner) | (AppState.updated_at < now),
                )
                .values(value_text=self.owner, updated_at=now + REFRESH_LEASE)
            )
            if getattr(taken, "rowcount", 0) == 1:
                await session.commit()
                return True
            if await session.get(AppState, LOCK_KEY) is not None:
                await session.rollback()
                return False
            session.add(
                AppState(
                    key=LOCK_KEY, value_int=0, value_text=self.owner, updated_at=now + REFRESH_LEASE
                )
            )
            try:
                await session.commit()
            except IntegrityError:  # another process created the lock row first
                await session.rollback()
                return False
            return True

    async def unlock(self) -> None:
        async with self.db.session(write=True) as session:
            await session.execute(
                update(AppState)
                .where(AppState.key == LOCK_KEY, AppState.value_text == self.owner)
                .values(value_text=None, updated_at=clock.now())
            )
            await session.commit()

    async def _upsert(self, key: str, text: str, number: int, at: datetime) -> None:
        async with self.db.session(write=True) as session:
            row = await session.get(AppState, key, with_for_update=True)
            if row is None:
                session.add(AppState(key=key, value_int=number, value_text=text, updated_at=at))
            else:
                row.value_text, row.value_int, row.updated_at = text, number, at
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                await self._upsert(key, text, number, at)


class RedisTokenCache:
    """The token under one Redis key (JSON with its expiry), the lock under
    another (``SET NX PX``, released only by its owner)."""

    _UNLOCK = (
        "if redis.call('get', KEYS[1]) == ARGV[1] then "
        "return redis.call('del', KEYS[1]) else return 0 end"
    )

    def __init__(self, redis_url: str, *, prefix: str = "ejiaren:") -> None:
        import redis.asyncio as redis

        self.redis: Any = redis.from_url(redis_url)
        self.key = prefix + TOKEN_KEY
        self.lock_key = prefix + LOCK_KEY
        self.owner = secrets.token_hex(8)

    async def get(self, *, margin: timedelta = TOKEN_REFRESH_MARGIN) -> str | None:
        raw = await self.redis.get(self.key)
        if not raw:
            return None
        try:
            value = json.loads(raw)
            token, expires = str(value["token"]), float(value["expires_at"])
        except (ValueError, KeyError, TypeError):
            return None
        if datetime.fromtimestamp(expires, UTC) - margin <= clock.now():
            return None
        return token

    async def put(self, token: str, expires_at: datetime) -> None:
        ttl = max(int((expires_at - clock.now()).total_seconds()), 1)
        value = json.dumps({"token": token, "expires_at": expires_at.timestamp()})
        await self.redis.set(self.key, value, ex=ttl)

    async def invalidate(self, token: str) -> None:
        if await self.get(margin=timedelta(0)) == token:
            await self.redis.delete(self.key)

    async def try_lock(self) -> bool:
        ms = int(REFRESH_LEASE.total_seconds() * 1000)
        return bool(await self.redis.set(self.lock_key, self.owner, nx=True, px=ms))

    async def unlock(self) -> None:
        await self.redis.eval(self._UNLOCK, 1, self.lock_key, self.owner)

    async def aclose(self) -> None:
        await self.redis.aclose()
