"""Admin view of the outbox: what is waiting, what failed for good, and retrying it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from app.auth.dependencies import current_principal
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.errors import Forbidden, errors
from app.core.ids import PLAIN_DIGITS, id_path
from app.core.pagination import Cursor, Limit, Page, cursor_id, encode_cursor
from app.outbox import service
from app.outbox.models import OutboxMessage
from app.outbox.schemas import OutboxMessageRead

router = APIRouter(prefix="/admin/outbox", tags=["outbox"])

# Messages carry no region (a webhook may concern a whole district, a
# notification any resident), so only the role over the whole service sees
# them: a district admin would read other districts' residents' messages.
OUTBOX_ROLES = frozenset({"superadmin"})


async def outbox_admin(
    principal: Annotated[Principal, Depends(current_principal)],
) -> Principal:
    if not principal.roles & OUTBOX_ROLES:
        raise Forbidden("outbox.forbidden", "仅限系统管理员查看消息投递")
    return principal


OutboxAdmin = Annotated[Principal, Depends(outbox_admin)]


@router.get(
    "",
    summary="待投递与投递失败的消息",
    response_model=Page[OutboxMessageRead],
    responses=errors(401, 403, 422),
)
async def list_outbox(
    _: OutboxAdmin,
    session: SessionDep,
    status: Annotated[
        Literal["pending", "sending", "sent", "dead"] | None,
        Query(description="只列出该状态的消息；不填为全部"),
    ] = None,
    kind: Annotated[
        str | None, Query(max_length=64, description="只列出该类型，如 wechat.subscribe")
    ] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[OutboxMessageRead]:
    """按创建时间倒序列出消息投递队列（订阅消息、Webhook 等）。仅系统管理员可用。"""
    items, more = await service.list_messages(
        session, status=status, kind=kind, after_id=cursor_id(cursor), limit=limit
    )
    return Page[OutboxMessageRead](
        items=[OutboxMessageRead.model_validate(m) for m in items],
        next_cursor=encode_cursor({"id": items[-1].id}) if more else None,
    )


@router.post(
    "/{message_id}/retry",
    summary="重试投递失败的消息",
    response_model=OutboxMessageRead,
    responses=errors(401, 403, 404, 409, 422),
)
async def retry_message(
    message_id: Annotated[int, PLAIN_DIGITS, id_path("消息 id")],
    _: OutboxAdmin,
    session: SessionDep,
) -> OutboxMessage:
    """把投递失败（`dead`）的消息放回待投递队列，已尝试次数清零、投递编号不变。
    消息不存在返回 404 `outbox.not_found`；不是 `dead` 状态返回 409 `outbox.not_dead`。"""
    return await service.retry(session, message_id)
