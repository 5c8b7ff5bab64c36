"""The body of ``POST requests``: a form, url-encoded or multipart, read as the
spec's fields.

- Only ``application/x-www-form-urlencoded`` and ``multipart/form-data`` are
  forms; any other body (JSON, text) is refused with the types accepted.
- A url-encoded body is UTF-8, whether the client percent-encoded the text or
  sent its bytes as they are; anything else (including an encoded surrogate)
  is refused rather than stored as mojibake. Starlette's parser reads raw
  bytes as Latin-1 and turns invalid sequences into U+FFFD: this one does not.
  The text parts of a multipart body are held to UTF-8 too.
- A spec field sent as a file part is refused: it is text, never a file.
- ``attribute[code]=v`` is a string; ``attribute[code][]=v`` repeated is a list
  (the spec's multivaluelist).
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from app.open311.render import Open311Error

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
TYPE_MESSAGE = f"请求体须为表单：Content-Type 应为 {URLENCODED} 或 {MULTIPART}"

# The fields the spec defines for POST requests: text, never a file.
SPEC_FIELDS = frozenset(
    {
        "api_key",
        "jurisdiction_id",
        "service_code",
        "lat",
        "long",
        "address_string",
        "address_id",
        "email",
        "device_id",
        "account_id",
        "first_name",
        "last_name",
        "phone",
        "description",
        "media_url",
    }
)
MAX_ATTRIBUTES = 20  # codes
MAX_VALUES = 20  # values of one multivaluelist
MAX_CODE = 64
MAX_VALUE = 500


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def read_form(request: Request) -> FormData:
    kind = content_type(request)
    if kind == URLENCODED:
        form = parse_urlencoded(await request.body())
    elif kind == MULTIPART:
        form = await _multipart(request)
    else:
        raise Open311Error(400, TYPE_MESSAGE)
    for name, value in form.multi_items():
        if not isinstance(value, str) and (name in SPEC_FIELDS or name.startswith("attribute[")):
            raise Open311Error(400, f"{name} 应为文本，不能是文件")
    return form


def parse_urlencoded(body: bytes) -> FormData:
    items: list[tuple[str, str | UploadFile]] = []
    for pair in body.split(b"&"):
        if not pair:
            continue
        raw_name, _, raw_value = pair.partition(b"=")
        name = _utf8(raw_name, None)
        items.append((name, _utf8(raw_value, name)))
    return FormData(items)


def _utf8(raw: bytes, name: str | None) -> str:
    return _decoded(unquote_to_bytes(raw.replace(b"+", b" ")), name)


def _decoded(data: bytes, name: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = "参数名" if name is None else name
        raise Open311Error(400, f"{where} 不是有效的 UTF-8 文本：表单须以 UTF-8 编码") from exc


class _Utf8MultiPart(MultiPartParser):
    """Starlette's multipart parser, except that a text part that is not UTF-8
    (a GBK form, say) is refused: Starlette would read it as Latin-1."""

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            _decoded(bytes(part.data), part.field_name)
        super().on_part_end()


async def _multipart(request: Request) -> FormData:
    try:
        async with aclosing(request.stream()) as stream:
            form = await _Utf8MultiPart(request.headers, stream).parse()
    except MultiPartException as exc:
        raise Open311Error(400, f"表单有误：{exc.message}") from exc
    # No part is read as a file (the spec's fields are text, ``read_form``).
    for _, value in form.multi_items():
        if isinstance(value, UploadFile):
            await value.close()
    return form


def text(form: FormData, name: str) -> str | None:
    """The field's value, stripped; ``None`` when absent or blank."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def attributes(form: FormData) -> dict[str, Any]:
    """``attribute[code]`` → a string, ``attribute[code][]`` → a list of strings."""
    out: dict[str, str | list[str]] = {}
    for name, value in form.multi_items():
        if not name.startswith("attribute[") or not name.endswith("]"):
            continue
        assert isinstance(value, str)  # read_form refused file parts
        rest = name[len("attribute[") :]
        many = rest.endswith("][]")
        code = rest[:-3] if many else rest[:-1]
        if not code or len(code) > MAX_CODE or "[" in code or "]" in code:
            raise Open311Error(400, f"attribute 参数名无效：{name[:80]}")
        if len(value) > MAX_VALUE:
            raise Open311Error(400, f"attribute[{code}] 最长 {MAX_VALUE} 个字符")
        if code not in out and len(out) >= MAX_ATTRIBUTES:
            raise Open311Error(400, f"attribute 最多 {MAX_ATTRIBUTES} 项")
        held = out.get(code)
        if many:
            if isinstance(held, str):
                raise Open311Error(400, f"attribute[{code}] 不能既是单值又是多值")
            values = held if held is not None else []
            if len(values) >= MAX_VALUES:
                raise Open311Error(400, f"attribute[{code}][] 最多 {MAX_VALUES} 个值")
            values.append(value)
            out[code] = values
        else:
            if isinstance(held, list):
                raise Open311Error(400, f"attribute[{code}] 不能既是单值又是多值")
            out[code] = value
    return out
