"""A local fake of the WeChat server API, for development, the demo and tests.

``WeChatClient.from_settings`` talks to it in-process (``httpx.ASGITransport``)
whenever ``settings.wechat_offline`` is true (dev/test with no appid), so
nothing ever needs the internet or a WeChat account. It can also be served on
its own: ``uvicorn --factory app.wechat.fake:create_fake_app``.

Deterministic behaviour (the demo relies on it):

- ``GET /sns/jscode2session``: any ``js_code`` X gives
  ``openid = "fake-openid-" + sha256(X)[:24]`` and
  ``unionid = "fake-unionid-" + sha256(X)[:24]``, so ``demo-resident-1`` always
  logs in as the same user. Codes starting with ``solo-`` get no unionid (a
  mini-program not bound to an Open Platform account). Codes are not one-time.
  Special codes answer with an error, as WeChat does (HTTP 200 + errcode):

  ============== ======= =======================
  code           errcode meaning
  ============== ======= =======================
  invalid-code   40029   invalid code
  rate-limited   45011   API minute quota
  high-risk      40226   high-risk user
  busy           -1      system busy
  ============== ======= =======================

- ``POST /cgi-bin/stable_token``: returns ``fake-access-token-N`` valid for
  7200 s; the same token until it expires, is expired with
  ``expire_access_token()``, or ``force_refresh`` is true.
- ``POST /wxa/business/getuserphonenumber?access_token=``: an unknown token is
  40001, an expired one 42001; any code X gives the phone
  ``"138" + 8 digits of sha256(X)``; ``invalid-code`` and ``busy`` as above.
- ``POST /wxa/msg_sec_check`` (v2) answers "risky" for content containing
  ``违禁``, "review" for content containing ``待审``, else "pass" (checks the token).
- ``POST /cgi-bin/message/subscribe/send?access_token=``: token errors as
  above (40001 unknown, 42001 expired); ``touser`` empty or starting with
  ``bad-`` is 40003; no ``template_id`` 40037; ``touser`` in
  ``no_consent`` or starting with ``noconsent-`` 43101; ``data`` breaking
  WeChat's value rules (length per field type, newline, Chinese in
  ``character_string``, time format) 47003. Accepted messages are kept in
  ``subscribe_messages``.

For tests, ``app.state.fake`` (a ``FakeWeChatState``) records every request in
``requests`` and injects failures into the next calls: ``fail_next(errcode=…)``,
``fail_next(http_status=500)`` or ``fail_next(delay=seconds)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from app.core import clock

FAKE_BASE_URL = "http://wechat.fake"
ACCESS_TOKEN_TTL_SECONDS = 7200

SPECIAL_CODES: dict[str, int] = {
    "invalid-code": 40029,
    "rate-limited": 45011,
    "high-risk": 40226,
    "busy": -1,
}
_ERRMSG = {
    40029: "invalid code",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    40226: "invalid user",
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired",
    40002: "invalid grant_type",
    41008: "missing code",
    40003: "invalid openid",
    40037: "invalid template_id",
    43101: "user refuse to accept the msg",
    47003: "argument invalid! data.thing1.value invalid",
}

# WeChat's value rules per template field type (the key without its number).
_SUBSCRIBE_MAX = {
    "thing": 20,
    "phrase": 5,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "name": 10,
    "phone_number": 17,
    "car_number": 8,
    "amount": 11,
}


def _valid_subscribe_data(data: Any) -> bool:
    """The checks behind 47003: every field ``{"value": str}``, no newline,
    within its type's length, ``character_string`` without Chinese, ``time``
    and ``date`` in one of WeChat's formats."""
    if not isinstance(data, dict) or not data:
        return False
    for key, item in data.items():
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value or "\n" in value or "\r" in value:
            return False
        kind = key.rstrip("0123456789")
        if kind in ("time", "date"):
            if not _is_wechat_time(value):
                return False
            continue
        limit = _SUBSCRIBE_MAX.get(kind)
        if limit is None or len(value) > limit:
            return False
        if kind in ("character_string", "letter", "number", "symbol") and not value.isascii():
            return False
    return True


def _is_wechat_time(value: str) -> bool:
    for fmt in (
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
        "%Y年%m月%d日 %H:%M",
        "%Y年%m月%d日",
        "%H:%M",
    ):
        try:
            datetime.strptime(value, fmt)
        except ValueError:
            continue
        return True
    return False


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def openid_for(code: str) -> str:
    return "fake-openid-" + _digest(code)[:24]


def unionid_for(code: str) -> str | None:
    return None if code.startswith("solo-") else "fake-unionid-" + _digest(code)[:24]


def session_key_for(code: str) -> str:
    # Never leaves our backend: tests check it shows up nowhere.
    return "fake-session-key-" + _digest("session:" + code)[:24]


def phone_for(code: str) -> str:
    return "138" + f"{int(_digest('phone:' + code), 16) % 10**8:08d}"


@dataclass
class ReceivedRequest:
    method: str
    path: str
    params: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class Failure:
    errcode: int | None = None
    http_status: int | None = None
    delay: float | None = None
    path: str | None = None


@dataclass
class FakeWeChatState:
    requests: list[ReceivedRequest] = field(default_factory=list)
    failures: deque[Failure] = field(default_factory=deque)
    access_token: str | None = None
    access_token_expires_at: datetime | None = None
    appid: str = ""
    # Subscribe messages accepted (what a user would see), and openids whose
    # users have no subscription left (their sends answer 43101).
    subscribe_messages: list[dict[str, Any]] = field(default_factory=list)
    no_consent: set[str] = field(default_factory=set)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(
        self,
        count: int = 1,
        *,
        errcode: int | None = None,
        http_status: int | None = None,
        delay: float | None = None,
        path: str | None = None,
    ) -> None:
        """Make the next ``count`` calls (to ``path`` only, when given) fail with
        ``errcode`` (HTTP 200), answer ``http_status``, or first sleep ``delay``
        seconds (then answer normally)."""
        for _ in range(count):
            self.failures.append(Failure(errcode, http_status, delay, path))

    def calls(self, path: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path == path]

    def expire_access_token(self) -> None:
        """The current token stops working (42001) and the next stable_token gives a new one."""
        self.access_token_expires_at = clock.now() - timedelta(seconds=1)

    def _take_failure(self, path: str) -> Failure | None:
        for failure in self.failures:
            if failure.path is None or failure.path == path:
                self.failures.remove(failure)
                return failure
        return None

    def _issue_token(self) -> str:
        self.access_token = f"fake-access-token-{next(self._counter)}"
        self.access_token_expires_at = clock.now() + timedelta(seconds=ACCESS_TOKEN_TTL_SECONDS)
        return self.access_token

    def _token_valid(self) -> bool:
        return (
            self.access_token_expires_at is not None and self.access_token_expires_at > clock.now()
        )

    def _check_token(self, token: str | None) -> int:
        if not token or token != self.access_token:
            return 40001
        if not self._token_valid():
            return 42001
        return 0


def _error(errcode: int) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": _ERRMSG.get(errcode, "fake error")})


def create_fake_app() -> Starlette:
    state = FakeWeChatState()

    async def record(request: Request) -> tuple[dict[str, str], dict[str, Any] | None]:
        params = dict(request.query_params)
        body: dict[str, Any] | None = None
        raw = await request.body()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"_raw": raw.decode("utf-8", "replace")}
        state.requests.append(ReceivedRequest(request.method, request.url.path, params, body))
        return params, body

    async def injected(path: str) -> Response | None:
        failure = state._take_failure(path)
        if failure is None:
            return None
        if failure.delay:
            await asyncio.sleep(failure.delay)
        if failure.http_status:
            return PlainTextResponse("fake upstream failure", status_code=failure.http_status)
        if failure.errcode is not None:
            return _error(failure.errcode)
        return None

    async def jscode2session(request: Request) -> Response:
        params, _ = await record(request)
        if (failed := await injected(request.url.path)) is not None:
            return failed
        code = params.get("js_code", "")
        if params.get("grant_type") != "authorization_code":
            return _error(40002)
        if not code:
            return _error(41008)
        if code in SPECIAL_CODES:
            return _error(SPECIAL_CODES[code])
        answer: dict[str, Any] = {"openid": openid_for(code), "session_key": session_key_for(code)}
        if (unionid := unionid_for(code)) is not None:
            answer["unionid"] = unionid
        return JSONResponse(answer)

    async def stable_token(request: Request) -> Response:
        _, body = await record(request)
        if (failed := await injected(request.url.path)) is not None:
            return failed
        body = body or {}
        if body.get("grant_type") != "client_credential":
            return _error(40002)
        state.appid = str(body.get("appid") or "")
        if body.get("force_refresh") or not state._token_valid():
            state._issue_token()
        assert state.access_token_expires_at is not None
        remaining = int((state.access_token_expires_at - clock.now()).total_seconds())
        return JSONResponse({"access_token": state.access_token, "expires_in": remaining})

    async def get_phone_number(request: Request) -> Response:
        params, body = await record(request)
        if (failed := await injected(request.url.path)) is not None:
            return failed
        if errcode := state._check_token(params.get("access_token")):
            return _error(errcode)
        code = (body or {}).get("code") or ""
        if not code:
            return _error(41008)
        if code in SPECIAL_CODES:
            return _error(SPECIAL_CODES[code])
        phone = phone_for(code)
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": int(clock.now().timestamp()), "appid": state.appid},
                },
            }
        )

    async def msg_sec_check(request: Request) -> Response:
        params, body = await record(request)
        if (failed := await injected(request.url.path)) is not None:
            return failed
        if errcode := state._check_token(params.get("access_token")):
            return _error(errcode)
        content = str((body or {}).get("content", ""))
        suggest, label = "pass", 100
        if "违禁" in content:
            suggest, label = "risky", 20001
        elif "待审" in content:
            suggest, label = "review", 21000
        return JSONResponse(
            {
                "errcode": 0,
                "errmsg": "ok",
                "result": {"suggest": suggest, "label": label},
                "detail": [],
                "trace_id": f"fake-trace-{len(state.requests)}",
            }
        )

    async def subscribe_send(request: Request) -> Response:
        params, body = await record(request)
        if (failed := await injected(request.url.path)) is not None:
            return failed
        if errcode := state._check_token(params.get("access_token")):
            return _error(errcode)
        body = body or {}
        touser = str(body.get("touser") or "")
        if not touser or touser.startswith("bad-"):
            return _error(40003)
        if not body.get("template_id"):
            return _error(40037)
        if touser in state.no_consent or touser.startswith("noconsent-"):
            return _error(43101)
        if not _valid_subscribe_data(body.get("data")):
            return _error(47003)
        state.subscribe_messages.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": len(state.requests)})

    app = Starlette(
        routes=[
            Route("/sns/jscode2session", jscode2session, methods=["GET"]),
            Route("/cgi-bin/stable_token", stable_token, methods=["POST"]),
            Route("/wxa/business/getuserphonenumber", get_phone_number, methods=["POST"]),
            Route("/wxa/msg_sec_check", msg_sec_check, methods=["POST"]),
            Route("/cgi-bin/message/subscribe/send", subscribe_send, methods=["POST"]),
        ]
    )
    app.state.fake = state
    return app
