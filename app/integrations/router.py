"""Admin routes for third parties: API clients and their webhooks (API.md "Third parties")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from app.auth.dependencies import CurrentUser
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.errors import Forbidden, errors
from app.core.pagination import Cursor, Limit, Page
from app.integrations import service
from app.integrations.schemas import ApiClientCreate, ApiClientCreated, ApiClientRead

router = APIRouter(tags=["integrations"])


async def current_key_manager(principal: CurrentUser) -> Principal:
    if not principal.roles & service.MANAGER_ROLES:
        raise Forbidden("auth.key_manager_only", "仅限区级管理员或系统管理员管理接入方")
    return principal


KeyManager = Annotated[Principal, Depends(current_key_manager)]
ClientId = Annotated[int, Path(description="接入方 id")]


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
