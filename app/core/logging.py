"""Logging with the request id on every line, and the middleware that sets it."""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.request_context import request_id_var

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


# Libraries whose own log lines carry what must never be logged: aiosqlite
# (DEBUG) and SQLAlchemy's echo print statements with their parameters (phone
# numbers, password hashes); httpx/httpcore (INFO) print whole request URLs,
# and WeChat's carry the app secret, login codes and access tokens in the
# query string. They log warnings and errors only, whatever our level.
QUIET_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "httpx", "httpcore")


def configure_logging(level: str = "INFO") -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    if any(getattr(h, "_ejiaren", False) for h in root.handlers):
        root.setLevel(level)
        return
    handler = logging.StreamHandler()
    handler._ejiaren = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's access log repeats what our middleware logs, without the request id.
    logging.getLogger("uvicorn.access").propagate = False
    logging.getLogger("uvicorn.access").handlers = []


class RequestIdMiddleware:
    """Gives every request an id (a sane incoming ``X-Request-ID`` or a new one),
    logs one access line per request and echoes the id in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log = logging.getLogger("ejiaren.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = incoming if _REQUEST_ID_OK.match(incoming) else secrets.token_hex(8)
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500
        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status
            nonlocal started_response
            if message["type"] == "http.response.start":
                started_response = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # A bug: log the trace with the request id; the client gets the envelope only.
            self.log.exception("unhandled error")
            if not started_response:
                from app.core.errors import internal_error_response

                await internal_error_response()(scope, receive, send_with_id)
        finally:
            # The path only: query strings may carry codes or tokens.
            self.log.info(
                "%s %s %s %.1fms",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - started) * 1000,
            )
            request_id_var.reset(token)
