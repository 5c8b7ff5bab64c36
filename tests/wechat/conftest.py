"""A WeChat client wired to its own fake, with a real appid and secret, so the
tests can check what is sent and that secrets never reach a log."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr
from starlette.applications import Starlette

from app.core.settings import Settings
from app.wechat.client import WeChatClient
from app.wechat.fake import FAKE_BASE_URL, FakeWeChatState, create_fake_app

APPID = "wx0123456789abcdef"
SECRET = "s3cret-0123456789abcdef0123456789"


@pytest.fixture
def wx_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "wechat_appid": APPID,
            "wechat_secret": SecretStr(SECRET),
            "wechat_api_base": FAKE_BASE_URL,
        }
    )


@pytest.fixture
def fake_app() -> Starlette:
    return create_fake_app()


@pytest.fixture
def fake(fake_app: Starlette) -> FakeWeChatState:
    return fake_app.state.fake  # type: ignore[no-any-return]


@pytest_asyncio.fixture(loop_scope="session")
async def wx(wx_settings: Settings, fake_app: Starlette) -> AsyncIterator[WeChatClient]:
    client = WeChatClient.from_settings(wx_settings, transport=httpx.ASGITransport(app=fake_app))
    yield client
    await client.aclose()
