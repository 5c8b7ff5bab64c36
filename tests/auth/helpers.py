"""Helpers for the login tests: the fake WeChat behind an app, logins, and an
app built with different settings (e.g. a tiny rate limit) on the test's
rolled-back connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.settings import Settings
from app.main import create_app
from app.wechat.fake import FakeWeChatState

API = "/api/v1"


def fake_wechat(app: FastAPI) -> FakeWeChatState:
    fake = app.state.wechat.fake
    assert fake is not None, "the test settings must leave WeChat offline"
    return fake  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def wechat_login(
    client: httpx.AsyncClient, code: str = "demo-resident-1", **kwargs: Any
) -> httpx.Response:
    return await client.post(f"{API}/auth/wechat/login", json={"code": code}, **kwargs)


async def password_login(
    client: httpx.AsyncClient, username: str, password: str, **kwargs: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/password/login", json={"username": username, "password": password}, **kwargs
    )


def error_code(response: httpx.Response) -> str:
    return response.json()["error"]["code"]  # type: ignore[no-any-return]


@asynccontextmanager
async def app_with(
    settings: Settings,
    bind_sessions: async_sessionmaker[AsyncSession],
    *,
    peer: str = "127.0.0.1",
    **updates: Any,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app with ``updates`` applied to the settings, seen from address ``peer``."""
    application = create_app(settings.model_copy(update=updates))
    db = application.state.db
    await db.engine.dispose()
    db.bind(bind_sessions)
    transport = httpx.ASGITransport(app=application, client=(peer, 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client
    finally:
        await application.state.wechat.aclose()
