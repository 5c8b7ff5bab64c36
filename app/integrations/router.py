"""Admin routes for third parties: API clients and their webhooks (API.md "Third parties")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response

# Imported for what they register: the outbox handler that delivers webhook
# messages, and the report-event listener that queues them.
import app.integrations.webhook_delivery  # noqa: F401
import app.integrations.webhook_events  # noqa: F401
from app.auth.dependencies import CurrentUser, SettingsDep
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.errors import Forbidden, errors
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.pagination import Cursor, Limit, Page
from app.integrations import service, webhooks
from app.integrations.schemas import (
    ApiClientCreate,
    ApiClientCreated,
    ApiClientRead,
    DeliveryRead,
    SecretRotate,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookRead,
)

router = APIRouter(tags=["integrations"])


async def current_key_manager(principal: CurrentUser) -> Principal:
    if not principal.roles & service.MANAGER_ROLES:
        raise Forbidden("auth.key_manager_only", "仅限区级管理员或系统管理员管理接入方")
    return principal


KeyManager = Annotated[Principal, Depends(current_key_manager)]
ClientId = Annotated[int, PLAIN_DIGITS, id_path("接入方 id")]
WebhookId = Annotated[int, PLAIN_DIGITS, id_path("Webhook id")]


@router.post(
    "/admin/api-clients",
    status_code=201,
    response_model=ApiClientCreated,
    summary="创建接入方（API Key 只显示这一次）",
    responses=errors(401, 403, 404, 422),
)
async def create_api_client(
    body: ApiClientCreate, principal: KeyManager, session: SessionDep
) -> ApiClientCreated:
    """仅限系统管理员与区级管理员，`region_id` 须在自己的管辖范围内（否则 404
    `region.not_found`）。返回的 `key` 只出现这一次，服务端只保存其 SHA-256。
    调用方在请求头 `X-API-Key` 中携带；Key 只能读写其区划内的诉求，且只能调用其
    `scopes` 允许的接口（缺少权限 403 `api_key.scope_missing`，接口不接受 Key 403
    `api_key.route_not_allowed`，Key 无效或已吊销 401 `api_key.invalid`，超出频率
    429 `api_key.rate_limited`）。此接口不支持 `Idempotency-Key`：重放会再次暴露 Key。"""
    client, region, key = await service.create_client(session, principal=principal, body=body)
    return ApiClientCreated(**service.client_read(client, region).model_dump(), key=key)


@router.get(
    "/admin/api-clients",
    response_model=Page[ApiClientRead],
    summary="接入方列表",
    responses=errors(401, 403, 422),
)
async def list_api_clients(
    principal: KeyManager, session: SessionDep, cursor: Cursor = None, limit: Limit = 20
) -> Page[ApiClientRead]:
    """自己管辖范围内的接入方（含已吊销），新的在前。不返回 Key。"""
    return await service.list_clients(session, principal=principal, cursor=cursor, limit=limit)


@router.get(
    "/admin/api-clients/{client_id}",
    response_model=ApiClientRead,
    summary="接入方详情",
    responses=errors(401, 403, 404),
)
async def get_api_client(
    client_id: ClientId, principal: KeyManager, session: SessionDep
) -> ApiClientRead:
    client, region = await service.get_client(session, principal=principal, client_id=client_id)
    return service.client_read(client, region)


@router.delete(
    "/admin/api-clients/{client_id}",
    status_code=204,
    summary="吊销接入方的 API Key",
    responses=errors(401, 403, 404),
)
async def revoke_api_client(
    client_id: ClientId, principal: KeyManager, session: SessionDep
) -> Response:
    """立即生效：之后用该 Key 的调用返回 401 `api_key.invalid`，其 webhook 不再投递。"""
    await service.revoke_client(session, principal=principal, client_id=client_id)
    return Response(status_code=204)


# ------------------------------------------------------------------ webhooks


@router.post(
    "/admin/api-clients/{client_id}/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    summary="为接入方添加 Webhook（签名密钥只显示这一次）",
    responses=errors(401, 403, 404, 422),
)
async def create_webhook(
    client_id: ClientId,
    body: WebhookCreate,
    principal: KeyManager,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookCreated:
    """事件：`report.created`、`report.dispatched`、`report.status_changed`、`report.rated`，
    只推送接入方区域内的诉求；接入方须有 `reports:read` 权限（否则 422
    `webhook.scope_required`）。投递为 `POST <url>`，JSON `{"id", "event", "created_at",
    "data"}`，请求头 `X-Ejiaren-Signature: sha256=<用 secret 对原始请求体计算的
    HMAC-SHA256 十六进制>`（轮换密钥后的重叠期内为逗号分隔的两个这样的值，见
    `rotate-secret`，接收方应按逗号拆分后逐个比较）、`X-Ejiaren-Delivery`（与 `id` 相同，重试不变，可据此去重）与
    `X-Ejiaren-Event`。非 2xx 或连接失败时按退避重试（408、429、5xx 与网络错误；
    其他状态码不再重试）。生产环境中解析到内网或本机地址的 URL 一律拒绝（422
    `webhook.url_not_allowed`），投递前也会再次检查。"""
    hook, secret = await webhooks.create_webhook(
        session, principal=principal, client_id=client_id, body=body, env=settings.env
    )
    return WebhookCreated(**webhooks.webhook_read(hook).model_dump(), secret=secret)


@router.get(
    "/admin/api-clients/{client_id}/webhooks",
    response_model=Page[WebhookRead],
    summary="接入方的 Webhook 列表",
    responses=errors(401, 403, 404),
)
async def list_webhooks(
    client_id: ClientId, principal: KeyManager, session: SessionDep
) -> Page[WebhookRead]:
    """不分页，`next_cursor` 恒为 null；不返回签名密钥。"""
    rows = await webhooks.list_webhooks(session, principal=principal, client_id=client_id)
    return Page(items=[webhooks.webhook_read(h) for h in rows], next_cursor=None)


@router.delete(
    "/admin/api-clients/{client_id}/webhooks/{webhook_id}",
    status_code=204,
    summary="删除 Webhook",
    responses=errors(401, 403, 404),
)
async def delete_webhook(
    client_id: ClientId, webhook_id: WebhookId, principal: KeyManager, session: SessionDep
) -> Response:
    """立即停止投递（已排队的消息也不再发送）；投递记录保留。"""
    await webhooks.delete_webhook(
        session, principal=principal, client_id=client_id, webhook_id=webhook_id
    )
    return Response(status_code=204)


@router.post(
    "/admin/api-clients/{client_id}/webhooks/{webhook_id}/rotate-secret",
    response_model=SecretRotated,
    summary="轮换 Webhook 签名密钥（新密钥只显示这一次）",
    responses=errors(401, 403, 404, 422),
)
async def rotate_webhook_secret(
    client_id: ClientId,
    webhook_id: WebhookId,
    principal: KeyManager,
    session: SessionDep,
    body: Annotated[SecretRotate | None, Body()] = None,
) -> SecretRotated:
    """生成新的签名密钥并立即用于投递，Webhook id 与投递记录不变。旧密钥在
    `overlap_hours`（0–168，默认 24；请求体可省略）内继续有效：这段时间里每次投递的
    `X-Ejiaren-Signature` 同时带两个签名，新密钥的在前，以逗号分隔，如
    `sha256=<新密钥签名>,sha256=<旧密钥签名>`；接收方按逗号拆分，任一值与自己持有的密钥
    算出的签名一致即通过，因此可以先换好新密钥再等旧密钥过期，不丢投递。过了
    `previous_secret_expires_at` 只用新密钥签名，旧密钥随即清除。重叠期内再次轮换时，
    更早的那个密钥立即失效（任何时候最多两个有效密钥）。已删除的 Webhook 为 404
    `webhook.not_found`，接入方已吊销为 422 `api_client.revoked`。此接口不支持
    `Idempotency-Key`：重放会再次暴露密钥。"""
    return await webhooks.rotate_secret(
        session,
        principal=principal,
        client_id=client_id,
        webhook_id=webhook_id,
        body=body or SecretRotate(),
    )


@router.get(
    "/admin/api-clients/{client_id}/webhooks/{webhook_id}/deliveries",
    response_model=Page[DeliveryRead],
    summary="Webhook 投递记录",
    responses=errors(401, 403, 404, 422),
)
async def list_deliveries(
    client_id: ClientId,
    webhook_id: WebhookId,
    principal: KeyManager,
    session: SessionDep,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[DeliveryRead]:
    """每次尝试一条：状态码、错误、耗时与时间，新的在前。"""
    return await webhooks.list_deliveries(
        session,
        principal=principal,
        client_id=client_id,
        webhook_id=webhook_id,
        cursor=cursor,
        limit=limit,
    )
