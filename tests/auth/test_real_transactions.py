"""Login through the app's real engine and per-request transactions (committed,
not the rolled-back test connection), so the rate limiter's own transactions,
SQLite's ``BEGIN IMMEDIATE`` and two simultaneous first logins meet as they do
in production. Rows are deleted afterwards."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import delete, or_, select, update

from app.core.models import AppState, RateLimitBucket
from app.core.settings import Settings
from app.main import create_app
from app.users.models import User
from app.wechat.fake import openid_for
from app.wechat.tokens import LOCK_KEY, TOKEN_KEY
from tests.auth.helpers import API, bearer, wechat_login

PEER = "10.77.0.1"  # an address no other test uses, so its counters are ours to delete


@pytest_asyncio.fixture(loop_scope="session")
async def real_app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    yield application
    await application.state.wechat.aclose()
    await application.state.db.dispose()


async def _cleanup(app: FastAPI, openids: list[str]) -> None:
    async with app.state.db.session(write=True) as session:
        await session.execute(delete(User).where(User.openid.in_(openids)))
        # The phone-number call fetched a WeChat access token into the
        # database: another test's "first fetch" must not find it.
        await session.execute(delete(AppState).where(AppState.key.in_([TOKEN_KEY, LOCK_KEY])))
        await session.execute(
            delete(RateLimitBucket).where(
                or_(
                    RateLimitBucket.key.like(f"rl:login:ip:{PEER}:%"),
                    *[RateLimitBucket.key.like(f"rl:login:openid:{o}:%") for o in openids],
                    RateLimitBucket.key.like("rl:wechat:user:%"),
                )
            )
        )
        await session.commit()


async def test_simultaneous_first_logins_share_one_account(real_app: FastAPI) -> None:
    code = f"race-{secrets.token_hex(6)}"
    transport = httpx.ASGITransport(app=real_app, client=(PEER, 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            # Bounded, so a transaction waiting on our own lock fails fast
            # instead of sitting out SQLite's 30 s busy timeout.
            responses = await asyncio.wait_for(
                asyncio.gather(*[wechat_login(client, code) for _ in range(4)]), timeout=15
            )
            assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
            assert len({r.json()["user"]["id"] for r in responses}) == 1

            token = responses[0].json()["access_token"]
            phone = await asyncio.wait_for(
                client.post(f"{API}/me/phone", headers=bearer(token), json={"code": "p-1"}),
                timeout=15,
            )
            assert phone.status_code == 200, phone.text

        async with real_app.state.db.session(write=False) as session:
            rows = (
                (await session.execute(select(User).where(User.openid == openid_for(code))))
                .scalars()
                .all()
            )
        assert len(rows) == 1
        assert rows[0].phone is not None
    finally:
        await _cleanup(real_app, [openid_for(code)])


async def test_reading_the_caller_does_not_wait_for_a_writer(real_app: FastAPI) -> None:
    """Authentication only reads: while another transaction holds SQLite's
    write lock (PostgreSQL: the caller's row), a request still authenticates."""
    code = f"reader-{secrets.token_hex(6)}"
    transport = httpx.ASGITransport(app=real_app, client=(PEER, 40001))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            r = await asyncio.wait_for(wechat_login(client, code), timeout=15)
            assert r.status_code == 200, r.text
            token, user_id = r.json()["access_token"], r.json()["user"]["id"]
            async with real_app.state.db.session(write=True) as holder:
                await holder.execute(
                    update(User).where(User.id == user_id).values(nickname=User.nickname)
                )
                me = await asyncio.wait_for(client.get(f"{API}/me", headers=bearer(token)), 5)
                assert me.status_code == 200, me.text
                await holder.rollback()
    finally:
        await _cleanup(real_app, [openid_for(code)])
