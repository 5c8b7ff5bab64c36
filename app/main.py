"""The ASGI application: ``app.main:app`` for any server, ``create_app()`` for tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import text

from app.auth.router import router as auth_router
from app.convenience.router import router as convenience_router
from app.core.db import Database
from app.core.errors import errors, install_error_handlers, own_error_format
from app.core.limits import BodyLimitMiddleware
from app.core.logging import RequestIdMiddleware, configure_logging
from app.core.migrations import current_revisions, head_revisions
from app.core.ratelimit import RateLimiter
from app.core.settings import Settings, get_settings
from app.core.textguard import NulGuardMiddleware
from app.integrations.router import router as integrations_router
from app.media.router import router as media_router
from app.notify import service as notify_service
from app.notify.router import router as notify_router
from app.open311 import render as open311_render
from app.open311.router import router as open311_router
from app.ops import metrics
from app.ops.router import router as ops_router
from app.org.departments import router as departments_router
from app.org.router import router as org_router
from app.outbox import listeners as outbox_listeners
from app.outbox.router import router as outbox_router
from app.policies.router import router as policies_router
from app.privacy.router import router as privacy_router
from app.reports.admin_router import router as reports_admin_router
from app.reports.categories import router as categories_router
from app.reports.router import router as reports_router
from app.stats.router import router as stats_router
from app.users.router import router as users_router
from app.wechat.client import WeChatClient

log = logging.getLogger("ejiaren")

API_PREFIX = "/api/v1"

OPENAPI_TAGS = [
    {"name": "service", "description": "健康检查与就绪检查"},
    {"name": "auth", "description": "登录（微信 / 账号密码）、令牌刷新与退出"},
    {"name": "me", "description": "当前用户：资料、手机号绑定、个人信息导出与注销"},
    {"name": "regions", "description": "区—街道—社区—网格 区划树、网格边界导入与网格定位"},
    {"name": "staff", "description": "工作人员、角色与部门管理"},
    {"name": "media", "description": "照片上传与签名访问地址"},
    {"name": "categories", "description": "诉求类别、时限（SLA）与节假日调整"},
    {"name": "reports", "description": "诉求：提交、派单、签收、办结、评价的全流程"},
    {
        "name": "stats",
        "description": "统计：办结率、响应率、满意率等指标，分组、趋势、排名、导出与首页横幅",
    },
    {"name": "policies", "description": "政策咨询：检索、输入联想、分类与政策管理"},
    {"name": "services", "description": "便民服务：事项目录、附近服务点与营业状态、预约时段与签到"},
    {"name": "integrations", "description": "第三方接入：API Key、Webhook 与投递记录"},
    {
        "name": "open311",
        "description": "Open311 GeoReport v2（/open311/v2/，JSON 与 XML，错误格式按该规范）",
    },
    {"name": "outbox", "description": "消息投递队列：订阅消息与 Webhook 的待投递、失败与重试"},
]


class Health(BaseModel):
    status: str = Field(description="服务正常时为 ok")


# Module-level, like every other router: FastAPI caches what it learns of an
# endpoint globally, so an endpoint defined inside create_app() (a closure over
# the app) kept every app ever created alive — megabytes per app in the tests.
service = APIRouter(tags=["service"])


@service.get("/healthz", summary="存活检查", response_model=Health)
async def healthz() -> Health:
    return Health(status="ok")


@service.get(
    "/readyz",
    summary="就绪检查：数据库可连接且迁移已到最新",
    response_model=Health,
    responses=errors(503),
)
async def readyz(request: Request) -> Health | JSONResponse:
    db: Database = request.app.state.db
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        current = await current_revisions(db.engine)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        log.warning("readiness check failed: %s", exc)
        return _not_ready("数据库不可用")
    if current != head_revisions():
        return _not_ready("数据库迁移未到最新版本")
    return Health(status="ok")


def init_state(app: FastAPI, settings: Settings) -> None:
    """Everything an app holds between requests, built from ``settings``. The
    tests build one app and give it fresh state for every test with this."""
    app.state.settings = settings
    app.state.db = Database(settings)
    app.state.limiter = RateLimiter(app.state.db, settings.redis_url)
    app.state.wechat = WeChatClient.from_settings(settings, db=app.state.db)
    notify_service.configure(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = None
        if settings.env == "prod" and not settings.public_url:
            log.warning(
                "EJIAREN_PUBLIC_URL is not set: Open311 builds absolute URLs from each"
                " request's Host header; set it to the service's public origin"
            )
        if settings.run_background:
            from app.worker import run_forever

            task = asyncio.create_task(run_forever(app.state), name="ejiaren-background")
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.wechat.aclose()
            await app.state.limiter.close()
            await app.state.db.dispose()

    app = FastAPI(
        title="e家人 API",
        version="1.0.0",
        summary="基层治理小程序后端：诉求上报与自动派单、办结率统计、政策咨询、便民服务",
        description=(
            "所有接口前缀 `/api/v1`。错误统一为 "
            '`{"error": {"code", "message", "details"}}`；列表统一为 '
            '`{"items", "next_cursor"}`。认证：`Authorization: Bearer <access_token>`。'
        ),
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        # Figures are ours (GET /metrics). FastAPI's built-in OpenTelemetry hook
        # otherwise looks up the global providers on every request: 6 % of a
        # simple request's CPU.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # State is built here, not in the lifespan, so an ASGI test client that does
    # not run the lifespan still gets a working app.
    init_state(app, settings)

    install_error_handlers(app)
    # Open311 answers even the errors met before its routes run in its spec's format.
    own_error_format("/open311/", open311_render.spec_error)
    outbox_listeners.listen(metrics.on_report_event)
    # Innermost first: the limit and the metrics sit inside the request id.
    # Open311 answers a NUL in its path or query in the spec's error format.
    app.add_middleware(NulGuardMiddleware, own_errors=("/open311/",))
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # These stream and cap their own bodies (10 MB photos, large GeoJSON).
        exempt=frozenset({"/api/v1/media", "/api/v1/admin/regions/import"}),
    )
    app.add_middleware(
        metrics.MetricsMiddleware, metrics=metrics.METRICS, routes=metrics.RouteTemplates(app)
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(RequestIdMiddleware)

    app.include_router(service)
    app.include_router(ops_router)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(auth_router)
    api.include_router(users_router)
    api.include_router(notify_router)
    api.include_router(org_router)
    api.include_router(departments_router)
    api.include_router(media_router)
    api.include_router(categories_router)
    api.include_router(reports_router)
    api.include_router(reports_admin_router)
    api.include_router(stats_router)
    api.include_router(policies_router)
    api.include_router(convenience_router)
    api.include_router(integrations_router)
    api.include_router(outbox_router)
    api.include_router(privacy_router)
    app.include_router(api)
    app.include_router(open311_router)
    return app


def _not_ready(message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": "service.not_ready", "message": message, "details": {}}},
        status_code=503,
    )


def __getattr__(name: str) -> FastAPI:
    # ``app.main:app`` is built on first access, so importing this module
    # (tests, the CLI) does not read the environment by itself.
    if name == "app":
        instance = create_app()
        globals()["app"] = instance
        return instance
    raise AttributeError(name)
