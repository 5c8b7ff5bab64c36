"""Request and response shapes of /categories, /admin/categories and /admin/holidays."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from app.core.pagination import Page

Kind = Literal["issue", "consultation", "errand", "sos"]
Complexity = Literal["simple", "general", "complex", "difficult"]
SlaCalendar = Literal["natural", "working"]
Routing = Literal["grid", "department"]
HolidaySource = Literal["override", "builtin"]

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"

# The years the holiday table accepts: wide enough for any real deadline, narrow
# enough to catch a typo such as 20261 or 1026.
MIN_YEAR, MAX_YEAR = 2000, 2100

CategoryCode = Annotated[
    str,
    StringConstraints(pattern=CODE_PATTERN),
    Field(
        description="类别代码：小写字母开头，2–32 位小写字母、数字或下划线，创建后不可修改",
        examples=["fume_noise"],
    ),
]
CategoryName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    Field(description="类别名称，1–32 字", examples=["油烟噪音扰民"]),
]
ResponseMinutes = Annotated[
    int,
    Field(ge=1, le=10080, description="响应时限（分钟，自然时间），1–10080（7 天）", examples=[60]),
]
ResolveDays = Annotated[
    dict[Complexity, Annotated[int, Field(strict=True, ge=1, le=365)]],
    Field(
        description=(
            "各复杂度的办结时限（天），键为 simple|general|complex|difficult，值为 1–365 的整数；"
            "未给出的复杂度按默认：简单 1、一般 3、复杂 7、疑难 15"
        ),
        examples=[{"simple": 1, "general": 3, "complex": 7, "difficult": 15}],
    ),
]
SortOrder = Annotated[int, Field(ge=0, le=100000, description="排序值，越小越靠前", examples=[30])]

_KIND_TEXT = "类型：issue 问题上报、consultation 咨询、errand 代办、sos 一键求助"
_COMPLEXITY_TEXT = "默认复杂度：simple 简单、general 一般、complex 复杂、difficult 疑难"
_CALENDAR_TEXT = (
    "办结时限的计算方式：natural 自然日（每天 24 小时），working 工作日（按法定节假日与调休）"
)
_ROUTING_TEXT = "派单方式：grid 先派给所在网格的网格员，department 直接派给指定部门"
_PUBLIC_TEXT = (
    "是否公开：为 false 的类别（如一键求助）其诉求不向报告人以外的居民展示；"
    "咨询、代办类的诉求无论是否公开都不向其他居民展示（公开只决定是否通过 Open311 提供）"
)


class CategoryCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "code": "power_outage",
                    "name": "停电抢修",
                    "kind": "issue",
                    "complexity": "general",
                    "response_sla_minutes": 30,
                    "sla_calendar": "natural",
                    "resolve_days": {"simple": 1, "general": 2},
                    "routing": "department",
                    "department_id": 3,
                    "public": True,
                    "sort_order": 85,
                }
            ]
        },
    )

    code: CategoryCode
    name: CategoryName
    kind: Kind = Field(description=_KIND_TEXT)
    complexity: Complexity = Field("general", description=_COMPLEXITY_TEXT + "；默认 general")
    response_sla_minutes: ResponseMinutes = 60
    sla_calendar: SlaCalendar = Field("natural", description=_CALENDAR_TEXT + "；默认 natural")
    resolve_days: ResolveDays = Field(default_factory=dict)
    routing: Routing = Field("grid", description=_ROUTING_TEXT + "；默认 grid")
    department_id: int | None = Field(
        None, description="承办部门 id；routing 为 department 时必填，且部门须已存在"
    )
    public: bool = Field(True, description=_PUBLIC_TEXT + "；默认 true")
    sort_order: SortOrder = 100


# Fields of a PATCH that may be left out but never set to null.
_NOT_NULL = (
    "name",
    "kind",
    "complexity",
    "response_sla_minutes",
    "sla_calendar",
    "resolve_days",
    "routing",
    "public",
    "active",
    "sort_order",
)


class CategoryUpdate(BaseModel):
    """Only the fields given change; ``resolve_days`` is merged into the current days."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"response_sla_minutes": 45}, {"active": False}]},
    )

    name: CategoryName | None = Field(None, description="类别名称，1–32 字")
    kind: Kind | None = Field(None, description=_KIND_TEXT)
    complexity: Complexity | None = Field(None, description=_COMPLEXITY_TEXT)
    response_sla_minutes: ResponseMinutes | None = Field(
        None, description="响应时限（分钟，自然时间），1–10080（7 天）"
    )
    sla_calendar: SlaCalendar | None = Field(None, description=_CALENDAR_TEXT)
    resolve_days: ResolveDays | None = Field(
        None, description="要修改的复杂度的办结时限（天，1–365 的整数）；未给出的复杂度保持不变"
    )
    routing: Routing | None = Field(None, description=_ROUTING_TEXT)
    department_id: int | None = Field(
        None,
        description="承办部门 id；routing 为 department 时必须有，给 null 可清除（仅限 grid 派单）",
    )
    public: bool | None = Field(None, description=_PUBLIC_TEXT)
    active: bool | None = Field(
        None, description="是否启用；false 表示停用：不再出现在类别列表中，也不能再用于提交诉求"
    )
    sort_order: SortOrder | None = Field(None, description="排序值，越小越靠前")

    @field_validator(*_NOT_NULL)
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("不能为 null；不修改请省略该字段")
        return value


class ResolveSla(BaseModel):
    calendar: SlaCalendar = Field(description=_CALENDAR_TEXT)
    days: dict[Complexity, int] = Field(
        description="各复杂度的办结时限（天），四种复杂度都有",
        examples=[{"simple": 1, "general": 3, "complex": 7, "difficult": 15}],
    )
    default_complexity: Complexity = Field(description=_COMPLEXITY_TEXT)


class CategoryRead(BaseModel):
    code: str = Field(description="类别代码，提交诉求时使用", examples=["fume_noise"])
    name: str = Field(description="类别名称", examples=["油烟噪音扰民"])
    kind: Kind = Field(description=_KIND_TEXT)
    response_sla_minutes: int = Field(description="响应时限（分钟，自然时间）", examples=[60])
    resolve_sla: ResolveSla = Field(description="办结时限")
    routing: Routing = Field(description=_ROUTING_TEXT)
    department_id: int | None = Field(description="承办部门 id（department 派单时）")
    public: bool = Field(description=_PUBLIC_TEXT)
    active: bool = Field(description="是否启用；GET /categories 只返回启用的类别")
    sort_order: int = Field(description="排序值，越小越靠前")


def _iso_date_only(value: Any) -> Any:
    # Pydantic would also read a bare number as a Unix timestamp; a path segment
    # such as 1789948800 is a typo, not a date.
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("日期格式应为 YYYY-MM-DD")
    return value


def _year_in_range(value: dt.date) -> dt.date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"日期须在 {MIN_YEAR}–{MAX_YEAR} 年之间")
    return value


HolidayDate = Annotated[dt.date, BeforeValidator(_iso_date_only), AfterValidator(_year_in_range)]


class HolidayPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"is_workday": False, "name": "防汛停工"}]},
    )

    is_workday: bool = Field(description="该日是否上班：true 工作日，false 休息日")
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, max_length=32),
        Field(description="说明，最多 32 字，如“国庆节”“国庆节调休”", examples=["国庆节"]),
    ] = ""


class HolidayRead(BaseModel):
    date: dt.date = Field(description="日期（北京时间）", examples=["2026-10-01"])
    is_workday: bool = Field(description="该日是否上班")
    name: str = Field(description="节日或调整说明", examples=["国庆节"])
    source: HolidaySource = Field(
        description="来源：builtin 内置的国家法定节假日安排，override 管理员调整（优先于内置）"
    )


class HolidayPage(Page[HolidayRead]):
    items: list[HolidayRead] = Field(
        description="该年与普通周历不同的日子（法定节假日、调休上班日及管理员调整），按日期排列"
    )
    builtin_available: bool = Field(
        description=(
            "内置日历是否已有该年的国家安排；为 false 时该年除管理员调整外只按周末休息，"
            "请在国务院办公厅公布当年安排后录入"
        )
    )
