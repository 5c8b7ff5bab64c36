"""Open311 GeoReport v2 at ``/open311/v2/`` (DESIGN §9): discovery, services,
service definitions, requests (GET and POST), one request, and tokens, each
as ``.json`` or ``.xml``. Errors follow the spec, not our envelope."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.principal import Principal
from app.core import clock
from app.core.db import SessionDep, mark_failed
from app.core.errors import (
    INT64_MAX,
    SURROGATE_MESSAGE,
    AppError,
    RateLimited,
    Unavailable,
    concurrent_update,
    database_unavailable,
    lone_surrogate,
    not_in_repertoire,
    too_large_for_db,
)
from app.core.settings import Settings
from app.core.textguard import NUL_MESSAGE, NulCharacter, has_nul, target_has_nul
from app.core.timewin import RANGE_MESSAGE, in_range
from app.integrations import service as integrations
from app.open311 import service
from app.open311.form import attributes as form_attributes
from app.open311.form import read_form
from app.open311.form import text as form_text
from app.open311.render import Format, Open311Error, error_response, format_of, respond
from app.org import service as org_service
from app.reports import service as report_service
from app.reports.schemas import Location, ReportCreate
from app.reports.schemas import _trimmed as trimmed

log = logging.getLogger("ejiaren.open311")

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
# The spec's default: the last 90 days, or the first 1000 requests.
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 1000
MAX_IDS = 1000
DEFAULT_CONTACT = "e家人：请通过 API Key 的申请渠道联系"


class Open311Route(APIRoute):
    """Every error under /open311/v2/ in the spec's format, in the format asked for."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            fmt = format_of(request.url.path)
            if target_has_nul(request.scope):
                return error_response(fmt, Open311Error(400, NUL_MESSAGE))
            try:
                return await handler(request)
            except Exception as exc:
                # The error is answered here, inside the request's transaction:
                # whatever the handler wrote before it is rolled back.
                mark_failed(request)
                return error_response(fmt, _spec_error(exc))

        return route


def _spec_error(exc: Exception) -> Open311Error:
    """The spec's error for what a handler raised."""
    if isinstance(exc, Open311Error):
        return exc
    if isinstance(exc, RateLimited):
        return Open311Error(429, exc.message, exc.headers)
    if (busy := database_unavailable(exc)) is not None:
        return Open311Error(busy.status_code, busy.message, busy.headers)
    if concurrent_update(exc):
        return Open311Error(409, "数据已被他人修改，请重试")
    if isinstance(exc, AppError):
        status = 400 if exc.status_code == 422 else exc.status_code
        return Open311Error(status, exc.message, exc.headers)
    if isinstance(exc, RequestValidationError):
        return Open311Error(400, "请求参数有误")
    if isinstance(exc, NulCharacter):
        return Open311Error(400, NUL_MESSAGE)
    if isinstance(exc, StarletteHTTPException):
        return Open311Error(exc.status_code, "请求有误")
    # What the app's handlers answer 422 to (core.errors) is the client's input
    # here too, never a 500.
    if not_in_repertoire(exc):
        return Open311Error(400, NUL_MESSAGE)
    if lone_surrogate(exc):
        return Open311Error(400, SURROGATE_MESSAGE)
    if too_large_for_db(exc):
        return Open311Error(400, "数值超出范围")
    log.exception("open311 request failed", exc_info=exc)
    return Open311Error(500, "服务器内部错误，请稍后再试")


_ERRORS_SCHEMA = {
    "type": "array",
    "description": "规范的错误格式：一项或多项错误（XML 为 <errors><error>…</error></errors>）",
    "items": {
        "type": "object",
        "properties": {
            "code": {"type": "integer", "description": "HTTP 状态码"},
            "description": {"type": "string", "description": "错误说明（中文）"},
        },
        "required": ["code", "description"],
    },
}
_ERROR_TEXT = {
    400: "参数有误（说明中给出规范的参数名，如 lat、long、address_string）",
    403: "api_key 缺失、无效、已吊销或没有所需权限",
    404: "对象或格式不存在",
    429: "api_key 调用太频繁（带 Retry-After）",
    503: "服务繁忙，稍后重试（带 Retry-After）",
}


def _responses(success: int, *errors: int) -> dict[int | str, dict[str, Any]]:
    """What an Open311 route answers, in both formats: its success and the
    spec's error list (``[{"code", "description"}]``, or ``<errors>`` in XML).
    ``default`` stands for the rest (405, 413, 500), in the same format; it
    also keeps FastAPI from advertising a 422 the routes never give."""
    content = {
        "application/json": {"schema": _ERRORS_SCHEMA},
        "text/xml": {"schema": {"type": "string"}},
    }
    out: dict[int | str, dict[str, Any]] = {
        success: {"content": {"text/xml": {"schema": {"type": "string"}}}},
    }
    for status in errors:
        out[status] = {"description": _ERROR_TEXT[status], "content": content}
    out["default"] = {
        "description": "其他错误（405 方法不支持、413 请求体过大、500 服务器错误），格式同上",
        "content": content,
    }
    return out


def _query_param(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


_API_KEY_PARAM = _query_param(
    "api_key", "API Key（须有 reports:read 权限；也可放在请求头 X-API-Key）"
)
LIST_PARAMS = {
    "parameters": [
        _API_KEY_PARAM,
        _query_param(
            "service_request_id",
            f"诉求编号，逗号分隔，最多 {MAX_IDS} 个；给出时忽略其他条件",
            examples=["101,102"],
        ),
        _query_param("service_code", "服务代码（类别），逗号分隔", examples=["environment"]),
        _query_param(
            "start_date",
            "W3C 时间（须带时区），含；只给它时查其后 90 天",
            format="date-time",
            examples=["2026-11-01T00:00:00+08:00"],
        ),
        _query_param(
            "end_date",
            "W3C 时间（须带时区），含该秒；只给它时查其前 90 天；与 start_date 相隔不超过 90 天",
            format="date-time",
        ),
        _query_param("status", "open 或 closed，逗号分隔", examples=["open"]),
        _query_param("jurisdiction_id", "本服务只有一个辖区，忽略"),
        {
            "name": "page",
            "in": "query",
            "required": False,
            "description": "页码，从 1 起（扩展参数）",
            "schema": {"type": "integer", "minimum": 1, "maximum": 10_000, "default": 1},
        },
        {
            "name": "page_size",
            "in": "query",
            "required": False,
            "description": f"每页条数（扩展参数），默认与最大均为 {MAX_PAGE_SIZE}",
            "schema": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_PAGE_SIZE,
                "default": DEFAULT_PAGE_SIZE,
            },
        },
    ]
}
READ_PARAMS = {"parameters": [_API_KEY_PARAM]}


def _field(description: str, **schema: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **schema}


_POST_SCHEMA = {
    "type": "object",
    "required": ["api_key", "service_code", "description"],
    "properties": {
        "api_key": _field("API Key（须有 reports:write 权限；也可放在请求头 X-API-Key）"),
        "service_code": _field("服务代码（类别），见 services", examples=["environment"]),
        "lat": _field("纬度（WGS-84），与 long 同时给出", examples=["35.0815"]),
        "long": _field("经度（WGS-84），与 lat 同时给出", examples=["112.932"]),
        "address_string": _field(
            "地址描述，最多 200 字；没有 lat/long 时必填", examples=["沁水湾小区3号楼"]
        ),
        "address_id": _field("不支持：请用 lat/long 或 address_string"),
        "description": _field("描述，去掉首尾空白后 5–1000 字"),
        "media_url": _field("照片地址，http(s)，最长 500 字符", format="uri"),
        "jurisdiction_id": _field("忽略"),
        "email": _field("不保存"),
        "device_id": _field("不保存"),
        "account_id": _field("不保存"),
        "first_name": _field("不保存"),
        "last_name": _field("不保存"),
        "phone": _field("不保存"),
    },
    "additionalProperties": {
        "type": "string",
        "description": "attribute[代码]=值；多选为 attribute[代码][]=值（可重复）",
    },
}
POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": _POST_SCHEMA},
            "multipart/form-data": {"schema": _POST_SCHEMA},
        },
    }
}


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)

FormatPath = Annotated[
    str, Path(description="响应格式：json 或 xml", json_schema_extra={"enum": ["json", "xml"]})
]


def _fmt(value: str) -> Format:
    if value not in ("json", "xml"):
        raise Open311Error(404, "format must be json or xml")
    return value  # type: ignore[return-value]


def _settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def _base_url(request: Request) -> str:
    """Where absolute URLs point: ``EJIAREN_PUBLIC_URL`` when set (production),
    else the address the request came to (development)."""
    return _settings(request).public_url or str(request.base_url).rstrip("/")


async def _client(
    request: Request, session: SessionDep, key: str | None, scope: str
) -> Principal | None:
    """The API client named by ``api_key`` (parameter) or ``X-API-Key``; the
    spec answers an unusable key with 403."""
    key = key or request.headers.get("x-api-key")
    if not key:
        return None
    try:
        principal = await integrations.authenticate(request, session, _settings(request), key)
    except (RateLimited, Unavailable):
        raise  # a busy limit or database is not the key's fault (``_spec_error``)
    except AppError as exc:
        raise Open311Error(403, "api_key 无效或已吊销") from exc
    if not principal.has_scope(scope):
        raise Open311Error(403, f"api_key 没有 {scope} 权限")
    return principal


# ------------------------------------------------------------------ discovery, services


@router.get(
    "/discovery.{format}", summary="Open311 discovery", responses=_responses(200, 400, 404, 503)
)
async def discovery(request: Request, session: SessionDep, format: FormatPath) -> Response:
    """端点说明：规范地址、本端点地址、支持的格式。`changeset` 为服务（类别）列表或定义
    最近一次变化的时间。"""
    fmt = _fmt(format)
    changeset = service.w3c(await service.changeset(session))
    body = {
        "changeset": changeset,
        "contact": _settings(request).open311_contact.strip() or DEFAULT_CONTACT,
        "key_service": "API Key 由区级管理员在管理端创建（POST /api/v1/admin/api-clients）",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": f"{_base_url(request)}/open311/v2",
                "changeset": changeset,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", body)


@router.get(
    "/services.{format}",
    summary="Open311 服务列表（诉求类别）",
    responses=_responses(200, 400, 404, 503),
)
async def services(session: SessionDep, format: FormatPath) -> Response:
    """公开的诉求类别（不含一键求助）：`service_code` 为类别代码，`group` 为诉求类型。"""
    fmt = _fmt(format)
    rows = await service.list_services(session)
    return respond(fmt, "services", [service.service_dict(c) for c in rows])


@router.get(
    "/services/{service_code}.{format}",
    summary="Open311 服务定义",
    responses=_responses(200, 400, 404, 503),
)
async def service_definition(
    session: SessionDep, service_code: str, format: FormatPath
) -> Response:
    """目前各类别没有附加问题，`attributes` 为空列表。"""
    fmt = _fmt(format)
    category = await service.get_service(session, service_code)
    if category is None:
        raise Open311Error(404, f"service_code {service_code} not found")
    return respond(fmt, "service_definition", service.definition_dict(category))


# ------------------------------------------------------------------ requests


def _parse_time(name: str, value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{name} 应为 W3C 时间，如 2026-11-01T00:00:00+08:00") from exc
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name} 须带时区，如 2026-11-01T00:00:00Z")
    if not in_range(parsed):
        raise Open311Error(400, f"{name}：{RANGE_MESSAGE}")
    return parsed


def _parse_int(name: str, value: str | None, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name} 应为整数") from exc
    if not lo <= number <= hi:
        raise Open311Error(400, f"{name} 应在 {lo}–{hi} 之间")
    return number


def _id(value: str) -> int | None:
    """A case id as the database can hold it: ASCII digits up to 2^63-1
    (``int`` alone takes "+1", "1_0", "²", any length)."""
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        return None
    number = int(value)
    return number if number <= INT64_MAX else None


def _values(request: Request, name: str) -> list[str]:
    """A list parameter: repeated parameters are merged as if comma-joined, and
    empty elements dropped (``status=`` or ``status=,`` is not declared)."""
    return [
        part.strip()
        for value in request.query_params.getlist(name)
        for part in value.split(",")
        if part.strip()
    ]


def _ids(request: Request) -> list[int] | None:
    given = _values(request, "service_request_id")
    ids: list[int] = []
    for value in given:
        number = _id(value)
        if number is None:
            raise Open311Error(400, "service_request_id 应为逗号分隔的编号")
        if number not in ids:
            ids.append(number)
            if len(ids) > MAX_IDS:
                raise Open311Error(400, f"service_request_id 最多 {MAX_IDS} 个")
    return ids or None


def _window(request: Request) -> tuple[datetime, datetime]:
    """``[start, end)`` of requested_datetime. An explicit ``end_date`` takes its
    whole second (requested_datetime is shown to the second), so a start equal
    to the end is a one-second window. Without dates: the last 90 days; with
    one of them: 90 days from (or up to) it. A start in the future with no end
    is an empty window, not an error."""
    params = request.query_params
    start = _parse_time("start_date", params.get("start_date"))
    end = _parse_time("end_date", params.get("end_date"))
    now = clock.now()
    if end is not None:
        if start is not None:
            if end < start:
                raise Open311Error(400, "end_date 不能早于 start_date")
            if end - start > service.WINDOW:
                raise Open311Error(400, "start_date 与 end_date 相隔不能超过 90 天")
        else:
            start = end - service.WINDOW
        return start, end.replace(microsecond=0) + timedelta(seconds=1)
    if start is None:
        return now - service.WINDOW, now
    return start, max(start, min(start + service.WINDOW, now))


def _query(request: Request) -> service.Query:
    params = request.query_params
    ids = _ids(request)
    codes = _values(request, "service_code") or None
    statuses = set(_values(request, "status")) or None
    if statuses is not None and not statuses <= {"open", "closed"}:
        raise Open311Error(400, "status 只能是 open 或 closed")
    start, end = _window(request)
    return service.Query(
        ids=ids,
        codes=codes,
        start=start,
        end=end,
        statuses=statuses,
        page=_parse_int("page", params.get("page"), 1, 1, 10_000),
        page_size=_parse_int(
            "page_size", params.get("page_size"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE
        ),
    )


async def _reader(request: Request, session: SessionDep) -> Principal | None:
    principal = await _client(request, session, request.query_params.get("api_key"), "reports:read")
    if principal is None and not _settings(request).open311_public_read:
        raise Open311Error(403, "需要 api_key（reports:read 权限）")
    return principal


@router.get(
    "/requests.{format}",
    summary="Open311 查询诉求",
    responses=_responses(200, 400, 403, 404, 429, 503),
    openapi_extra=LIST_PARAMS,
)
async def list_requests(request: Request, session: SessionDep, format: FormatPath) -> Response:
    """参数：`service_request_id`（逗号分隔，最多 1000 个，给出时忽略其他条件）、
    `service_code`（逗号分隔）、`start_date`/`end_date`（W3C 时间；都不给时为最近 90 天，
    相隔不超过 90 天，`end_date` 含其所在的那一秒）、`status`（open / closed，逗号分隔）、
    `page`（从 1 起）与 `page_size`（默认与最大均为 1000）。重复给出的参数合并，空值视为未给。
    新的在前。带 `api_key`（或 `X-API-Key`，须有 reports:read）时返回该 Key 区域内与其提交的诉求；
    不带时仅在开启公开查询时返回问题类诉求的公开视图（无地址、坐标与照片），否则 403。"""
    fmt = _fmt(format)
    principal = await _reader(request, session)
    query = _query(request)
    rows = await service.find_requests(session, principal, query)
    items = await service.request_dicts(
        session,
        rows,
        principal=principal,
        settings=_settings(request),
        base_url=_base_url(request),
    )
    return respond(fmt, "service_requests", items)


@router.get(
    "/requests/{service_request_id}.{format}",
    summary="Open311 查询一件诉求",
    responses=_responses(200, 400, 403, 404, 429, 503),
    openapi_extra=READ_PARAMS,
)
async def get_request(
    request: Request, session: SessionDep, service_request_id: str, format: FormatPath
) -> Response:
    """返回只含一项的列表（规范如此）；不存在或不可见 404。"""
    fmt = _fmt(format)
    principal = await _reader(request, session)
    found = None
    report_id = _id(service_request_id)
    if report_id is not None:
        found = await service.get_request(session, principal, report_id)
    if found is None:
        raise Open311Error(404, f"service_request_id {service_request_id} not found")
    items = await service.request_dicts(
        session,
        [found],
        principal=principal,
        settings=_settings(request),
        base_url=_base_url(request),
    )
    return respond(fmt, "service_requests", items)


@router.get(
    "/tokens/{token}.{format}",
    summary="Open311 由 token 查诉求编号",
    responses=_responses(200, 400, 404, 503),
)
async def get_token(session: SessionDep, token: str, format: FormatPath) -> Response:
    fmt = _fmt(format)
    row = await service.find_token(session, token)
    if row is None:
        raise Open311Error(404, "token not found")
    return respond(
        fmt,
        "service_requests",
        [{"service_request_id": str(row.report_id), "token": row.token}],
    )


_BOUNDS = {"lat": 90.0, "long": 180.0}


def _coordinate(form: FormData, name: str) -> float | None:
    value = form_text(form, name)
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name} 应为数字（WGS-84 十进制度）") from exc
    if not math.isfinite(number):
        raise Open311Error(400, f"{name} 应为有限的数值")
    bound = _BOUNDS[name]
    if not -bound <= number <= bound:
        raise Open311Error(400, f"{name} 应在 -{bound:g} 到 {bound:g} 之间")
    return number


MAX_DESCRIPTION = 1000
MIN_DESCRIPTION = 5
MAX_ADDRESS = 200
# What ReportCreate's fields are called in the spec.
_SPEC_NAMES = {"location": "lat/long", "lat": "lat", "lng": "long", "address": "address_string"}


def _description(form: FormData) -> str:
    """The domain's rule (5–1000 characters once trimmed), in the spec's words."""
    value = form.get("description")
    text = trimmed(value) if isinstance(value, str) else ""
    if len(text or "") < MIN_DESCRIPTION:
        raise Open311Error(400, f"description 必填，去掉首尾空白后至少 {MIN_DESCRIPTION} 个字")
    assert text is not None
    if len(text) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description 最多 {MAX_DESCRIPTION} 个字（去掉首尾空白后）")
    return text


def _address(form: FormData) -> str | None:
    value = form.get("address_string")
    text = trimmed(value) if isinstance(value, str) else None
    if not text:
        return None
    if len(text) > MAX_ADDRESS:
        raise Open311Error(400, f"address_string 最多 {MAX_ADDRESS} 个字")
    return text


def _invalid(exc: ValidationError) -> Open311Error:
    """What the domain's own checks refused, named as the spec names it."""
    first = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first.get("loc", ()) if not isinstance(p, int)]
    field = _SPEC_NAMES.get(loc[-1], loc[-1]) if loc else "description"
    message = str(first.get("msg", "取值无效")).removeprefix("Value error, ")
    if not any("\u4e00" <= ch <= "\u9fff" for ch in message):
        message = "取值无效"
    return Open311Error(400, f"{field}：{message}")


@router.post(
    "/requests.{format}",
    status_code=201,
    summary="Open311 提交诉求",
    responses=_responses(201, 400, 403, 404, 429, 503),
    openapi_extra=POST_BODY,
)
async def create_request(request: Request, session: SessionDep, format: FormatPath) -> Response:
    """表单提交（application/x-www-form-urlencoded，UTF-8；或 multipart/form-data），
    须带 `api_key`（reports:write 权限）。`service_code` 必填；位置给 `lat`+`long`（WGS-84）
    或 `address_string`（不支持 `address_id`）；`description` 去掉首尾空白后 5–1000 字；
    可带 `media_url` 与 `attribute[代码]`（多选为 `attribute[代码][]`）。提交后与小程序上报一样
    定位网格并自动派单。`email`、`first_name`、`last_name`、`phone`、`device_id` 不保存
    （居民个人信息只在小程序内采集）。各类别均为 realtime：返回 `service_request_id`，不返回 `token`。"""
    fmt = _fmt(format)
    form = await read_form(request)
    # A url-encoded body was scanned as it came in (core.textguard); multipart is not.
    if has_nul(text for pair in form.multi_items() for text in pair):
        raise Open311Error(400, NUL_MESSAGE)
    principal = await _client(request, session, form_text(form, "api_key"), "reports:write")
    if principal is None or principal.api_client is None:
        raise Open311Error(403, "需要 api_key（reports:write 权限）")
    code = form_text(form, "service_code")
    if code is None:
        raise Open311Error(400, "service_code 必填")
    category = await service.get_service(session, code)
    if category is None:
        raise Open311Error(404, f"service_code {code} not found")
    lat, lng = _coordinate(form, "lat"), _coordinate(form, "long")
    if (lat is None) != (lng is None):
        raise Open311Error(400, "lat 与 long 须同时给出")
    address = _address(form)
    if lat is None and address is None:
        if form_text(form, "address_id") is not None:
            raise Open311Error(
                400, "不支持 address_id，请用 lat 与 long（WGS-84）或 address_string 给出位置"
            )
        raise Open311Error(400, "须给出位置：lat 与 long，或 address_string")
    media_url = form_text(form, "media_url")
    if media_url is not None and (
        not media_url.startswith(("http://", "https://")) or len(media_url) > 500
    ):
        raise Open311Error(400, "media_url 应为 http(s) 地址，最长 500 字符")
    description = _description(form)
    attributes = form_attributes(form)
    try:
        body = ReportCreate(
            kind=category.kind,  # type: ignore[arg-type]
            category=category.code,
            description=description,
            location=Location(lat=lat, lng=lng, coord="wgs84") if lat is not None else None,  # type: ignore[arg-type]
            address=address,
        )
    except ValidationError as exc:
        raise _invalid(exc) from exc
    report = (
        await report_service.submit(
            session,
            principal=principal,
            body=body,
            locator=org_service.locator_cache(request.app.state),
            source="open311",
        )
    ).report
    integrations.check_case_region(principal, report)
    await service.record(
        session,
        report=report,
        client_id=principal.api_client.id,
        media_url=media_url,
        attributes=attributes,
    )
    notice = f"已受理，编号 {report_service.report_number(report)}"
    # Every service is realtime: the id at once, and no token (the spec gives
    # one or the other). Tokens stored earlier still answer GET tokens/{token}.
    return respond(
        fmt,
        "service_requests",
        [{"service_request_id": str(report.id), "service_notice": notice, "account_id": None}],
        status=201,
    )


@router.api_route(
    "/{rest:path}",
    methods=["GET", "POST"],
    include_in_schema=False,
    summary="Open311 未知路径",
)
async def unknown(rest: str) -> Response:
    raise Open311Error(404, "not found")
