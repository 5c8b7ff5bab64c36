"""Request and response shapes of /policies and /admin/policies (API.md "Policies")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from app.core.errors import INT64_MAX
from app.policies.text import normalize_label

Status = Literal["draft", "published", "archived"]

# Ids are 64-bit integers in the database: a larger number is invalid input,
# not a database error.
MAX_ID = INT64_MAX
RegionId = Annotated[int, Field(ge=1, le=MAX_ID)]

_CONTROL = {chr(c) for c in range(0x20)} - {"\n", "\t", "\r"} | {"\x7f"}


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _no_control(value: str) -> str:
    if _CONTROL.intersection(value):
        raise ValueError("不能包含控制字符")
    return value


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value or "\t" in value:
        raise ValueError("不能换行")
    return value


def _label(limit: int) -> AfterValidator:
    """Stored as a resident would filter by it: half-width, simplified."""

    def check(value: str) -> str:
        value = normalize_label(value)
        if not value:
            raise ValueError("不能为空")
        if len(value) > limit:
            raise ValueError(f"最多 {limit} 个字")
        return value

    return AfterValidator(check)


Title = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=100, description="标题，1–100 字"),
    AfterValidator(_no_control),
    AfterValidator(_one_line),
]
Body = Annotated[
    str,
    Field(min_length=1, max_length=50_000, description="正文（Markdown），1–50000 字"),
    AfterValidator(_no_control),
]
Category = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=32, description="分类（自由文本），1–32 字"),
    AfterValidator(_no_control),
    AfterValidator(_one_line),
    _label(32),
]
Tag = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=16),
    AfterValidator(_no_control),
    AfterValidator(_one_line),
    _label(16),
]
Tags = Annotated[
    list[Tag],
    Field(max_length=10, description="标签，最多 10 个，每个 1–16 字；重复的只保留一个"),
    AfterValidator(lambda tags: list(dict.fromkeys(tags))),
]
ShortText = Annotated[
    str,
    BeforeValidator(_strip),
    Field(min_length=1, max_length=64),
    AfterValidator(_no_control),
    AfterValidator(_one_line),
]

_EXAMPLE: dict[str, Any] = {
    "title": "城乡居民基本医疗保险报销办法",
    "body": "## 一、报销范围\n参保居民在定点医疗机构住院发生的合规医疗费用……",
    "category": "医疗保障",
    "tags": ["医保", "住院"],
    "issuer": "市医疗保障局",
    "doc_number": "医保发〔2026〕3号",
    "region_id": 1,
    "effective_from": "2026-01-01",
    "effective_to": None,
}


def _check_dates(start: date | None, end: date | None) -> None:
    if start is not None and end is not None and end < start:
        raise ValueError("失效日期不能早于生效日期")


class PolicyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    title: Title = Field(examples=["城乡居民基本医疗保险报销办法"])
    body: Body = Field(examples=["## 一、报销范围\n参保居民在定点医疗机构住院……"])
    category: Category = Field(examples=["医疗保障"])
    tags: Tags = Field(default_factory=list, examples=[["医保", "住院"]])
    issuer: ShortText | None = Field(
        None, description="发文机关，1–64 字", examples=["市医疗保障局"]
    )
    doc_number: ShortText | None = Field(
        None, description="文号，1–64 字", examples=["医保发〔2026〕3号"]
    )
    region_id: RegionId | None = Field(
        None,
        description=(
            "适用区划 id：该区划及其下级的居民可见。不传时为调用者所管辖的区划"
            "（管辖多个区划时必须指定）；为 null 表示不限区划，仅系统管理员可用"
        ),
        examples=[1],
    )
    effective_from: date | None = Field(
        None, description="生效日期（含），YYYY-MM-DD", examples=["2026-01-01"]
    )
    effective_to: date | None = Field(
        None, description="失效日期（含），不早于生效日期；为空表示长期有效", examples=[None]
    )

    @model_validator(mode="after")
    def _dates(self) -> PolicyCreate:
        _check_dates(self.effective_from, self.effective_to)
        return self


class PolicyUpdate(BaseModel):
    """Only the fields given change; ``null`` clears an optional field."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tags": ["医保", "住院", "门诊"], "effective_to": None}]},
    )

    title: Title | None = Field(None, description="标题，1–100 字；不修改请省略，不能为 null")
    body: Body | None = Field(
        None, description="正文（Markdown），1–50000 字；不修改请省略，不能为 null"
    )
    category: Category | None = Field(
        None, description="分类（自由文本），1–32 字；不修改请省略，不能为 null"
    )
    tags: Tags | None = Field(
        None, description="标签，整体替换，最多 10 个，每个 1–16 字；不修改请省略，不能为 null"
    )
    issuer: ShortText | None = Field(None, description="发文机关；null 清空")
    doc_number: ShortText | None = Field(None, description="文号；null 清空")
    region_id: RegionId | None = Field(
        None, description="适用区划 id；null 表示不限区划（仅系统管理员）"
    )
    effective_from: date | None = Field(None, description="生效日期；null 清空")
    effective_to: date | None = Field(None, description="失效日期；null 表示长期有效")

    @model_validator(mode="after")
    def _required_stay(self) -> PolicyUpdate:
        for name in ("title", "body", "category", "tags"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} 不能为空")
        _check_dates(self.effective_from, self.effective_to)
        return self


class PolicyRead(BaseModel):
    """A published policy as anyone reads it."""

    id: int = Field(description="政策 id", examples=[12])
    title: str = Field(description="标题", examples=["城乡居民基本医疗保险报销办法"])
    body: str = Field(description="正文（Markdown）")
    category: str = Field(description="分类", examples=["医疗保障"])
    tags: list[str] = Field(description="标签", examples=[["医保", "住院"]])
    issuer: str | None = Field(description="发文机关", examples=["市医疗保障局"])
    doc_number: str | None = Field(description="文号", examples=["医保发〔2026〕3号"])
    region_id: int | None = Field(description="适用区划 id；null 表示不限区划", examples=[1])
    region_name: str | None = Field(
        description="适用区划名称；null 表示不限区划", examples=["太行怀庆街道"]
    )
    effective_from: date | None = Field(description="生效日期", examples=["2026-01-01"])
    effective_to: date | None = Field(description="失效日期；null 表示长期有效")
    in_effect: bool = Field(description="今天（北京时间）是否在有效期内", examples=[True])
    published_at: datetime | None = Field(description="发布时间")
    updated_at: datetime = Field(description="最后修改时间")


class PolicyAdminRead(PolicyRead):
    """A policy in any state, as its administrators see it."""

    status: Status = Field(description="状态：draft 草稿、published 已发布、archived 已归档")
    archived_at: datetime | None = Field(description="归档时间")
    created_at: datetime = Field(description="创建时间")


class PolicyAdminListItem(BaseModel):
    id: int = Field(description="政策 id", examples=[12])
    title: str = Field(description="标题")
    status: Status = Field(description="状态：draft 草稿、published 已发布、archived 已归档")
    category: str = Field(description="分类")
    region_id: int | None = Field(description="适用区划 id；null 表示不限区划")
    published_at: datetime | None = Field(description="发布时间")
    updated_at: datetime = Field(description="最后修改时间")


class PolicyHit(BaseModel):
    """One search result. ``title_highlight`` and ``snippet`` are escaped text
    with the matched words in ``<em>…</em>`` (no other markup)."""

    id: int = Field(description="政策 id", examples=[12])
    title: str = Field(description="标题（原文）", examples=["城乡居民基本医疗保险报销办法"])
    title_highlight: str = Field(
        description="标题，HTML 转义，命中词用 <em>…</em> 标出",
        examples=["城乡居民基本<em>医疗保险</em><em>报销</em>办法"],
    )
    snippet: str = Field(
        description=(
            "正文摘要（约 80 字）：HTML 转义的纯文本，命中词用 <em>…</em> 标出，"
            "截断处以 … 表示；无搜索词时为正文开头"
        ),
        examples=["…参保居民在定点医疗机构住院发生的合规费用，按以下比例<em>报销</em>…"],
    )
    category: str = Field(description="分类", examples=["医疗保障"])
    tags: list[str] = Field(description="标签", examples=[["医保", "住院"]])
    issuer: str | None = Field(description="发文机关", examples=["市医疗保障局"])
    doc_number: str | None = Field(description="文号", examples=["医保发〔2026〕3号"])
    region_id: int | None = Field(description="适用区划 id；null 表示不限区划")
    published_at: datetime | None = Field(description="发布时间")
    effective_to: date | None = Field(description="失效日期；null 表示长期有效")
    score: float | None = Field(
        description="相关度（越大越相关，仅用于排序，不同搜索之间不可比较）；无搜索词时为 null",
        examples=[7.8312],
    )


class Suggestion(BaseModel):
    text: str = Field(description="建议的搜索词或政策标题", examples=["医疗保险"])
    kind: Literal["term", "title"] = Field(
        description="term 常用政策词语（点选后作为搜索词）；title 政策标题（点选后打开该政策）"
    )
    policy_id: int | None = Field(description="kind 为 title 时的政策 id", examples=[None])
    highlight: str = Field(
        description="HTML 转义的文本，与输入相符的部分用 <em>…</em> 标出",
        examples=["<em>医</em>疗保险"],
    )


class CategoryCount(BaseModel):
    name: str = Field(description="分类名称", examples=["医疗保障"])
    count: int = Field(description="调用者可见的已发布政策数", examples=[6])
