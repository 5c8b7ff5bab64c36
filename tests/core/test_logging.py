"""Every log line written while a request is handled carries its request id,
through the service's own log handler and format; a bug (500) is logged with
its trace and that id, while the client gets the error envelope only."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from fastapi import FastAPI

PROBE = logging.getLogger("ejiaren.probe")
GENERATED_ID = re.compile(r"^[0-9a-f]{16}$")


@contextmanager
def service_log() -> Iterator[io.StringIO]:
    """What the service's own handler (configured by create_app) writes, at INFO."""
    root = logging.getLogger()
    [handler] = [h for h in root.handlers if getattr(h, "_ejiaren", False)]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous_stream = handler.setStream(stream)
    previous_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.setLevel(previous_level)
        handler.setStream(previous_stream)


def _add_probe_routes(app: FastAPI) -> None:
    @app.get("/_probe/chatty")
    async def chatty() -> dict[str, str]:
        PROBE.info("in the handler")
        # Work handed to a task or a worker thread logs under the same id.
        await asyncio.create_task(_log_later("in a task"))
        await asyncio.to_thread(PROBE.warning, "in a worker thread")
        logging.getLogger("some.library").warning("a library line")
        return {"ok": "yes"}

    @app.get("/_probe/bug")
    async def bug() -> None:
        PROBE.info("before the bug")
        raise ZeroDivisionError("secret internal detail")


async def _log_later(text: str) -> None:
    await asyncio.sleep(0)
    PROBE.info(text)


def _client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://t")


def _record_lines(text: str) -> list[str]:
    """The first line of each log record (a trace continues on lines of its own)."""
    return [line for line in text.splitlines() if re.match(r"^\d{4}-\d\d-\d\d ", line)]


async def test_every_line_of_a_request_carries_its_request_id(app: FastAPI) -> None:
    _add_probe_routes(app)
    with service_log() as out:
        PROBE.info("outside any request")
        async with _client(app) as c:
            r = await c.get("/_probe/chatty", headers={"X-Request-ID": "audit-req-1"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "audit-req-1"

    lines = _record_lines(out.getvalue())
    [outside] = [line for line in lines if "outside any request" in line]
    assert " [-] " in outside
    during = [line for line in lines if line is not outside]
    for text in (
        "in the handler",
        "in a task",
        "in a worker thread",
        "a library line",
        "ejiaren.access: GET /_probe/chatty 200",
    ):
        assert any(text in line for line in during), (text, lines)
    assert all(" [audit-req-1] " in line for line in during), lines


async def test_a_request_without_a_usable_id_gets_a_fresh_one(app: FastAPI) -> None:
    _add_probe_routes(app)
    with service_log() as out:
        async with _client(app) as c:
            plain = await c.get("/_probe/chatty")
            # An id that could forge log lines is replaced, not copied into the log.
            forged = await c.get(
                "/_probe/chatty", headers={"X-Request-ID": "x] ejiaren.auth: login user=1"}
            )
    ids = [plain.headers["x-request-id"], forged.headers["x-request-id"]]
    assert all(GENERATED_ID.match(rid) for rid in ids), ids
    assert ids[0] != ids[1]
    text = out.getvalue()
    assert "login user=1" not in text
    for rid in ids:
        assert sum(f" [{rid}] " in line for line in _record_lines(text)) == 5


async def test_a_500_is_logged_with_its_trace_and_the_client_sees_the_envelope_only(
    app: FastAPI,
) -> None:
    _add_probe_routes(app)
    with service_log() as out:
        async with _client(app) as c:
            r = await c.get("/_probe/bug", headers={"X-Request-ID": "audit-req-500"})

    assert r.status_code == 500
    assert r.headers["x-request-id"] == "audit-req-500"
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "error": {
            "code": "internal_error",
            "message": "服务器内部错误，请稍后再试",
            "details": {"request_id": "audit-req-500"},
        }
    }
    for leak in ("secret internal detail", "ZeroDivisionError", "Traceback", "test_logging"):
        assert leak not in r.text

    text = out.getvalue()
    lines = _record_lines(text)
    assert all(" [audit-req-500] " in line for line in lines), lines
    assert any("ERROR [audit-req-500] ejiaren.access: unhandled error" in line for line in lines)
    assert any("ejiaren.access: GET /_probe/bug 500" in line for line in lines)
    # The trace follows the error line: where it happened and why.
    assert "Traceback (most recent call last)" in text
    assert 'in bug\n    raise ZeroDivisionError("secret internal detail")' in text
    assert "ZeroDivisionError: secret internal detail" in text
