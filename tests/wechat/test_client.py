"""The real httpx client against the fake WeChat server (in-process ASGI)."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette

from app.core import clock
from app.core.errors import AppError
from app.core.settings import Settings
from app.wechat.client import TOKEN_REFRESH_MARGIN, WeChatClient, WeChatIdentity
from app.wechat.errors import WeChatTimeout
from app.wechat.fake import (
    ACCESS_TOKEN_TTL_SECONDS,
    FakeWeChatState,
    openid_for,
    phone_for,
    session_key_for,
    unionid_for,
)
from tests.wechat.conftest import APPID, SECRET

PHONE_PATH = "/wxa/business/getuserphonenumber"
TOKEN_PATH = "/cgi-bin/stable_token"


async def test_code2session_sends_appid_secret_and_code(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    identity = await wx.code2session("demo-resident-1")

    assert identity == WeChatIdentity(openid_for("demo-resident-1"), unionid_for("demo-resident-1"))
    assert identity.unionid is not None
    [sent] = fake.requests
    assert (sent.method, sent.path) == ("GET", "/sns/jscode2session")
    assert sent.params == {
        "appid": APPID,
        "secret": SECRET,
        "js_code": "demo-resident-1",
        "grant_type": "authorization_code",
    }


async def test_same_code_same_openid_other_code_other_openid(wx: WeChatClient) -> None:
    first = await wx.code2session("demo-resident-1")
    again = await wx.code2session("demo-resident-1")
    other = await wx.code2session("demo-resident-2")
    assert first.openid == again.openid != other.openid


async def test_unionid_absent_gives_none(wx: WeChatClient) -> None:
    identity = await wx.code2session("solo-resident")
    assert identity.unionid is None
    assert identity.openid == openid_for("solo-resident")


@pytest.mark.parametrize(
    ("code", "status", "error_code"),
    [
        ("invalid-code", 400, "wechat.invalid_code"),
        ("rate-limited", 429, "wechat.rate_limited"),
        ("high-risk", 403, "wechat.high_risk_user"),
        ("busy", 503, "wechat.busy"),
    ],
)
async def test_errcodes_map_to_distinct_errors(
    wx: WeChatClient, code: str, status: int, error_code: str
) -> None:
    with pytest.raises(AppError) as caught:
        await wx.code2session(code)
    assert (caught.value.status_code, caught.value.code) == (status, error_code)
    assert caught.value.message  # Chinese text the front end shows as is


async def test_rate_limited_and_busy_say_when_to_retry(wx: WeChatClient) -> None:
    with pytest.raises(AppError) as limited:
        await wx.code2session("rate-limited")
    assert limited.value.headers == {"Retry-After": "60"}
    with pytest.raises(AppError) as busy:
        await wx.code2session("busy")
    assert busy.value.headers == {"Retry-After": "2"}


async def test_unknown_errcode_is_generic_error_with_the_errcode(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    fake.fail_next(errcode=40163)
    with pytest.raises(AppError) as caught:
        await wx.code2session("demo-resident-1")
    assert (caught.value.status_code, caught.value.code) == (502, "wechat.error")
    assert caught.value.details == {"errcode": 40163}


async def test_http_500_is_unavailable(wx: WeChatClient, fake: FakeWeChatState) -> None:
    fake.fail_next(http_status=500)
    with pytest.raises(AppError) as caught:
        await wx.code2session("demo-resident-1")
    assert (caught.value.status_code, caught.value.code) == (502, "wechat.unavailable")
    # The injected failure was used up: the next call works.
    assert (await wx.code2session("demo-resident-1")).openid == openid_for("demo-resident-1")


async def test_slow_wechat_times_out(
    wx_settings: Settings, fake_app: Starlette, fake: FakeWeChatState
) -> None:
    quick = wx_settings.model_copy(update={"wechat_timeout_seconds": 0.05})
    wx = WeChatClient.from_settings(quick, transport=httpx.ASGITransport(app=fake_app))
    fake.fail_next(delay=2.0)
    try:
        with pytest.raises(WeChatTimeout) as caught:
            await wx.code2session("demo-resident-1")
    finally:
        await wx.aclose()
    assert (caught.value.status_code, caught.value.code) == (504, "wechat.timeout")


async def test_offline_settings_use_the_builtin_fake(settings: Settings) -> None:
    assert settings.wechat_offline
    wx = WeChatClient.from_settings(settings)
    try:
        identity = await wx.code2session("demo-resident-1")
    finally:
        await wx.aclose()
    assert identity.openid == openid_for("demo-resident-1")
    assert wx.fake is not None and wx.fake.calls("/sns/jscode2session")


async def test_online_settings_do_not_use_the_fake(wx_settings: Settings) -> None:
    assert not wx_settings.wechat_offline
    wx = WeChatClient.from_settings(wx_settings.model_copy(update={"env": "prod"}))
    try:
        assert wx.fake is None
        assert str(wx.http.base_url).rstrip("/") == wx_settings.wechat_api_base
    finally:
        await wx.aclose()


# -- access token and phone --------------------------------------------------


async def test_phone_number_with_cached_access_token(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    assert await wx.get_phone_number("phone-code-1") == phone_for("phone-code-1")
    assert await wx.get_phone_number("phone-code-2") == phone_for("phone-code-2")

    [token_call] = fake.calls(TOKEN_PATH)
    assert token_call.body == {
        "grant_type": "client_credential",
        "appid": APPID,
        "secret": SECRET,
        "force_refresh": False,
    }
    phone_calls = fake.calls(PHONE_PATH)
    assert [c.body for c in phone_calls] == [{"code": "phone-code-1"}, {"code": "phone-code-2"}]
    assert {c.params["access_token"] for c in phone_calls} == {fake.access_token}


async def test_access_token_is_refreshed_shortly_before_expiry(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    start = clock.now()
    clock.set_now(start)
    await wx.get_phone_number("phone-code-1")
    # Just inside the refresh margin: WeChat still accepts it, we fetch anew.
    clock.set_now(start + timedelta(seconds=ACCESS_TOKEN_TTL_SECONDS) - TOKEN_REFRESH_MARGIN)
    await wx.get_phone_number("phone-code-1")
    assert len(fake.calls(TOKEN_PATH)) == 2
    assert len(fake.calls(PHONE_PATH)) == 2


async def test_expired_token_is_refreshed_and_the_call_retried_once(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    await wx.get_access_token()
    old = fake.access_token
    fake.expire_access_token()  # WeChat says 42001 although our cache thinks it is fine

    assert await wx.get_phone_number("phone-code-1") == phone_for("phone-code-1")

    tokens = [c.params["access_token"] for c in fake.calls(PHONE_PATH)]
    assert tokens == [old, fake.access_token]
    assert old != fake.access_token
    assert [(c.body or {}).get("force_refresh") for c in fake.calls(TOKEN_PATH)] == [False, False]


async def test_revoked_token_that_stable_token_still_returns_is_force_refreshed(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    await wx.get_access_token()
    fake.fail_next(errcode=40001, path=PHONE_PATH)

    assert await wx.get_phone_number("phone-code-1") == phone_for("phone-code-1")

    assert [(c.body or {}).get("force_refresh") for c in fake.calls(TOKEN_PATH)] == [
        False,
        False,
        True,
    ]
    assert len(fake.calls(PHONE_PATH)) == 2


async def test_token_refused_twice_is_not_retried_forever(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    fake.fail_next(3, errcode=40014, path=PHONE_PATH)
    with pytest.raises(AppError) as caught:
        await wx.get_phone_number("phone-code-1")
    assert (caught.value.code, caught.value.details) == ("wechat.error", {"errcode": 40014})
    assert len(fake.calls(PHONE_PATH)) == 2


@pytest.mark.parametrize(
    ("code", "error_code"), [("invalid-code", "wechat.invalid_code"), ("busy", "wechat.busy")]
)
async def test_phone_errcodes(wx: WeChatClient, code: str, error_code: str) -> None:
    with pytest.raises(AppError) as caught:
        await wx.get_phone_number(code)
    assert caught.value.code == error_code


async def test_failing_stable_token_surfaces_as_wechat_error(
    wx: WeChatClient, fake: FakeWeChatState
) -> None:
    fake.fail_next(errcode=40125, path=TOKEN_PATH)  # invalid appsecret
    with pytest.raises(AppError) as caught:
        await wx.get_phone_number("phone-code-1")
    assert (caught.value.code, caught.value.details) == ("wechat.error", {"errcode": 40125})
    assert fake.calls(PHONE_PATH) == []


# -- secrets -----------------------------------------------------------------


async def test_no_secret_token_or_session_key_reaches_the_logs(
    wx: WeChatClient, fake: FakeWeChatState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # configure_logging (run by any app built earlier) quiets httpx; hear it here.
    caplog.set_level(logging.DEBUG, logger="httpx")
    await wx.code2session("demo-resident-1")
    await wx.get_phone_number("phone-code-1")
    fake.fail_next(errcode=40163)
    with pytest.raises(AppError):
        await wx.code2session("demo-resident-1")

    text = caplog.text
    # The request lines were logged (so this test can see a leak) …
    assert "/sns/jscode2session" in text and PHONE_PATH in text
    assert "errcode=40163" in text
    # … without their query strings.
    assert fake.access_token
    for secret in (SECRET, fake.access_token, session_key_for("demo-resident-1"), "js_code"):
        assert secret not in text
