"""Request bodies over a size limit are refused before anything parses them.

FastAPI reads a JSON (or form) body whole into memory before validating it; a
client sending 2 GB to any JSON route would otherwise have it buffered. This
middleware answers 413 from the declared ``Content-Length`` at once, and stops
a body without one (chunked) as soon as it grows past the limit.

Routes that stream and cap their own bodies (photo upload, grid import) are
listed in ``exempt`` with the paths they are mounted at.
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import own_format_for

CODE = "http.payload_too_large"


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive`` mid-body. An HTTP exception on purpose: FastAPI
    turns any other error met while reading a body into a 400 and passes this
    one on; whatever the app answers then is replaced by our 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, exempt: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0
        exceeded = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to the cut body is replaced by ours
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if started:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit_kb = self.max_bytes // 1024
        own = own_format_for(scope["path"])
        if own is not None:
            answer = own(scope["path"], 413, f"请求体太大（上限 {limit_kb} KB）")
            answer.headers["connection"] = "close"
            await answer(scope, receive, send)
            return
        body = json.dumps(
            {
                "error": {
                    "code": CODE,
                    "message": f"请求体太大（上限 {limit_kb} KB）",
                    "details": {"max_bytes": self.max_bytes},
                }
            },
            ensure_ascii=False,
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None
