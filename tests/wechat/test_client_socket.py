"""The client over a real TCP socket (httpx's network transport), the way it talks
to WeChat in production: the fake served by uvicorn on a free local port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import uvicorn
from starlette.applications import Starlette

from app.core.errors import AppError
from app.core.settings import Settings
from app.wechat.client import WeChatClient
from app.wechat.fake import FakeWeChatState, openid_for, phone_for


@pytest_asyncio.fixture(loop_scope="session")
async def base_url(fake_app: Starlette) -> AsyncIterator[str]:
    config = uvicorn.Config(fake_app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest_asyncio.fixture(loop_scope="session")
async def wx_tcp(wx_settings: Settings, base_url: str) -> AsyncIterator[WeChatClient]:
    client = WeChatClient.from_settings(
        wx_settings.model_copy(update={"wechat_api_base": base_url, "wechat_timeout_seconds": 0.3})
    )
    assert client.fake is None  # a real appid: no in-process shortcut
    yield client
    await client.aclose()


async def test_login_and_phone_over_tcp(wx_tcp: WeChatClient, fake: FakeWeChatState) -> None:
    assert (await wx_tcp.code2session("demo-resident-1")).openid == openid_for("demo-resident-1")
    assert await wx_tcp.get_phone_number("phone-code-1") == phone_for("phone-code-1")
    assert [r.path for r in fake.requests] == [
        "/sns/jscode2session",
        "/cgi-bin/stable_token",
        "/wxa/business/getuserphonenumber",
    ]


@pytest.mark.parametrize(
    ("failure", "error_code"),
    [
        ({"delay": 1.0}, "wechat.timeout"),
        ({"http_status": 502}, "wechat.unavailable"),
        ({"errcode": -1}, "wechat.busy"),
    ],
)
async def test_failures_over_tcp(
    wx_tcp: WeChatClient, fake: FakeWeChatState, failure: dict[str, float], error_code: str
) -> None:
    fake.fail_next(**failure)  # type: ignore[arg-type]
    with pytest.raises(AppError) as caught:
        await wx_tcp.code2session("demo-resident-1")
    assert caught.value.code == error_code


async def test_unreachable_wechat_is_unavailable(wx_settings: Settings) -> None:
    # Port 9 (discard) on localhost: nothing listens, the connection is refused.
    wx = WeChatClient.from_settings(
        wx_settings.model_copy(update={"wechat_api_base": "http://127.0.0.1:9"})
    )
    try:
        with pytest.raises(AppError) as caught:
            await wx.code2session("demo-resident-1")
    finally:
        await wx.aclose()
    assert caught.value.code == "wechat.unavailable"
