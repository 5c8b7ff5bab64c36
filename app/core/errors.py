"""One error type for the whole service and the one envelope every error is rendered in.

Services raise ``AppError`` subclasses (never ``HTTPException``); the handlers
installed by ``install_error_handlers`` turn them, validation errors, unknown
routes and unexpected exceptions alike into
``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.request_context import request_id_var
from app.core.textguard import NUL_MESSAGE, NulCharacter, nul_details

log = logging.getLogger("ejiaren.errors")


class AppError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    message: str = "请求有误"

    def __init__(
        self,
        code: str | None = None,
        message: str | None = None,
        *,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code or self.code
        self.message = message or self.message
        self.details = details or {}
        self.headers = headers
        super().__init__(f"{self.code}: {self.message}")


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401
    code = "auth.unauthorized"
    message = "请先登录"


class Forbidden(AppError):
    status_code = 403
    code = "auth.forbidden"
    message = "无权执行此操作"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "对象不存在"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "操作与当前状态冲突"


class Invalid(AppError):
    """Input that passed the schema but breaks a rule (422 with ``details``)."""

    status_code = 422
    code = "validation_error"
    message = "输入有误"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    message = "请求过于频繁，请稍后再试"

    def __init__(self, retry_after: int, code: str | None = None, message: str | None = None):
        super().__init__(
            code,
            message,
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class UpstreamError(AppError):
    status_code = 502
    code = "upstream.error"
    message = "外部服务暂时不可用，请稍后再试"


class Unavailable(AppError):
    status_code = 503
    code = "service.unavailable"
    message = "服务暂不可用"


class DatabaseUnavailable(Unavailable):
    """The database could not be reached or refused a connection (down,
    restarting, out of connections): the client may retry."""

    message = "服务繁忙，请稍后再试"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


# SQLSTATE classes of a database that cannot serve now rather than of a bad
# statement: connection exceptions, insufficient resources (too many
# connections, out of memory or disk), operator intervention (shutting down,
# starting up), and a database that does not exist (yet).
UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "3D000")


def sqlstate(exc: Exception) -> str:
    """The SQLSTATE of the driver error behind ``exc`` (PostgreSQL), else ""."""
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state if isinstance(state, str) else ""


def concurrent_update(exc: Exception) -> bool:
    """A deadlock victim (40P01) or a serialization failure (40001)."""
    return sqlstate(exc) in ("40P01", "40001")


def unavailable_sqlstate(exc: Exception) -> bool:
    state = sqlstate(exc)
    return bool(state) and state.startswith(UNAVAILABLE_SQLSTATES)


class ErrorBody(BaseModel):
    code: str = Field(description="稳定的机器可读错误码，如 report.illegal_transition")
    message: str = Field(description="可直接展示给用户的中文说明")
    details: dict[str, Any] = Field(default_factory=dict, description="补充信息，如出错的字段")


class ErrorEnvelope(BaseModel):
    error: ErrorBody = Field(description="错误信息")


_STATUS_TEXT = {
    400: "请求有误",
    401: "请先登录",
    403: "无权执行此操作",
    404: "对象不存在",
    409: "操作与当前状态冲突",
    422: "输入有误",
    429: "请求过于频繁，请稍后再试",
    503: "服务暂不可用",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the error statuses a route may answer."""
    return {
        s: {"model": ErrorEnvelope, "description": _STATUS_TEXT.get(s, "错误")} for s in statuses
    }


def envelope(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


NOT_JSON = "请求体不是有效的 JSON"

_VALIDATION_MESSAGES = {
    "missing": "缺少必填字段",
    "string_too_short": "太短",
    "string_too_long": "太长",
    "too_short": "数量太少",
    "too_long": "数量太多",
    "less_than_equal": "数值太大",
    "greater_than_equal": "数值太小",
    "less_than": "数值太大",
    "greater_than": "数值太小",
    "int_parsing": "应为整数",
    "float_parsing": "应为数字",
    "bool_parsing": "应为布尔值",
    "enum": "取值不在允许范围内",
    "literal_error": "取值不在允许范围内",
    "json_invalid": NOT_JSON,
    "model_attributes_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为数组",
    "string_type": "应为字符串",
    "date_from_datetime_parsing": "日期格式错误",
    "date_parsing": "日期格式错误",
    "datetime_parsing": "时间格式错误",
    "datetime_from_date_parsing": "时间格式错误",
    "value_error": "取值无效",
}

# The bound pydantic names in ``ctx``, said after the message: "数值太大（最大 100）".
_BOUNDS = {
    "less_than_equal": ("le", "最大"),
    "greater_than_equal": ("ge", "最小"),
    "less_than": ("lt", "须小于"),
    "greater_than": ("gt", "须大于"),
}


def _message(kind: str, err: Any) -> str:
    ctx = err.get("ctx") or {}
    if kind == "value_error" and ctx.get("error") is not None:
        # Our own validators raise ValueError with a Chinese sentence: keep it.
        return str(ctx["error"])
    # pydantic says "too_short" for a length bound inside an Annotated chain
    # even on a string: the input tells text (characters) from a list (items).
    text = isinstance(err.get("input"), str)
    if kind in ("string_too_short", "too_short") and "min_length" in ctx:
        unit = "个字符" if text or kind.startswith("string") else "项"
        word = "太短" if unit == "个字符" else "数量太少"
        return f"{word}（至少 {ctx['min_length']} {unit}）"
    if kind in ("string_too_long", "too_long") and "max_length" in ctx:
        unit = "个字符" if text or kind.startswith("string") else "项"
        word = "太长" if unit == "个字符" else "数量太多"
        return f"{word}（最多 {ctx['max_length']} {unit}）"
    msg = _VALIDATION_MESSAGES.get(kind, "取值无效")
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, word = _BOUNDS[kind]
        msg = f"{msg}（{word} {ctx[key]}）"
    return msg


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        kind = err.get("type", "")
        # A JSON syntax error's loc is the character position, not a field.
        field = "" if kind == "json_invalid" else ".".join(loc[1:]) or ".".join(loc)
        fields.append({"loc": loc, "field": field, "type": kind, "message": _message(kind, err)})
    return fields


def invalid_field(where: str, name: str, message: str, kind: str = "value_error") -> Invalid:
    """A 422 ``validation_error`` for one field a handler checked itself, in
    the shape the request validator gives (``details.fields``)."""
    field = {"loc": [where, name], "field": name, "type": kind, "message": message}
    return Invalid("validation_error", message, details={"fields": [field]})


def _not_json(exc: Exception) -> JSONResponse:
    message = NOT_JSON
    if isinstance(exc, UnicodeDecodeError):
        message = f"{NOT_JSON}（须为 UTF-8 编码）"
    field = {"loc": ["body"], "field": "", "type": "json_invalid", "message": message}
    return envelope(422, "validation_error", message, {"fields": [field]})


INT64_MAX = 2**63 - 1


def _too_large_in(value: Any, loc: list[str]) -> Iterator[list[str]]:
    """Where in a parsed JSON value (or a path or query string) a whole number
    lies outside a 64-bit column, as written or as digits in a string (which
    pydantic also takes for an int)."""
    if isinstance(value, bool):
        return
    if isinstance(value, str):
        digits = value.strip().removeprefix("-").lstrip("0")
        if not (digits.isascii() and digits.isdigit() and len(digits) >= 19):
            return
        if len(digits) > 19:  # not converted: int() refuses over 4,300 digits
            yield loc
            return
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            yield loc
    elif isinstance(value, dict):
        for key, child in value.items():
            yield from _too_large_in(child, [*loc, str(key)])
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _too_large_in(child, [*loc, str(i)])


def _too_large_fields(request: Request) -> list[dict[str, Any]]:
    """Which inputs of ``request`` held the number the driver refused. Only on
    that error path: the body is the one the route already read (Starlette
    keeps it on the request the handlers get; the stream cannot be read twice)."""
    locs = list(_too_large_in(dict(request.path_params), ["path"]))
    locs += _too_large_in(dict(request.query_params), ["query"])
    raw = getattr(request, "_body", None)
    if raw:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            body = None
        locs += _too_large_in(body, ["body"])
    return [
        {
            "loc": loc,
            "field": ".".join(loc[1:]),
            "type": "int_too_large",
            "message": "数值超出范围（最大为 2^63-1）",
        }
        for loc in locs
    ]


# Paths that answer errors in a format of their own (Open311's spec): the path
# prefix, and what renders (path, status, message) as that format.
OwnFormat = Callable[[str, int, str], Response]
_OWN_FORMATS: dict[str, OwnFormat] = {}


def own_error_format(prefix: str, render: OwnFormat) -> None:
    """Errors raised before a route runs (no such method, a body too large) on
    paths under ``prefix`` are answered by ``render`` instead of the envelope."""
    _OWN_FORMATS[prefix] = render


def own_format_for(path: str) -> OwnFormat | None:
    return next((r for prefix, r in _OWN_FORMATS.items() if path.startswith(prefix)), None)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return envelope(exc.status_code, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = _field_errors(exc)
        first = fields[0] if fields else None
        message = "输入有误"
        if first and first["type"] == "json_invalid":
            message = first["message"]
        elif first:
            message = f"输入有误：{first['field'] or '请求体'} {first['message']}"
        return envelope(422, "validation_error", message, {"fields": fields})

    @app.exception_handler(NulCharacter)
    async def _nul(_: Request, exc: NulCharacter) -> JSONResponse:
        return envelope(422, "validation_error", NUL_MESSAGE, nul_details(exc.where, exc.name))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI's "error parsing the body": not UTF-8, or nested too deep.
            return _not_json(exc.__cause__)
        code = {
            404: "http.not_found",
            405: "http.method_not_allowed",
            413: "http.payload_too_large",
        }.get(exc.status_code, f"http.{exc.status_code}")
        message = {404: "接口不存在", 405: "不支持的请求方法", 413: "请求体太大"}.get(
            exc.status_code, _STATUS_TEXT.get(exc.status_code, "请求有误")
        )
        headers = getattr(exc, "headers", None)
        own = own_format_for(request.url.path)
        if own is not None:
            answer = own(request.url.path, exc.status_code, message)
            answer.headers.update(headers or {})
            return answer
        return envelope(exc.status_code, code, message, headers=headers)

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return envelope(409, "conflict", "数据冲突，请刷新后重试")

    @app.exception_handler(StaleDataError)
    async def _stale(_: Request, exc: StaleDataError) -> JSONResponse:
        # Optimistic lock: someone else changed the row between our read and write.
        return envelope(409, "conflict.concurrent_update", "数据已被他人修改，请刷新后重试")

    # A number too large for a 64-bit column (an id from a client, in a path,
    # query or body that declares no bound) fails in the driver, not in
    # validation: SQLite raises OverflowError, asyncpg "out of int64 range".
    def _number_too_large(request: Request) -> JSONResponse:
        log.warning("integer out of range in %s %s", request.method, request.url.path)
        fields = _too_large_fields(request)
        if not fields:
            return envelope(422, "validation_error", "输入有误：数值超出范围（id 最大为 2^63-1）")
        message = f"输入有误：{fields[0]['field']} {fields[0]['message']}"
        return envelope(422, "validation_error", message, {"fields": fields})

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        if not too_large_for_db(exc):
            raise exc
        return _number_too_large(request)

    # A lone UTF-16 surrogate (JSON "\ud800" unpaired) is a str Python holds
    # but no UTF-8 encoder takes: sqlite3 raises UnicodeEncodeError, asyncpg
    # a DataError, and rendering it back would fail the same way.
    @app.exception_handler(UnicodeEncodeError)
    async def _unencodable(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        if not lone_surrogate(exc):
            raise exc
        return _lone_surrogate(request)

    def _lone_surrogate(request: Request) -> JSONResponse:
        log.warning("lone surrogate in %s %s", request.method, request.url.path)
        return envelope(422, "validation_error", SURROGATE_MESSAGE)

    @app.exception_handler(DBAPIError)
    async def _dbapi(request: Request, exc: DBAPIError) -> Response:
        if (busy := database_unavailable(exc)) is not None:
            return await _app_error(request, busy)
        if concurrent_update(exc):
            # PostgreSQL chose this transaction as a deadlock's victim (or a
            # serializable one failed): it is rolled back whole, the other went
            # through; the client may retry on what the other did.
            log.warning("concurrent update refused: %s", exc.orig)
            return envelope(409, "conflict.concurrent_update", "数据已被他人修改，请刷新后重试")
        if isinstance(exc, IntegrityError):
            raise exc
        if not_in_repertoire(exc):
            # A NUL that got past the guard (core.textguard): still the client's input.
            log.warning("text refused by the database in %s %s", request.method, request.url.path)
            return envelope(422, "validation_error", NUL_MESSAGE, nul_details("body"))
        if lone_surrogate(exc):
            return _lone_surrogate(request)
        if not too_large_for_db(exc):
            raise exc
        return _number_too_large(request)

    @app.exception_handler(PoolTimeout)
    async def _pool_timeout(request: Request, exc: PoolTimeout) -> Response:
        busy = database_unavailable(exc)
        assert busy is not None
        return await _app_error(request, busy)


def database_unavailable(exc: Exception) -> AppError | None:
    """The answer (503, retry) when ``exc`` says the database cannot serve now
    rather than that the request or the code is wrong; ``None`` otherwise. Logged
    here, once, for every format that answers it (the envelope, Open311)."""
    if isinstance(exc, PoolTimeout):
        # Every database connection of this process stayed busy for
        # EJIAREN_DB_POOL_TIMEOUT: overloaded, not broken.
        log.warning("database pool exhausted: %s", exc)
        return Unavailable("service.busy", "服务繁忙，请稍后再试", headers={"Retry-After": "2"})
    if isinstance(exc, DatabaseUnavailable):  # raised at connect (core.db)
        return exc
    if not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
        return None
    if exc.connection_invalidated:
        # The connection died under the statement (the database restarted or
        # failed over); the pool has let go of it.
        log.error("database connection lost: %s", exc.orig)
    elif isinstance(exc, OperationalError) or unavailable_sqlstate(exc):
        # SQLite: locked past its busy timeout, or its file unreadable;
        # PostgreSQL: refusing connections, shutting down, out of resources.
        log.error("database unavailable: %s", exc.orig)
    else:
        return None
    return DatabaseUnavailable()


# Unique violations: every create that checks for a duplicate before it
# inserts (staff usernames and roles, departments, categories) answers the
# loser of two requests that passed the check at once as it answers the second
# of two in a row.

_PG_UNIQUE_VIOLATION = "23505"
_SQLITE_UNIQUE = "UNIQUE constraint failed: "


def _sqlite_target(name: str) -> str | None:
    """How SQLite names constraint ``name`` when it refuses a duplicate: the
    columns of a unique constraint ("t.a, t.b"); None for an index, which
    SQLite names itself ("index 'name'")."""
    from app.core.orm import Base  # the models, not needed to import this module

    for tbl in Base.metadata.tables.values():
        for constraint in tbl.constraints:
            if isinstance(constraint, UniqueConstraint) and constraint.name == name:
                return ", ".join(f"{tbl.name}.{c.name}" for c in constraint.columns)
    return None


def unique_violation(exc: IntegrityError, *names: str) -> bool:
    """Whether ``exc`` is one of the unique constraints or unique indexes
    ``names`` refusing a duplicate (not a foreign key, a NOT NULL, or another
    unique constraint of the same table)."""
    orig = exc.orig
    state = sqlstate(exc)
    if state:  # PostgreSQL
        if state != _PG_UNIQUE_VIOLATION:
            return False
        # asyncpg's own error is the adapted one's cause; psycopg has ``diag``.
        name = getattr(getattr(orig, "__cause__", None), "constraint_name", None) or getattr(
            getattr(orig, "diag", None), "constraint_name", None
        )
        return name in names
    text = str(orig)
    if not text.startswith(_SQLITE_UNIQUE):
        return False
    target = text.removeprefix(_SQLITE_UNIQUE)
    return any(target in (f"index '{name}'", _sqlite_target(name)) for name in names)


@contextmanager
def duplicate_is(error: AppError, *names: str) -> Iterator[None]:
    """Around the flush of a create that checked for a duplicate first: when
    two requests pass the check at once, the database lets one through and
    refuses the other with a unique violation of ``names``, which is answered
    as ``error``, the answer the check gives sequentially (not the generic
    409 ``conflict``). Any other integrity error goes on unchanged."""
    try:
        yield
    except IntegrityError as exc:
        if unique_violation(exc, *names):
            raise error from exc
        raise


def too_large_for_db(exc: Exception) -> bool:
    """A whole number the driver could not fit in a 64-bit column."""
    text = str(exc)
    return "too large to convert to SQLite INTEGER" in text or "out of int64 range" in text


def not_in_repertoire(exc: Exception) -> bool:
    """PostgreSQL refused text it cannot store (a NUL): SQLSTATE 22021."""
    return isinstance(exc, DBAPIError) and sqlstate(exc) == "22021"


SURROGATE_MESSAGE = "文本中含有无效的字符（不成对的 UTF-16 代理项）"


def lone_surrogate(exc: Exception) -> bool:
    """Text with a lone surrogate that a driver or the response could not
    encode, or that PostgreSQL refused inside a JSON value (the JSON encoder
    escapes it as ``\\udc00``, which ``json`` and ``jsonb`` reject: "Unicode
    low surrogate must follow a high surrogate")."""
    texts: list[str] = []
    seen: BaseException | None = exc
    for _ in range(4):  # the error, the DB-API error, the driver's (with its DETAIL)
        if seen is None:
            break
        texts += [str(seen), str(getattr(seen, "detail", None) or "")]
        seen = getattr(seen, "orig", None) or seen.__cause__
    text = " ".join(texts)
    return "surrogates not allowed" in text or "surrogate must" in text


def internal_error_response() -> JSONResponse:
    """What a client sees of a bug: the generic message and the request id, no trace."""
    return envelope(
        500, "internal_error", "服务器内部错误，请稍后再试", {"request_id": request_id_var.get()}
    )
