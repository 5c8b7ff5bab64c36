"""Request and response bodies of /services, /service-points, slots and /bookings (API.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from app.convenience import hours
from app.core.timewin import Instant

# The one location object of the API (DESIGN §10), shared with reports.
from app.reports.schemas import Location

BookingStatus = Literal["booked", "checked_in", "cancelled"]

MAX_SLOT_LENGTH = timedelta(hours=24)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Material = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PointType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]

_TYPE_TEXT = "服务点类型，如 党群服务中心、便民服务站、暖心驿站、卫生服务站（可自定义，最多 32 字）"


# ---------------------------------------------------------------- services


class ServiceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "城乡居民养老保险待遇资格认证",
                    "category": "社会保障",
                    "description": "领取城乡居民养老金的老人每年认证一次；行动不便的可申请网格员上门代办。",
                    "materials": ["本人身份证", "社会保障卡"],
                    "where": "街道党群服务中心一楼便民服务大厅 3 号窗口",
                    "hours": "工作日 08:30–12:00，14:30–17:30",
                    "phone": "0391-5551234",
                    "bookable": True,
                    "errand": True,
                }
            ]
        },
    )

    name: Name = Field(description="事项名称，1–64 字")
    category: Category = Field(description="事项分类（自由文本），如 社会保障、医疗卫生、户籍证件")
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        description="办理说明，最多 2000 字"
    )
    materials: list[Material] = Field(
        default_factory=list, max_length=30, description="所需材料，每项 1–100 字，最多 30 项"
    )
    where: ShortText = Field("", description="办理地点")
    hours: ShortText = Field("", description="办理时间（文字说明）")
    phone: Phone | None = Field(None, description="咨询电话")
    bookable: bool = Field(False, description="是否可在线预约（可发布预约时段）")
    errand: bool = Field(False, description="是否可代办：可作为 errand 诉求提交，由网格员代办")
    region_id: int | None = Field(
        None,
        description="适用区划 id（须在调用者管辖范围内）；不传时为调用者所管理的区划，"
        "系统管理员不传则全域适用",
    )


def _refuse_nulls(model: BaseModel, nullable: frozenset[str]) -> None:
    """A PATCH may leave a field out, but may send null only where null means something."""
    for name in model.model_fields_set - nullable:
        if getattr(model, name) is None:
            raise ValueError(f"{name} 不能为 null")


class ServiceUpdate(BaseModel):
    """Only the fields sent are changed; ``phone`` may be set to null to clear it."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="事项名称")
    category: Category | None = Field(None, description="事项分类")
    description: (
        Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None
    ) = Field(None, description="办理说明")
    materials: list[Material] | None = Field(None, max_length=30, description="所需材料")
    where: ShortText | None = Field(None, description="办理地点")
    hours: ShortText | None = Field(None, description="办理时间（文字说明）")
    phone: Phone | None = Field(None, description="咨询电话；传 null 清除")
    bookable: bool | None = Field(None, description="是否可在线预约")
    errand: bool | None = Field(None, description="是否可代办")
    region_id: int | None = Field(None, description="适用区划 id（须在调用者管辖范围内）")
    active: bool | None = Field(None, description="是否上架；false 下架后居民不可见、不可预约")

    @model_validator(mode="after")
    def _nulls(self) -> ServiceUpdate:
        _refuse_nulls(self, frozenset({"phone"}))
        return self


class ServiceRead(BaseModel):
    id: int = Field(description="事项 id")
    name: str = Field(description="事项名称")
    category: str = Field(description="事项分类")
    description: str = Field(description="办理说明")
    materials: list[str] = Field(description="所需材料")
    where: str = Field(description="办理地点")
    hours: str = Field(description="办理时间（文字说明）")
    phone: str | None = Field(description="咨询电话")
    bookable: bool = Field(description="是否可在线预约")
    errand: bool = Field(description="是否可代办")
    region_id: int | None = Field(description="适用区划 id；null 为全域适用")
    active: bool = Field(description="是否上架")
    created_at: datetime = Field(description="创建时间")
    updated_at: datetime = Field(description="最后修改时间")


class ServiceCategoryRead(BaseModel):
    category: str = Field(description="事项分类")
    count: int = Field(description="该分类下上架的事项数")


# ---------------------------------------------------------------- service points


class OpeningInterval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=1, le=7, description="星期（ISO）：1 为周一，7 为周日")
    open: str = Field(description="开门时间 HH:MM（北京时间）", examples=["08:30"])
    close: str = Field(description="关门时间 HH:MM，可为 24:00；须晚于开门时间", examples=["17:30"])

    @field_validator("open")
    @classmethod
    def _open_format(cls, value: str) -> str:
        if not hours.valid_open(value):
            raise ValueError("开门时间应为 HH:MM，如 08:30")
        return value

    @field_validator("close")
    @classmethod
    def _close_format(cls, value: str) -> str:
        if not hours.valid_close(value):
            raise ValueError("关门时间应为 HH:MM（最晚 24:00），如 17:30")
        return value

    @model_validator(mode="after")
    def _open_before_close(self) -> OpeningInterval:
        if hours.minutes(self.open) >= hours.minutes(self.close):
            raise ValueError("关门时间须晚于开门时间；跨午夜请拆成两天的两段")
        return self


def _no_overlap(intervals: list[OpeningInterval]) -> list[OpeningInterval]:
    rows = hours.normalise(i.model_dump() for i in intervals)
    return [OpeningInterval.model_validate(r) for r in rows]


OpeningHours = Annotated[
    list[OpeningInterval],
    Field(
        max_length=50,
        description="每周营业时间（北京时间）；同一天可有多段（如午休），不得重叠",
        examples=[[{"weekday": 1, "open": "08:30", "close": "12:00"}]],
    ),
    AfterValidator(_no_overlap),
]


class PointCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "太行怀庆街道党群服务中心",
                    "type": "党群服务中心",
                    "location": {"lat": 35.0872, "lng": 112.9418, "coord": "gcj02"},
                    "address": "沁阳市怀庆路 88 号",
                    "phone": "0391-5551234",
                    "opening_hours": [
                        {"weekday": d, "open": o, "close": c}
                        for d in range(1, 6)
                        for o, c in (("08:30", "12:00"), ("14:30", "17:30"))
                    ],
                    "open_on_holidays": False,
                }
            ]
        },
    )

    name: Name = Field(description="服务点名称")
    type: PointType = Field(description=_TYPE_TEXT)
    location: Location = Field(description="位置；存储为 WGS-84")
    address: ShortText = Field(description="地址")
    phone: Phone | None = Field(None, description="联系电话")
    opening_hours: OpeningHours = Field(default_factory=list)
    open_on_holidays: bool = Field(False, description="法定节假日是否照常开放；否则节假日闭馆")
    region_id: int | None = Field(
        None,
        description="所属区划 id（须在调用者管辖范围内），决定哪些工作人员可为其发布时段、办理签到；"
        "不传时为调用者所管理的区划",
    )


class PointUpdate(BaseModel):
    """Only the fields sent are changed; ``phone`` may be set to null to clear it."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = Field(None, description="服务点名称")
    type: PointType | None = Field(None, description=_TYPE_TEXT)
    location: Location | None = Field(None, description="位置")
    address: ShortText | None = Field(None, description="地址")
    phone: Phone | None = Field(None, description="联系电话；传 null 清除")
    opening_hours: OpeningHours | None = Field(
        None, description="每周营业时间（北京时间），整体替换；同一天可有多段，不得重叠"
    )
    open_on_holidays: bool | None = Field(None, description="法定节假日是否照常开放")
    region_id: int | None = Field(None, description="所属区划 id（须在调用者管辖范围内）")
    active: bool | None = Field(None, description="是否启用；停用后不出现在附近列表中")

    @model_validator(mode="after")
    def _nulls(self) -> PointUpdate:
        _refuse_nulls(self, frozenset({"phone"}))
        return self


class HoursRead(BaseModel):
    open: str = Field(description="开门时间 HH:MM")
    close: str = Field(description="关门时间 HH:MM")


class PointRead(BaseModel):
    id: int = Field(description="服务点 id")
    name: str = Field(description="服务点名称")
    type: str = Field(description="服务点类型")
    location: Location = Field(description="位置（WGS-84）")
    location_gcj02: Location = Field(description="位置（GCJ-02），可直接用于微信地图组件")
    address: str = Field(description="地址")
    phone: str | None = Field(description="联系电话")
    opening_hours: list[OpeningInterval] = Field(description="每周营业时间（北京时间）")
    open_on_holidays: bool = Field(description="法定节假日是否照常开放")
    region_id: int | None = Field(description="所属区划 id")
    active: bool = Field(description="是否启用")


class NearbyPoint(PointRead):
    distance_m: float = Field(description="与查询位置的直线距离（米）")
    open_now: bool = Field(description="此刻（北京时间）是否营业；法定节假日除照常开放的外均闭馆")
    holiday_today: bool = Field(description="今天（北京时间）是否法定节假日")
    today_hours: list[HoursRead] = Field(
        description="今天（按星期）的营业时段；节假日闭馆时仍列出平日时段，以 open_now 为准"
    )


# ---------------------------------------------------------------- slots and bookings


class SlotCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "point_id": 3,
                    "start_at": "2026-11-24T09:00:00+08:00",
                    "end_at": "2026-11-24T09:30:00+08:00",
                    "capacity": 10,
                }
            ]
        },
    )

    point_id: int = Field(description="服务点 id（须在调用者管辖范围内）")
    start_at: Instant = Field(description="开始时间，ISO 8601 带时区")
    end_at: Instant = Field(description="结束时间，ISO 8601 带时区；须晚于开始，最长 24 小时")
    capacity: int = Field(ge=1, le=1000, description="名额，1–1000")
    outside_hours: bool = Field(
        default=False,
        description="在营业时间外（或节假日闭馆日）办理的专场须设为 true；"
        "否则时段须落在服务点当天的某段营业时间内",
    )

    @model_validator(mode="after")
    def _start_before_end(self) -> SlotCreate:
        if self.end_at <= self.start_at:
            raise ValueError("结束时间须晚于开始时间")
        if self.end_at - self.start_at > MAX_SLOT_LENGTH:
            raise ValueError("一个时段最长 24 小时")
        return self


class PointRef(BaseModel):
    id: int = Field(description="服务点 id")
    name: str = Field(description="服务点名称")
    type: str = Field(description="服务点类型")
    address: str = Field(description="地址")


class ServiceRef(BaseModel):
    id: int = Field(description="事项 id")
    name: str = Field(description="事项名称")


class SlotRead(BaseModel):
    id: int = Field(description="时段 id")
    service_id: int = Field(description="事项 id")
    point: PointRef = Field(description="办理的服务点")
    start_at: datetime = Field(description="开始时间（北京时间，带时区）")
    end_at: datetime = Field(description="结束时间（北京时间，带时区）")
    capacity: int = Field(description="名额")
    booked: int = Field(description="已预约人数")
    remaining: int = Field(description="剩余名额")
    started: bool = Field(description="是否已开始（已开始的时段不能预约）")
    available: bool = Field(description="此刻能否预约：未开始、有余额且事项可预约")


class BookingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"slot_id": 42}]})

    slot_id: int = Field(description="时段 id，见 GET /services/{id}/slots")


class SlotRef(BaseModel):
    id: int = Field(description="时段 id")
    start_at: datetime = Field(description="开始时间（北京时间，带时区）")
    end_at: datetime = Field(description="结束时间（北京时间，带时区）")


class BookerRef(BaseModel):
    id: int = Field(description="预约人 id")
    name: str | None = Field(description="预约人姓名或昵称")
    phone_masked: str | None = Field(description="脱敏手机号")


class BookingRead(BaseModel):
    id: int = Field(description="预约 id（签到时出示）")
    status: BookingStatus = Field(
        description="状态：booked 已预约、checked_in 已签到、cancelled 已取消"
    )
    service: ServiceRef = Field(description="事项")
    point: PointRef = Field(description="服务点")
    slot: SlotRef = Field(description="时段")
    created_at: datetime = Field(description="预约时间")
    cancelled_at: datetime | None = Field(None, description="取消时间")
    checked_in_at: datetime | None = Field(None, description="签到时间")


class StaffBookingRead(BookingRead):
    booker: BookerRef = Field(description="预约人（仅服务点所在范围内的工作人员可见）")
