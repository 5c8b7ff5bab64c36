"""The caller's subscribe-message consents (one-time subscriptions)."""

from __future__ import annotations

from fastapi import APIRouter

from app.auth.dependencies import CurrentUser, SettingsDep
from app.core.db import SessionDep
from app.core.errors import errors
from app.core.pagination import Page
from app.notify import service
from app.notify.models import SubscribeConsent
from app.notify.schemas import SubscriptionRead, SubscriptionReport

router = APIRouter(prefix="/me/subscriptions", tags=["me"])


@router.post(
    "",
    summary="上报订阅消息授权结果",
    response_model=SubscriptionRead,
    responses=errors(401, 422),
)
async def report_subscription(
    body: SubscriptionReport, principal: CurrentUser, session: SessionDep, settings: SettingsDep
) -> SubscribeConsent:
    """小程序调用 `wx.requestSubscribeMessage` 后，把每个模板的结果逐条上报。
    一次性订阅：每次同意允许发送一条该模板的消息，拒绝则清零；只有剩余次数大于 0
    时才会发送。模板 id 不是本服务使用的模板时返回 422 `notify.unknown_template`。"""
    return await service.record_consent(
        session,
        user=principal.user,
        template_id=body.template_id,
        accepted=body.accepted,
        settings=settings,
    )


@router.get(
    "",
    summary="我的订阅消息剩余次数",
    response_model=Page[SubscriptionRead],
    responses=errors(401),
)
async def list_subscriptions(principal: CurrentUser, session: SessionDep) -> Page[SubscriptionRead]:
    """每个模板还可发送的次数（不分页，`next_cursor` 恒为 null）。"""
    items = await service.list_consents(session, principal.user)
    return Page[SubscriptionRead](
        items=[SubscriptionRead.model_validate(c) for c in items], next_cursor=None
    )
