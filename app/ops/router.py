"""``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.auth.dependencies import SettingsDep
from app.core.db import SessionDep
from app.core.errors import NotFound, Unauthorized, errors
from app.ops.metrics import METRICS

router = APIRouter(tags=["service"])


def bearer_matches(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header is ``Bearer <token>`` (the scheme in
    any case). The tokens are compared as SHA-256 digests in constant time, so
    neither the content nor the length of the expected one leaks through timing."""
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(
        hashlib.sha256(given.strip().encode()).digest(), hashlib.sha256(token.encode()).digest()
    )


@router.get(
    "/metrics",
    summary="运行指标（Prometheus 格式）",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus 文本格式"},
        **errors(401, 404),
    },
)
async def metrics(request: Request, settings: SettingsDep, session: SessionDep) -> Response:
    """请求数与耗时（按路由模板）、新建诉求及派单去向、在办与超时诉求数、消息队列积压、
    后台任务运行次数。`EJIAREN_METRICS_ENABLED=false` 关闭（404）；设置
    `EJIAREN_METRICS_TOKEN` 后需带 `Authorization: Bearer <token>`，缺少或不符为 401
    `service.metrics_token`。生产环境（`EJIAREN_ENV=prod`）开启时必须设置令牌，否则服务拒绝启动。"""
    if not settings.metrics_enabled:
        raise NotFound("service.metrics_disabled", "未开启运行指标")
    if settings.metrics_token or settings.env == "prod":
        # In prod the settings refuse to start without a token; should one be
        # missing anyway, nothing matches and the figures stay closed.
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else ""
        given = request.headers.get("authorization", "")
        if not token or not bearer_matches(given, token):
            raise Unauthorized(
                "service.metrics_token",
                "需要运行指标访问令牌",
                headers={"WWW-Authenticate": "Bearer"},
            )
    await METRICS.refresh_from_db(session, settings.metrics_db_cache_seconds)
    return Response(METRICS.render(), media_type=CONTENT_TYPE_LATEST)
