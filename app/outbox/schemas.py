from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class OutboxMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="消息 id")
    kind: str = Field(description="消息类型，如 wechat.subscribe（订阅消息）、webhook")
    delivery_id: str = Field(description="稳定的投递编号，每次重试都相同，接收方可据此去重")
    target: str | None = Field(description="接收方（用户或地址）")
    payload: dict[str, Any] = Field(description="投递内容")
    status: Literal["pending", "sending", "sent", "dead"] = Field(
        description="pending 待投递；sending 投递中；sent 已送达；dead 投递失败，需人工重试"
    )
    attempts: int = Field(description="已尝试次数")
    max_attempts: int | None = Field(description="最多尝试次数；null 表示使用系统设置")
    next_attempt_at: datetime = Field(description="下次尝试时间")
    last_error: str | None = Field(description="最近一次失败的原因")
    result: dict[str, Any] | None = Field(description="送达时接收方的回答")
    created_at: datetime = Field(description="入队时间")
    sent_at: datetime | None = Field(description="送达时间；尚未送达为 null")
