"""Schemas of the personal-information routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class PersonalDataExport(BaseModel):
    """本人数据导出：按数据表分节，每节为该表中关于本人的全部记录（密码等密钥除外）。"""

    exported_at: datetime = Field(description="导出时间")
    profile: dict[str, Any] = Field(description="账号资料（含完整手机号，仅本人可见）")
    roles: list[dict[str, Any]] = Field(description="角色")
    reports: list[dict[str, Any]] = Field(description="本人提交的诉求")
    report_events: list[dict[str, Any]] = Field(description="本人诉求的全部处理记录及本人的操作")
    follows: list[dict[str, Any]] = Field(description="关注的诉求")
    extension_requests: list[dict[str, Any]] = Field(description="本人提出的延期申请（工作人员）")
    media: list[dict[str, Any]] = Field(description="本人上传的图片（含限时签名地址）")
    bookings: list[dict[str, Any]] = Field(description="预约记录")
    access_log: list[dict[str, Any]] = Field(description="工作人员查看本人个人信息的记录")

    model_config = {"extra": "allow"}


class ReporterContact(BaseModel):
    report_id: int = Field(description="诉求 id")
    user_id: int = Field(description="上报人 id")
    name: str | None = Field(description="姓名或昵称（完整）")
    phone: str | None = Field(description="完整手机号；未绑定为 null")
    address: str | None = Field(None, description="住址")


class AuditEntryRead(BaseModel):
    id: int = Field(description="审计记录 id")
    at: datetime = Field(description="查看时间")
    actor_id: int = Field(description="查看人（工作人员）id")
    subject_id: int = Field(description="被查看个人信息的居民 id")
    action: str = Field(description="查看内容，如 report.reporter_contact")
    resource: str = Field(description="对象，如 report:42")
    region_path: str | None = Field(
        None, description="所涉诉求的区划路径（如 /1/5/12/），管理员据此只看到本辖区的记录"
    )
    ip: str | None = Field(None, description="查看人的 IP 地址")
    request_id: str | None = Field(None, description="请求 id（X-Request-ID），用于对照服务日志")

    model_config = {"from_attributes": True}
