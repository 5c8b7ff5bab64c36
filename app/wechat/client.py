"""Async client of the WeChat server API (mini-program login, access token, phone).

The base URL is a setting; with ``settings.wechat_offline`` (dev/test with no
appid) the client talks in-process to the fake in ``app.wechat.fake``, so the
demo and the tests never need the internet. Every failure becomes one of the
errors in ``app.wechat.errors``.

Secrets travel in query strings (``secret``, ``access_token``), so nothing here
logs a URL with its query, and httpx's own request log is stripped of queries.
``session_key`` is read from no answer: it is never stored, logged or returned.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, NamedTuple

import httpx

from app.core import clock
from app.core.db import Database
from app.core.settings import Settings
from app.wechat.errors import (
    TOKEN_ERRCODES,
    WeChatError,
    WeChatTimeout,
    WeChatUnavailable,
    error_for,
)
from app.wechat.tokens import (
    TOKEN_REFRESH_MARGIN,
    AccessTokenCache,
    DatabaseTokenCache,
    RedisTokenCache,
    TokenStore,
)

__all__ = ["TOKEN_REFRESH_MARGIN", "AccessTokenCache", "WeChatClient", "WeChatIdentity"]

log = logging.getLogger("ejiaren.wechat")


class _HideQueryString(logging.Filter):
    """httpx logs every request URL at INFO; ours carry the app secret and the
    access token in the query, so the query is cut off before anything is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _HideQueryString) for f in logger.filters):
        logger.addFilter(_HideQueryString())


_install_log_filter()


class WeChatIdentity(NamedTuple):
    openid: str
    unionid: str | None


class WeChatClient:
    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        token_cache: TokenStore | None = None,
        fake: Any = None,
    ) -> None:
        self.settings = settings
        self.http = http
        self.tokens = token_cache or AccessTokenCache()
        # The in-process fake's state (``FakeWeChatState``) when offline, for tests.
        self.fake = fake
        self._token_lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        db: Database | None = None,
    ) -> WeChatClient:
        """The client of this process. The access token is shared through Redis
        when ``redis_url`` is set, else through ``db`` when given, else kept in memory."""
        token_cache: TokenStore | None = None
        if settings.redis_url:
            token_cache = RedisTokenCache(settings.redis_url)
        elif db is not None:
            token_cache = DatabaseTokenCache(db)
        base_url = settings.wechat_api_base
        fake = None
        if transport is None and settings.wechat_offline:
            from app.wechat.fake import FAKE_BASE_URL, create_fake_app

            fake_app = create_fake_app()
            transport = httpx.ASGITransport(app=fake_app)
            base_url = FAKE_BASE_URL
            fake = fake_app.state.fake
        http = httpx.AsyncClient(
            base_url=base_url,
            transport=transport,
            timeout=settings.wechat_timeout_seconds,
        )
        return cls(settings, http, token_cache=token_cache, fake=fake)

    async def aclose(self) -> None:
        await self.http.aclose()
        if isinstance(self.tokens, RedisTokenCache):
            await self.tokens.aclose()

    # -- transport ---------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One call; the answer's JSON, errcode included. Transport failures raise."""
        try:
            # httpx times each phase separately; this bounds the whole call,
            # whatever the transport (ASGI included).
            async with asyncio.timeout(self.settings.wechat_timeout_seconds):
                response = await self.http.request(method, path, params=params, json=json)
        except (TimeoutError, httpx.TimeoutException):
            log.warning("wechat %s timed out", path)
            raise WeChatTimeout() from None
        except httpx.HTTPError as exc:
            log.warning("wechat %s failed: %s", path, type(exc).__name__)
            raise WeChatUnavailable() from None
        if response.status_code != 200:
            log.warning("wechat %s answered HTTP %s", path, response.status_code)
            raise WeChatUnavailable(details={"http_status": response.status_code})
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            log.warning("wechat %s answered something other than a JSON object", path)
            raise WeChatUnavailable()
        errcode = _errcode(data)
        if errcode:
            # errmsg carries WeChat's rid, which their support asks for; never a secret.
            log.warning("wechat %s errcode=%s errmsg=%s", path, errcode, data.get("errmsg"))
        return data

    async def _checked(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        data = await self._request(method, path, **kwargs)
        if errcode := _errcode(data):
            raise error_for(errcode)
        return data

    # -- login -------------------------------------------------------------

    async def code2session(self, code: str) -> WeChatIdentity:
        """Exchange a ``wx.login`` code for the user's openid (and unionid, when
        the mini-program is bound to an Open Platform account)."""
        data = await self._checked(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.settings.wechat_appid,
                "secret": self.settings.wechat_secret.get_secret_value(),
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        openid = data.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WeChatError(details={"reason": "missing openid"})
        unionid = data.get("unionid")
        return WeChatIdentity(openid, unionid if isinstance(unionid, str) and unionid else None)

    # -- access token ------------------------------------------------------

    async def get_access_token(self) -> str:
        token = await self.tokens.get()
        if token:
            return token
        async with self._token_lock:
            # Another task may have fetched it while this one waited.
            token = await self.tokens.get()
            if token:
                return token
            return await self._refresh(rejected=None)

    async def _refresh_rejected(self, rejected: str) -> str:
        """A new token after WeChat refused ``rejected``."""
        async with self._token_lock:
            await self.tokens.invalidate(rejected)
            token = await self.tokens.get()
            if token and token != rejected:
                return token
            return await self._refresh(rejected=rejected)

    async def _refresh(self, *, rejected: str | None) -> str:
        """Fetch a token as the one process holding the refresh lock. While
        another process holds it, use the token that is still valid (inside the
        refresh margin) or wait briefly for the new one; if the holder seems
        gone, fetch anyway (``stable_token`` hands every caller the same token)."""
        waited = 0.0
        step = 0.05
        while True:
            if await self.tokens.try_lock():
                try:
                    token = await self.tokens.get()
                    if token and token != rejected:
                        return token  # refreshed by the previous holder
                    return await self._fetch_fresh(rejected)
                finally:
                    await self.tokens.unlock()
            still_valid = await self.tokens.get(margin=timedelta(0))
            if still_valid and still_valid != rejected:
                return still_valid
            if waited >= self.settings.wechat_token_wait_seconds:
                return await self._fetch_fresh(rejected)
            await asyncio.sleep(step)
            waited += step
            step = min(step * 2, 0.5)

    async def _fetch_fresh(self, rejected: str | None) -> str:
        token = await self._fetch_token(force=False)
        if rejected is not None and token == rejected:
            # stable_token still hands out the token that was just refused
            # (revoked elsewhere): force a new one (WeChat allows 20 a day).
            token = await self._fetch_token(force=True)
        return token

    async def _fetch_token(self, *, force: bool) -> str:
        data = await self._checked(
            "POST",
            "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.settings.wechat_appid,
                "secret": self.settings.wechat_secret.get_secret_value(),
                "force_refresh": force,
            },
        )
        token = data.get("access_token")
        expires_in = data.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatError(details={"reason": "malformed access token answer"})
        await self.tokens.put(token, clock.now() + timedelta(seconds=expires_in))
        return token

    async def call_with_token(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` to an endpoint that takes ``?access_token=``; when
        WeChat refuses the token (40001/40014/42001), refresh it and retry once."""
        token = await self.get_access_token()
        data = await self._request("POST", path, params={"access_token": token}, json=payload)
        if _errcode(data) in TOKEN_ERRCODES:
            token = await self._refresh_rejected(token)
            data = await self._request("POST", path, params={"access_token": token}, json=payload)
        if errcode := _errcode(data):
            raise error_for(errcode)
        return data

    # -- subscribe messages ------------------------------------------------

    async def send_subscribe_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """``cgi-bin/message/subscribe/send``: ``message`` has ``touser``,
        ``template_id``, ``data`` and optionally ``page``, ``miniprogram_state``
        and ``lang``. Errors raise (43101 as ``WeChatNoConsent``)."""
        return await self.call_with_token("/cgi-bin/message/subscribe/send", message)

    # -- phone -------------------------------------------------------------

    async def get_phone_number(self, code: str) -> str:
        """The phone number behind a ``getPhoneNumber`` button code: 11 digits for
        mainland numbers, ``+<country code><number>`` for others."""
        data = await self.call_with_token("/wxa/business/getuserphonenumber", {"code": code})
        info = data.get("phone_info")
        if not isinstance(info, dict):
            raise WeChatError(details={"reason": "missing phone_info"})
        number = str(info.get("purePhoneNumber") or "").strip()
        country = str(info.get("countryCode") or "86").strip()
        if not number:
            raise WeChatError(details={"reason": "missing phone number"})
        return number if country == "86" else f"+{country}{number}"

    # -- content security --------------------------------------------------

    async def msg_sec_check(self, *, openid: str, content: str, scene: int = 1) -> str:
        """WeChat's verdict on user text (``msg_sec_check`` v2): ``pass``,
        ``review`` (a person should look) or ``risky`` (refuse it).
        ``scene`` 1 is 资料, 2 评论, 3 论坛, 4 社交日志."""
        data = await self.call_with_token(
            "/wxa/msg_sec_check",
            {"content": content, "version": 2, "scene": scene, "openid": openid},
        )
        result = data.get("result")
        suggest = result.get("suggest") if isinstance(result, dict) else None
        if suggest not in ("pass", "review", "risky"):
            raise WeChatError(details={"reason": "malformed msg_sec_check answer"})
        return str(suggest)


def _errcode(data: dict[str, Any]) -> int:
    value = data.get("errcode") or 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise WeChatUnavailable(details={"reason": "malformed errcode"})
    try:
        return int(value)
    except ValueError:
        raise WeChatUnavailable(details={"reason": "malformed errcode"}) from None
