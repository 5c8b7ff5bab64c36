"""The access token shared through the database (or Redis): several clients,
as several processes would be, call stable_token once between them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete
from starlette.applications import Starlette

from app.core import clock
from app.core.db import Database
from app.core.models import AppState
from app.core.settings import Settings
from app.wechat.client import WeChatClient
from app.wechat.fake import ACCESS_TOKEN_TTL_SECONDS, FakeWeChatState
from app.wechat.tokens import (
    LOCK_KEY,
    TOKEN_KEY,
    TOKEN_REFRESH_MARGIN,
    DatabaseTokenCache,
    RedisTokenCache,
)

STABLE = "/cgi-bin/stable_token"
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def _client(settings: Settings, fake_app: Starlette, db: Database) -> WeChatClient:
    return WeChatClient(
        settings,
        httpx.AsyncClient(
            base_url="http://wechat.fake", transport=httpx.ASGITransport(app=fake_app)
        ),
        token_cache=DatabaseTokenCache(db),
    )


async def test_two_clients_on_one_database_fetch_the_token_once(
    app: FastAPI, wx_settings: Settings, fake_app: Starlette, fake: FakeWeChatState
) -> None:
    clock.set_now(T0)
    db = app.state.db
    first, second = _client(wx_settings, fake_app, db), _client(wx_settings, fake_app, db)
    try:
        token = await first.get_access_token()
        assert await second.get_access_token() == token
        assert len(fake.calls(STABLE)) == 1

        # Refreshed before expiry, by whichever client comes first, once.
        clock.set_now(T0 + timedelta(seconds=ACCESS_TOKEN_TTL_SECONDS) - TOKEN_REFRESH_MARGIN)
        fake.expire_access_token()
        renewed = await second.get_access_token()
        assert renewed != token
        assert await first.get_access_token() == renewed
        assert len(fake.calls(STABLE)) == 2
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_token_refused_by_one_client_is_replaced_for_all(
    app: FastAPI, wx_settings: Settings, fake_app: Starlette, fake: FakeWeChatState
) -> None:
    clock.set_now(T0)
    db = app.state.db
    first, second = _client(wx_settings, fake_app, db), _client(wx_settings, fake_app, db)
    try:
        old = await first.get_access_token()
        fake.expire_access_token()
        await first.send_subscribe_message(
            {"touser": "fake-openid-x", "template_id": "t", "data": {"thing1": {"value": "好"}}}
        )
        sends = fake.calls("/cgi-bin/message/subscribe/send")
        assert [s.params["access_token"] for s in sends][0] == old
        assert len(sends) == 2 and sends[1].params["access_token"] != old
        assert await second.get_access_token() == sends[1].params["access_token"]
        assert len(fake.calls(STABLE)) == 2
    finally:
        await first.aclose()
        await second.aclose()


# -- separate connections, committed data ---------------------------------------


@pytest.fixture
async def shared_db(settings: Settings) -> AsyncIterator[Database]:
    db = Database(settings)

    async def wipe() -> None:
        async with db.session(write=True) as s:
            await s.execute(delete(AppState).where(AppState.key.in_([TOKEN_KEY, LOCK_KEY])))
            await s.commit()

    await wipe()
    try:
        yield db
    finally:
        await wipe()
        await db.dispose()


async def test_processes_asking_at_once_call_stable_token_once(
    shared_db: Database, wx_settings: Settings, fake_app: Starlette, fake: FakeWeChatState
) -> None:
    clock.set_now(T0)
    # Each "process": its own engine, cache and client.
    dbs = [
        Database(
            wx_settings.model_copy(update={"database_url": str(shared_db.settings.database_url)})
        )
        for _ in range(3)
    ]
    clients = [_client(wx_settings, fake_app, db) for db in dbs]
    fake.fail_next(delay=0.1, path=STABLE)  # a slow refresh, so the others find it running
    try:
        tokens = await asyncio.gather(*(c.get_access_token() for c in clients))
    finally:
        for c in clients:
            await c.aclose()
        for db in dbs:
            await db.dispose()
    assert len(set(tokens)) == 1
    assert len(fake.calls(STABLE)) == 1


async def test_redis_store_shares_the_token(
    wx_settings: Settings, fake_app: Starlette, fake: FakeWeChatState
) -> None:
    import redis.asyncio as redis

    url = os.environ.get("EJIAREN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    probe = redis.from_url(url)
    try:
        await probe.ping()
    except (OSError, redis.RedisError):
        pytest.skip("Redis 不可用")
    finally:
        await probe.aclose()
    # Its own keys: the SQLite and PostgreSQL runs of the suite share one Redis.
    prefix = f"ejiaren-test-{uuid.uuid4().hex[:8]}:"
    stores = [RedisTokenCache(url, prefix=prefix) for _ in range(2)]
    await stores[0].redis.delete(stores[0].key, stores[0].lock_key)
    clients = [
        WeChatClient(
            wx_settings,
            httpx.AsyncClient(
                base_url="http://wechat.fake", transport=httpx.ASGITransport(app=fake_app)
            ),
            token_cache=store,
        )
        for store in stores
    ]
    try:
        tokens = await asyncio.gather(*(c.get_access_token() for c in clients))
        assert len(set(tokens)) == 1 and len(fake.calls(STABLE)) == 1
    finally:
        await stores[0].redis.delete(stores[0].key, stores[0].lock_key)
        for c in clients:
            await c.aclose()


async def test_a_client_waits_for_the_refresh_another_one_holds(
    shared_db: Database, wx_settings: Settings, fake_app: Starlette, fake: FakeWeChatState
) -> None:
    clock.set_now(T0)
    db = shared_db
    holder = DatabaseTokenCache(db)
    assert await holder.try_lock()
    waiting = _client(wx_settings, fake_app, db)
    try:
        assert not await waiting.tokens.try_lock()
        task = asyncio.create_task(waiting.get_access_token())
        await asyncio.sleep(0.06)  # the waiter polls; no refresh happens meanwhile
        assert fake.calls(STABLE) == []
        await holder.put("token-from-the-other-process", T0 + timedelta(hours=2))
        await holder.unlock()
        assert await task == "token-from-the-other-process"
        assert fake.calls(STABLE) == []
    finally:
        await waiting.aclose()


async def test_a_process_remembers_the_token_it_read_for_a_while(app: FastAPI) -> None:
    clock.set_now(T0)
    db = app.state.db
    writer, reader = DatabaseTokenCache(db), DatabaseTokenCache(db)
    await writer.put("tok-1", T0 + timedelta(hours=2))
    assert await reader.get() == "tok-1"
    # Gone from the database (another process invalidated it): still
    # remembered here, without a read, until WeChat refuses it …
    await writer.invalidate("tok-1")
    assert await writer.get() is None
    assert await reader.get() == "tok-1"
    # … which forgets it.
    await reader.invalidate("tok-1")
    assert await reader.get() is None
    # A remembered token due for refresh is read again, and another
    # process's new one is seen at once.
    await writer.put("tok-2", T0 + timedelta(hours=2))
    assert await reader.get() == "tok-2"
    clock.set_now(T0 + timedelta(hours=2) - TOKEN_REFRESH_MARGIN)
    await writer.put("tok-3", T0 + timedelta(hours=4))
    assert await reader.get() == "tok-3"
