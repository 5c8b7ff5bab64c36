from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SubscriptionReport(BaseModel):
    template_id: str = Field(
        min_length=1,
        max_length=128,
        description="订阅消息模板 id（wx.requestSubscribeMessage 的 tmplIds 之一）",
    )
    accepted: bool = Field(description="用户是否同意：accept 为 true；reject / ban 为 false")


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    template_id: str = Field(description="订阅消息模板 id")
    remaining: int = Field(description="还可发送的次数：每次同意加 1，每条消息用掉 1，拒绝清零")
