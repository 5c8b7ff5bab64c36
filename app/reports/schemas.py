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


# Whitespace and the invisible characters a keyboard or a paste leaves
# (zero-width space and joiners, word joiner, BOM, soft hyphen): five
# zero-width spaces are no more a description than five spaces. Stripped in
# a loop of linear passes (a regex anchored at the end retries every position
# of a long run of spaces: quadratic, before any length check).
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"


def _trimmed(value: str | None) -> str | None:
    if not isinstance(value, str):
        return value
    while (trimmed := value.strip().strip(_INVISIBLE)) != value:
        value = trimmed
    return value


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
    code: str = Field(description="类别代码")
    name: str = Field(description="类别名称")


class RegionRef(BaseModel):
    id: int = Field(description="网格 id")
    name: str = Field(description="网格名称")


class PersonRef(BaseModel):
    id: int = Field(description="用户 id")
    name: str | None = Field(
        description="姓名。提交人（reporter）只有本人看到完整姓名，工作人员看到脱敏值，"
        "需要联系时调用 GET /reports/{id}/reporter-contact（留痕）"
    )
    role: str | None = Field(None, description="角色")
    phone_masked: str | None = Field(None, description="脱敏手机号")


class ActorRef(BaseModel):
    id: int | None = Field(None, description="操作人 id；公开视图中为空")
    name: str | None = Field(
        None,
        description="操作人姓名（无姓名时为昵称）。居民的姓名只有提交人本人看到完整的，"
        "工作人员看到脱敏值；公开视图中为空",
    )
    role: str | None = Field(
        None, description="操作人当时的角色，如 resident 居民、grid_worker 网格员、system 系统自动"
    )


class RatingRead(BaseModel):
    score: Score = Field(
        description="satisfied 满意、basically_satisfied 基本满意、unsatisfied 不满意"
    )
    comment: str | None = Field(
        None,
        description="评价内容；公开视图中为空。内容审核未通过前只有本人和工作人员看到原文，"
        "API Key 读取时为“（内容审核中）”",
    )
    moderation: str | None = Field(
        None,
        description="评价内容的审核：pass 通过、review 待人工审核、pending 待检测、"
        "blocked 未通过；无评价内容时为 null",
    )
    at: datetime = Field(description="评价时间")


class EventRead(BaseModel):
    id: int = Field(description="事件 id")
    type: str = Field(description="事件类型：created/dispatched/accepted/progress/resolved/rated/…")
    actor: ActorRef | None = Field(description="操作人；无法确定操作人时为 null")
    from_status: str | None = Field(
        description="事件前的状态；不涉及状态流转的事件（如 progress 进展、转派）为 null"
    )
    to_status: str | None = Field(description="事件后的状态；不涉及状态流转的事件为 null")
    note: str | None = Field(
        description="说明或原因；公开视图中为空。居民写的（重办原因、评价）内容审核未通过前"
        "只有本人和工作人员看到原文，API Key 读取时为“（内容审核中）”"
    )
    moderation: str = Field(
        "pass",
        description="说明的审核：pass 通过、review 待人工审核、pending 待检测、blocked 未通过；"
        "工作人员写的说明为 pass",
    )
    media: list[MediaRead] = Field(
        default_factory=list, description="随事件上传的照片（限时签名地址）；公开视图中为空列表"
    )
    at: datetime = Field(description="发生时间")
    data: dict[str, Any] = Field(default_factory=dict, description="附加信息，如派单依据、期限")


class ReportListItem(BaseModel):
    id: int = Field(description="诉求 id")
    number: str = Field(description="工单编号，如 E20261122-000007")
    kind: Kind = Field(
        description="诉求类型：issue 问题上报、consultation 咨询、errand 代办、sos 一键求助"
    )
    category: CategoryRef = Field(description="类别")
    description: str = Field(
        description="描述；内容审核中的文字对他人隐藏，公开视图与 API Key 读取时其中的手机号、身份证号脱敏"
    )
    status: Status = Field(
        description="状态：submitted 待派单、dispatched 已派单待签收、in_progress 办理中、"
        "escalated 已上报待签收、resolved 已办结待评价、closed 已关闭、rejected 已驳回、"
        "cancelled 已撤销"
    )
    grid: RegionRef | None = Field(description="所在网格；未定位到网格时为 null")
    address: str | None = Field(None, description="地址描述；公开视图（关注、附近诉求）中为空")
    created_at: datetime = Field(description="提交时间")
    response_due_at: datetime | None = Field(
        description="响应（签收）期限：受理时按类别计算；派单、退单、上报后为新经办人（或待派队列）的期限"
    )
    resolve_due_at: datetime | None = Field(
        description="办结期限（含已批准的延期），第一次签收时计算，重办时重新计算；从未签收时为 null"
    )
    overdue: bool = Field(description="是否超期（未签收超过响应期限，或未办结超过办结期限）")
    distance_m: float | None = Field(None, description="距离（米），仅附近诉求列表")


class ReportRead(ReportListItem):
    assignee: PersonRef | None = Field(
        description="当前经办人（姓名完整、手机号脱敏）；在队列中无人经办或公开视图中为 null"
    )
    reporter: PersonRef | None = Field(None, description="上报人（仅本人和经办人员可见）")
    location: Location | None = Field(
        None, description="位置，一律以 WGS-84（coord 为 wgs84）返回；未提供位置或公开视图中为 null"
    )
    media: list[MediaRead] = Field(
        default_factory=list,
        description="上报时附的照片（限时签名地址，每次返回都重新签发）；公开视图中为空",
    )
    rating: RatingRead | None = Field(description="评价（以最近一次为准）；未评价为 null")
    helpful: bool | None = Field(
        None, description="咨询的答复是否被居民标记为有用：标记后为 true，未标记为 null"
    )
    moderation: str = Field(
        "pass",
        description="描述的内容审核：pass 通过、review 待人工审核、pending 待检测、"
        "blocked 未通过（只有本人和工作人员可见）",
    )
    reopen_count: int = Field(0, description="重办次数")
    accepted_at: datetime | None = Field(
        None, description="最近一次签收时间；未签收或上报上级后待签收时为 null"
    )
    resolved_at: datetime | None = Field(
        None, description="最近一次办结（或答复咨询）的时间；未办结为 null"
    )
    closed_at: datetime | None = Field(
        None, description="结束时间（评价、自动关闭、驳回、撤销或标记答复有用）；重办后为 null"
    )
    duplicate_of: int | None = Field(None, description="因重复被驳回时，原诉求 id")
    policy_id: int | None = Field(None, description="咨询所关联的政策 id（提交时给出）")
    service_id: int | None = Field(None, description="代办所关联的便民服务事项 id（提交时给出）")
    following: bool | None = Field(None, description="当前用户是否关注")
    pending_extension: dict[str, Any] | None = Field(None, description="待审批的延期申请")
    timeline: list[EventRead] | None = Field(None, description="处理记录，按发生先后排列")


class NoteBody(BaseModel):
    note: str = Field(min_length=1, max_length=1000, description="说明")
    media_ids: list[int] = Field(
        default_factory=list, max_length=9, description="照片 id（先 POST /media 上传），最多 9 张"
    )

    _trim = field_validator("note", mode="before")(_trimmed)


class ReasonBody(BaseModel):
    reason: str = Field(min_length=2, max_length=500, description="原因")

    _trim = field_validator("reason", mode="before")(_trimmed)


class RatingBody(BaseModel):
    score: Score = Field(
        description="satisfied 满意、basically_satisfied 基本满意、unsatisfied 不满意"
    )
    comment: str | None = Field(None, max_length=500, description="评价内容，最多 500 字")


class EscalateBody(ReasonBody):
    to: Literal["community", "street", "department"] = Field(description="上报到：社区、街道或部门")
    department_id: int | None = Field(None, description="to=department 时必填")


class LevelTarget(BaseModel):
    to: Literal["community", "street"] = Field(description="上报时的 `to`")
    name: str = Field(description="层级名称，如 社区")
    region_id: int = Field(description="接手的区划 id")
    region: str = Field(description="接手的区划名称")


class DepartmentTarget(BaseModel):
    id: int = Field(description="部门 id（上报时的 `department_id`）")
    name: str = Field(description="部门名称")
    region_id: int = Field(description="部门所属区划 id")
    region: str = Field(description="部门所属区划名称")
    handles_category: bool = Field(description="部门登记的承办类别含该诉求的类别")


class EscalationTargets(BaseModel):
    levels: list[LevelTarget] = Field(description="可上报到的上级（只含高于当前层级的）")
    departments: list[DepartmentTarget] = Field(
        description="可上报到的部门：所属区划包含该诉求；承办该类别的在前，其次由近及远"
    )


class ExtensionBody(ReasonBody):
    hours: int = Field(ge=1, le=720, description="延长的小时数（自然小时）")


class ExtensionDecision(BaseModel):
    approve: bool = Field(description="true 批准（办结期限顺延申请的小时数）；false 不批准")


class TransferBody(ReasonBody):
    assignee_id: int = Field(description="接手人员 id")


class DispatchBody(BaseModel):
    assignee_id: int = Field(description="派给的人员 id")


class RejectBody(ReasonBody):
    duplicate_of: int | None = Field(None, description="重复诉求时，原诉求 id")


class ReviewBody(BaseModel):
    approve: bool = Field(description="true 放行文字；false 保持隐藏")
