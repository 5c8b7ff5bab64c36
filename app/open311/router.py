"""Open311 GeoReport v2 at ``/open311/v2/`` (DESIGN §9): discovery, services,
service definitions, requests (GET and POST), one request, and tokens, each
as ``.json`` or ``.xml``. Errors follow the spec, not our envelope."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.principal import Principal
from app.core import clock
from app.core.db import SessionDep, mark_failed
from app.core.errors import (
    INT64_MAX,
    SURROGATE_MESSAGE,
    AppError,
    RateLimited,
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
from app.open311.render import Format, Open311Error, error_response, format_of, respond
from app.org import service as org_service
from app.reports import service as report_service
from app.reports.schemas import Location, ReportCreate

log = logging.getLogger("ejiaren.open311")

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-24T00:00:00+08:00"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


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
    "items": {
        "type": "object",
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}},
        "required": ["code", "description"],
    },
}
_ERROR_TEXT = {
    400: "参数有误",
    401: "需要 api_key",
    403: "api_key 无效、已吊销或没有所需权限",
    404: "对象或格式不存在",
    409: "冲突",
    429: "api_key 调用太频繁（带 Retry-After）",
    503: "服务繁忙",
}


def _responses(success: int) -> dict[int | str, dict[str, Any]]:
    """What an Open311 route answers, in both formats: its success and the
    spec's error list (``[{"code", "description"}]``, or ``<errors>`` in XML)."""
    out: dict[int | str, dict[str, Any]] = {
        success: {"content": {"text/xml": {"schema": {"type": "string"}}}},
    }
    for status, text in _ERROR_TEXT.items():
        out[status] = {
            "description": text,
            "content": {
                "application/json": {"schema": _ERRORS_SCHEMA},
                "text/xml": {"schema": {"type": "string"}},
            },
        }
    return out


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
    return str(request.base_url).rstrip("/")


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
    except RateLimited:
        raise
    except AppError as exc:
        raise Open311Error(403, "api_key 无效或已吊销") from exc
    if not principal.has_scope(scope):
        raise Open311Error(403, f"api_key 没有 {scope} 权限")
    return principal


# ------------------------------------------------------------------ discovery, services


@router.get("/discovery.{format}", summary="Open311 discovery", responses=_responses(200))
async def discovery(request: Request, format: FormatPath) -> Response:
    """端点说明：规范地址、本端点地址、支持的格式。"""
    fmt = _fmt(format)
    body = {
        "changeset": CHANGESET,
        "contact": _settings(request).open311_contact,
        "key_service": "API Key 由区级管理员在管理端创建（POST /api/v1/admin/api-clients）",
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": f"{_base_url(request)}/open311/v2",
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", body)


@router.get("/services.{format}", summary="Open311 服务列表（诉求类别）", responses=_responses(200))
async def services(session: SessionDep, format: FormatPath) -> Response:
    """公开的诉求类别（不含一键求助）：`service_code` 为类别代码，`group` 为诉求类型。"""
    fmt = _fmt(format)
    rows = await service.list_services(session)
    return respond(fmt, "services", [service.service_dict(c) for c in rows])


@router.get(
    "/services/{service_code}.{format}", summary="Open311 服务定义", responses=_responses(200)
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
    if not value:
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


def _query(request: Request) -> service.Query:
    params = request.query_params
    ids = None
    if params.get("service_request_id"):
        given = [_id(x) for x in params["service_request_id"].split(",") if x.strip()]
        ids = [i for i in given if i is not None]
        if len(ids) != len(given):
            raise Open311Error(400, "service_request_id 应为逗号分隔的编号")
    codes = [c.strip() for c in params.get("service_code", "").split(",") if c.strip()] or None
    statuses = None
    if params.get("status"):
        statuses = {s.strip() for s in params["status"].split(",") if s.strip()}
        if not statuses <= {"open", "closed"}:
            raise Open311Error(400, "status 只能是 open 或 closed")
    start = _parse_time("start_date", params.get("start_date"))
    end = _parse_time("end_date", params.get("end_date"))
    if start is None and end is None:
        end = clock.now()
    if end is None:
        assert start is not None
        end = min(start + service.WINDOW, clock.now())
    if start is None:
        start = end - service.WINDOW
    if end <= start:
        raise Open311Error(400, "end_date 须晚于 start_date")
    if end - start > service.WINDOW:
        raise Open311Error(400, "start_date 与 end_date 相隔不能超过 90 天")
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


@router.get("/requests.{format}", summary="Open311 查询诉求", responses=_responses(200))
async def list_requests(request: Request, session: SessionDep, format: FormatPath) -> Response:
    """参数：`service_request_id`（逗号分隔，给出时忽略其他条件）、`service_code`（逗号分隔）、
    `start_date`/`end_date`（W3C 时间；都不给时为最近 90 天，相隔不超过 90 天）、
    `status`（open / closed，逗号分隔）、`page`（从 1 起）与 `page_size`（默认 50，最大 100）。
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
    responses=_responses(200),
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
    "/tokens/{token}.{format}", summary="Open311 由 token 查诉求编号", responses=_responses(200)
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


def _float(form: Any, name: str) -> float | None:
    value = form.get(name)
    if value in (None, ""):
        return None
    try:
        return float(value)
    except ValueError as exc:
        raise Open311Error(400, f"{name} 应为数字") from exc


def _attributes(form: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in form.multi_items():
        if name.startswith("attribute[") and name.endswith("]") and isinstance(value, str):
            code = name[len("attribute[") : -1]
            if not code or len(code) > 64 or len(value) > 500 or len(out) >= 20:
                raise Open311Error(400, "attribute 参数过多或过长")
            out[code] = value
    return out


@router.post(
    "/requests.{format}",
    status_code=201,
    summary="Open311 提交诉求",
    responses=_responses(201),
)
async def create_request(request: Request, session: SessionDep, format: FormatPath) -> Response:
    """表单（application/x-www-form-urlencoded）提交，须带 `api_key`（reports:write 权限）。
    `service_code` 必填；位置给 `lat`+`long`（WGS-84）或 `address_string`；`description`
    5–1000 字；可带 `media_url` 与 `attribute[代码]`。提交后与小程序上报一样定位网格并自动派单。
    `email`、`first_name`、`last_name`、`phone`、`device_id` 不保存（居民个人信息只在小程序内采集）。
    返回 `service_request_id` 与 `token`。"""
    fmt = _fmt(format)
    form = await request.form()
    # A url-encoded body was scanned as it came in (core.textguard); multipart is not.
    if has_nul(text for pair in form.multi_items() for text in pair):
        raise Open311Error(400, NUL_MESSAGE)
    key = form.get("api_key")
    principal = await _client(
        request, session, key if isinstance(key, str) else None, "reports:write"
    )
    if principal is None or principal.api_client is None:
        raise Open311Error(403, "需要 api_key（reports:write 权限）")
    code = form.get("service_code")
    if not isinstance(code, str) or not code.strip():
        raise Open311Error(400, "service_code 必填")
    category = await service.get_service(session, code.strip())
    if category is None:
        raise Open311Error(404, f"service_code {code} not found")
    lat, lng = _float(form, "lat"), _float(form, "long")
    address = form.get("address_string")
    address = address.strip() if isinstance(address, str) and address.strip() else None
    if (lat is None) != (lng is None):
        raise Open311Error(400, "lat 与 long 须同时给出")
    if lat is None and address is None and not form.get("address_id"):
        raise Open311Error(400, "须给出位置：lat 与 long，或 address_string")
    media_url = form.get("media_url")
    media_url = media_url.strip() if isinstance(media_url, str) and media_url.strip() else None
    if media_url is not None and (
        not media_url.startswith(("http://", "https://")) or len(media_url) > 500
    ):
        raise Open311Error(400, "media_url 应为 http(s) 地址，最长 500 字符")
    description = form.get("description")
    attributes = _attributes(form)
    try:
        body = ReportCreate(
            kind=category.kind,  # type: ignore[arg-type]
            category=category.code,
            description=description if isinstance(description, str) else None,
            location=Location(lat=lat, lng=lng, coord="wgs84") if lat is not None else None,  # type: ignore[arg-type]
            address=address,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "description"
        raise Open311Error(400, f"{field}: {first.get('msg', '取值无效')}") from exc
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
    row = await service.record(
        session,
        report=report,
        client_id=principal.api_client.id,
        media_url=media_url,
        attributes=attributes,
    )
    notice = f"已受理，编号 {report_service.report_number(report)}"
    return respond(
        fmt,
        "service_requests",
        [
            {
                "service_request_id": str(report.id),
                "token": row.token,
                "service_notice": notice,
                "account_id": None,
            }
        ],
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
