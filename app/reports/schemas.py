"""Request and response shapes of /reports, /worker/tasks and /admin/reports (API.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.media.schemas import MediaRead

Kind = Literal["issue", "consultation", "errand", "sos"]
Status = Literal[
    "submitted",
    "dispatched",
    "in_progress",
    "escalated",
    "resolved",
    "closed",
    "rejected",
    "cancelled",
]
Score = Literal["satisfied", "basically_satisfied", "unsatisfied"]
Coord = Literal["gcj02", "wgs84"]


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90, description="纬度", examples=[35.0872])
    lng: float = Field(ge=-180, le=180, description="经度", examples=[112.9418])
    coord: Coord = Field(
        "gcj02", description="坐标系：微信地图组件给出 gcj02（默认），GPS 为 wgs84"
    )


def _trimmed(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class ReportCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "issue",
                    "category": "fume_noise",
                    "description": "沁水湾小区3号楼底商饭店油烟直排，晚上噪音也很大",
                    "media_ids": [12],
                    "location": {"lat": 35.0872, "lng": 112.9418, "coord": "gcj02"},
                    "address": "沁水湾小区3号楼",
                }
            ]
        }
    )

    kind: Kind = Field(
        description="诉求类型：issue 问题上报、consultation 咨询、errand 代办、sos 一键求助"
    )
    category: str = Field(min_length=1, max_length=32, description="类别代码，见 GET /categories")
    description: str | None = Field(
        None, max_length=2000, description="描述，去掉首尾空白后 5–1000 字；一键求助（sos）可不填"
    )
    media_ids: list[int] = Field(
        default_factory=list, max_length=9, description="照片 id（先 POST /media 上传），最多 9 张"
    )
    location: Location | None = Field(
        None, description="位置；不在任何网格内时按居民所属网格或人工派单"
    )
    address: str | None = Field(None, max_length=200, description="地址描述")
    policy_id: int | None = Field(None, description="咨询所涉政策 id（consultation）")
    service_id: int | None = Field(None, description="代办事项 id（errand）")

    _trim = field_validator("description", "address", mode="before")(_trimmed)

    @model_validator(mode="after")
    def _description_rules(self) -> ReportCreate:
        text = self.description or ""
        if self.kind != "sos" and len(text) < 5:
            raise ValueError("描述至少 5 个字")
        if len(text) > 1000:
            raise ValueError("描述最多 1000 个字")
        return self


class CategoryRef(BaseModel):
    code: str
    name: str


class RegionRef(BaseModel):
    id: int
    name: str


class PersonRef(BaseModel):
    id: int
    name: str | None = Field(description="姓名")
    role: str | None = Field(None, description="角色")
    phone_masked: str | None = Field(None, description="脱敏手机号")


class ActorRef(BaseModel):
    id: int | None = Field(None, description="操作人 id；公开视图中为空")
    name: str | None = None
    role: str | None = None


class RatingRead(BaseModel):
    score: Score
    comment: str | None = None
    at: datetime


class EventRead(BaseModel):
    id: int
    type: str = Field(description="事件类型：created/dispatched/accepted/progress/resolved/rated/…")
    actor: ActorRef | None
    from_status: str | None
    to_status: str | None
    note: str | None
    media: list[MediaRead] = Field(default_factory=list)
    at: datetime
    data: dict[str, Any] = Field(default_factory=dict, description="附加信息，如派单依据、期限")


class ReportListItem(BaseModel):
    id: int
    number: str = Field(description="工单编号，如 E20261122-000007")
    kind: Kind
    category: CategoryRef
    description: str = Field(description="描述；内容审核中的文字对他人隐藏")
    status: Status
    grid: RegionRef | None
    address: str | None = None
    created_at: datetime
    response_due_at: datetime | None
    resolve_due_at: datetime | None
    overdue: bool = Field(description="是否超期（未签收超过响应期限，或未办结超过办结期限）")
    distance_m: float | None = Field(None, description="距离（米），仅附近诉求列表")


class ReportRead(ReportListItem):
    assignee: PersonRef | None
    reporter: PersonRef | None = Field(None, description="上报人（仅本人和经办人员可见）")
    location: Location | None = None
    media: list[MediaRead] = Field(default_factory=list)
    rating: RatingRead | None
    helpful: bool | None = None
    moderation: str = Field(
        "pass", description="内容审核：pass 通过、review 待人工审核、pending 待检测"
    )
    reopen_count: int = 0
    accepted_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    duplicate_of: int | None = None
    following: bool | None = Field(None, description="当前用户是否关注")
    pending_extension: dict[str, Any] | None = Field(None, description="待审批的延期申请")
    timeline: list[EventRead] | None = None


class NoteBody(BaseModel):
    note: str = Field(min_length=1, max_length=1000, description="说明")
    media_ids: list[int] = Field(default_factory=list, max_length=9)

    _trim = field_validator("note", mode="before")(_trimmed)


class ReasonBody(BaseModel):
    reason: str = Field(min_length=2, max_length=500, description="原因")

    _trim = field_validator("reason", mode="before")(_trimmed)


class RatingBody(BaseModel):
    score: Score = Field(
        description="satisfied 满意、basically_satisfied 基本满意、unsatisfied 不满意"
    )
    comment: str | None = Field(None, max_length=500)


class EscalateBody(ReasonBody):
    to: Literal["community", "street", "department"] = Field(description="上报到：社区、街道或部门")
    department_id: int | None = Field(None, description="to=department 时必填")


class ExtensionBody(ReasonBody):
    hours: int = Field(ge=1, le=720, description="延长的小时数（自然小时）")


class ExtensionDecision(BaseModel):
    approve: bool


class TransferBody(ReasonBody):
    assignee_id: int = Field(description="接手人员 id")


class DispatchBody(BaseModel):
    assignee_id: int = Field(description="派给的人员 id")


class RejectBody(ReasonBody):
    duplicate_of: int | None = Field(None, description="重复诉求时，原诉求 id")


class ReviewBody(BaseModel):
    approve: bool = Field(description="true 放行文字；false 保持隐藏")
