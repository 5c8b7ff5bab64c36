"""A NUL character (U+0000) in what a client sends is refused before any route sees it.

PostgreSQL text cannot hold U+0000 (the statement fails with SQLSTATE 22021)
while SQLite stores it without a word: the same input was a 500 on one
database and stored garbage on the other. ``NulGuardMiddleware`` answers 422
wherever a NUL can come in:

- the path and the query string, before routing (two substring tests);
- a JSON body: the escape ``\\u0000``, scanned chunk by chunk as the body is
  received, so nothing is parsed twice, and any raw NUL byte (never in UTF-8
  JSON, but in every UTF-16 or UTF-32 body, which the JSON parser accepts
  too, and whose escapes a scan for ASCII bytes would not see);
- a url-encoded form body: ``%00`` or a raw NUL byte.

Multipart bodies are not scanned (a file holds any bytes): a route that reads
multipart text fields checks them with ``has_nul``. Paths under
``own_errors`` answer in a format of their own (Open311): their routes check
``target_has_nul`` and catch ``NulCharacter`` themselves.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NUL_MESSAGE = "文本中含有不允许的控制字符（U+0000）"
NUL_TYPE = "nul_character"

_ESCAPE = b"\\u0000"
_BACKSLASH = 0x5C


class NulCharacter(StarletteHTTPException):
    """Raised from ``receive`` when a body holds a NUL. An HTTP exception on
    purpose: FastAPI passes those on from body parsing (any other error there
    becomes a 400), and the handler in ``core.errors`` renders the 422."""

    def __init__(self, where: str = "body", name: str = "") -> None:
        super().__init__(status_code=422, detail=NUL_MESSAGE)
        self.where = where
        self.name = name


def nul_details(where: str, name: str = "") -> dict[str, Any]:
    loc = [where, name] if name else [where]
    return {"fields": [{"loc": loc, "field": name, "type": NUL_TYPE, "message": NUL_MESSAGE}]}


def has_nul(values: Iterable[Any]) -> bool:
    return any(isinstance(v, str) and "\x00" in v for v in values)


def target_has_nul(scope: Scope) -> bool:
    """A NUL in the (decoded) path or in the query string."""
    query: bytes = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def nul_location(scope: Scope) -> NulCharacter:
    """Where in the path or query the NUL is (only called once one was found)."""
    if "\x00" in scope["path"]:
        return NulCharacter("path")
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
        if "\x00" in name or "\x00" in value:
            return NulCharacter("query", name.replace("\x00", ""))
    return NulCharacter("query")


class JsonNulScanner:
    """Finds the JSON escape ``\\u0000`` in a body fed chunk by chunk. It is a
    NUL only when its backslash is not itself escaped: when an even number of
    backslashes come before it. Between chunks only an unfinished escape is
    carried over, so a chunk is copied only when one was cut there."""

    __slots__ = ("_carry",)

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, chunk: bytes) -> bool:
        if b"\x00" in chunk:  # a raw NUL: UTF-16 or UTF-32 (see the module docstring)
            return True
        data = self._carry + chunk if self._carry else chunk
        if _ESCAPE in data and _unescaped(data):
            return True
        self._carry = _open_escape(data)
        return False


def _unescaped(data: bytes) -> bool:
    start = 0
    while (at := data.find(_ESCAPE, start)) >= 0:
        before = at
        while before > 0 and data[before - 1] == _BACKSLASH:
            before -= 1
        if (at - before) % 2 == 0:
            return True
        start = at + 1
    return False


def _open_escape(data: bytes) -> bytes:
    """The unfinished escape at the end of ``data`` (``\\``, ``\\u``, … ``\\u000``)
    whose backslash is not escaped, else nothing."""
    at = data.rfind(b"\\", max(0, len(data) - 5))
    if at < 0:
        return b""
    rest = data[at + 1 :]
    if not _ESCAPE[1:].startswith(rest):
        return b""
    before = at
    while before > 0 and data[before - 1] == _BACKSLASH:
        before -= 1
    return data[at:] if (at - before) % 2 == 0 else b""


class FormNulScanner:
    """``%00`` or a raw NUL in a url-encoded body fed chunk by chunk."""

    __slots__ = ("_tail",)

    def __init__(self) -> None:
        self._tail = b""

    def feed(self, chunk: bytes) -> bool:
        if b"\x00" in chunk or b"%00" in chunk or b"%00" in self._tail + chunk[:2]:
            return True
        self._tail = (self._tail + chunk)[-2:] if len(chunk) < 2 else chunk[-2:]
        return False


def _scanner(scope: Scope) -> JsonNulScanner | FormNulScanner | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            if kind.startswith(b"multipart/"):
                return None
            if kind == b"application/x-www-form-urlencoded":
                return FormNulScanner()
            break
    # JSON, or what FastAPI parses as JSON (no content type at all).
    return JsonNulScanner()


class NulGuardMiddleware:
    def __init__(self, app: ASGIApp, own_errors: tuple[str, ...] = ()) -> None:
        self.app = app
        self.own_errors = own_errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if target_has_nul(scope) and not scope["path"].startswith(self.own_errors):
            await _refuse(nul_location(scope), send)
            return
        scanner = _scanner(scope)
        if scanner is None:
            await self.app(scope, receive, send)
            return

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and scanner.feed(message.get("body", b"")):
                raise NulCharacter()
            return message

        await self.app(scope, checked_receive, send)


async def _refuse(exc: NulCharacter, send: Send) -> None:
    body = json.dumps(
        {
            "error": {
                "code": "validation_error",
                "message": NUL_MESSAGE,
                "details": nul_details(exc.where, exc.name),
            }
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# Characters XML 1.0 cannot carry, escaped or not: C0 controls other than tab,
# newline and carriage return; U+FFFE and U+FFFF; lone surrogates.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """``text`` without the characters an XML document cannot hold (an Excel
    file is XML too). Residents and staff may type them (a pasted form feed, an
    escape from a broken keyboard); JSON carries them escaped, but written into
    an Open311 XML answer or an export they make the whole document unreadable
    for everyone, so the formats made of XML drop them."""
    return _NOT_XML.sub("", text)
