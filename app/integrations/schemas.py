"""Shapes of /admin/api-clients and their webhooks (API.md "Third parties")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.core.timewin import Instant

Scope = Literal["reports:read", "reports:write", "stats:read", "policies:read", "services:read"]
EventName = Literal["report.created", "report.dispatched", "report.status_changed", "report.rated"]


class ApiClientCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "12345 热线平台",
                    "scopes": ["reports:read", "reports:write"],
                    "region_id": 1,
                }
            ]
        }
    )

    name: str = Field(min_length=1, max_length=64, description="接入方名称")
    scopes: list[Scope] = Field(
        min_length=1,
        max_length=5,
        description="权限范围：reports:read 读诉求、reports:write 提交诉求、stats:read 统计、"
        "policies:read 政策、services:read 便民服务",
    )
    region_id: int = Field(description="该 Key 限定的区划（含下级），须在创建者的管辖范围内")
    expires_at: Instant | None = Field(
        None,
        description="过期时间（须带时区，如 2027-06-30T00:00:00+08:00），到期后调用返回 401 "
        "api_key.expired；为空表示不过期。须晚于现在",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value

    @field_validator("scopes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class RegionBrief(BaseModel):
    id: int = Field(description="区划 id")
    name: str = Field(description="区划名称")
    level: str = Field(description="层级：district 区县、street 街道、community 社区、grid 网格")


class ApiClientRead(BaseModel):
    id: int = Field(description="接入方（API Key）id")
    name: str = Field(description="接入方名称")
    key_prefix: str = Field(description="Key 的前缀（非机密），用于辨认是哪一个 Key")
    scopes: list[str] = Field(description="权限范围，如 reports:read、stats:read")
    region: RegionBrief = Field(description="该 Key 限定的区划（含下级）")
    created_at: datetime = Field(description="创建时间")
    last_used_at: datetime | None = Field(None, description="最近使用时间（约每分钟更新一次）")
    revoked_at: datetime | None = Field(None, description="吊销时间；null 表示仍有效")
    expires_at: datetime | None = Field(None, description="过期时间；null 表示不过期")


class ApiClientCreated(ApiClientRead):
    key: str = Field(description="完整的 API Key，只在创建时返回这一次，请妥善保存")


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hotline.example.cn/ejiaren/events",
                    "events": ["report.created", "report.status_changed"],
                }
            ]
        }
    )

    url: str = Field(min_length=8, max_length=500, description="接收事件的 http(s) 地址")
    events: list[EventName] = Field(min_length=1, max_length=4, description="订阅的事件")

    @field_validator("events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return sorted(set(value))


class WebhookRead(BaseModel):
    id: int = Field(description="Webhook id")
    url: str = Field(description="接收事件的地址")
    events: list[str] = Field(description="订阅的事件，如 report.created")
    created_at: datetime = Field(description="创建时间")


class WebhookCreated(WebhookRead):
    secret: str = Field(
        description="签名密钥，只在创建时返回这一次：X-Ejiaren-Signature 为 "
        "sha256=<用此密钥对原始请求体计算的 HMAC-SHA256 十六进制>"
    )


class SecretRotate(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"overlap_hours": 24}]})

    overlap_hours: int = Field(
        24,
        ge=0,
        le=168,
        description="旧密钥继续签名的小时数（0–168，默认 24）；0 表示旧密钥立即失效",
    )


class SecretRotated(BaseModel):
    id: int = Field(description="Webhook id")
    secret: str = Field(description="新的签名密钥，只在此时返回这一次；此后每次投递都用它签名")
    rotated_at: datetime = Field(description="轮换时间")
    previous_secret_expires_at: datetime = Field(
        description="旧密钥失效的时间：在此之前 X-Ejiaren-Signature 同时带新、旧两个签名"
        "（新密钥的在前，以逗号分隔），之后只带新密钥的签名"
    )


class DeliveryRead(BaseModel):
    id: int = Field(description="投递记录 id（每次尝试一条）")
    delivery_id: str = Field(description="投递 id（即事件 id，重试时不变，接收方可据此去重）")
    event: str = Field(description="事件名，如 report.created")
    attempt: int = Field(description="第几次尝试")
    status_code: int | None = Field(description="对方返回的 HTTP 状态码；未连上为 null")
    error: str | None = Field(description="失败原因")
    duration_ms: int | None = Field(description="耗时（毫秒）")
    at: datetime = Field(description="尝试时间")
