"""Response shapes of /stats/* and /public/banner (API.md "Figures")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Rate = float | None
By = Literal["street", "community", "grid", "worker", "category"]
Interval = Literal["day", "week", "month"]
Level = Literal["grid", "worker"]
Metric = Literal[
    "received",
    "accepted_on_time",
    "response_rate",
    "resolved",
    "completion_rate",
    "resolved_on_time",
    "on_time_rate",
    "rated",
    "satisfied",
    "satisfaction_rate",
    "reopened",
    "ever_resolved",
    "reopen_rate",
    "overdue_open",
    "avg_response_minutes",
    "median_response_minutes",
    "avg_resolve_hours",
    "median_resolve_hours",
]


class Figures(BaseModel):
    """The figures of a set of cases (DESIGN §6; docs/metrics.md)."""

    received: int = Field(
        description="受理量：时间范围内创建的诉求数（不含已驳回、已撤销）", examples=[410]
    )
    accepted_on_time: int = Field(
        description="按时签收数：首次签收不晚于首次响应时限的诉求数", examples=[396]
    )
    response_rate: Rate = Field(
        description="响应率 = 按时签收数 ÷ 受理量，0–1；受理量为 0 时为 null", examples=[0.9659]
    )
    resolved: int = Field(description="办结数：当前状态为已办结或已关闭的诉求数", examples=[404])
    completion_rate: Rate = Field(
        description="办结率 = 办结数 ÷ 受理量，0–1；受理量为 0 时为 null", examples=[0.9854]
    )
    resolved_on_time: int = Field(
        description="按时办结数：最后一次办结不晚于办结时限（含已批准的延期）且从未超期的办结诉求数",
        examples=[380],
    )
    on_time_rate: Rate = Field(
        description="按时办结率 = 按时办结数 ÷ 办结数，0–1；办结数为 0 时为 null", examples=[0.9406]
    )
    rated: int = Field(description="已评价数：有评价的诉求数（以最近一次评价为准）", examples=[300])
    satisfied: int = Field(
        description="满意数：最近一次评价为满意或基本满意的诉求数", examples=[291]
    )
    satisfaction_rate: Rate = Field(
        description="满意率 = 满意数 ÷ 已评价数，0–1；已评价数为 0 时为 null", examples=[0.97]
    )
    reopened: int = Field(description="重办数：至少被要求重办过一次的诉求数", examples=[6])
    ever_resolved: int = Field(
        description="曾办结数：至少办结过一次的诉求数（重办率的分母）", examples=[406]
    )
    reopen_rate: Rate = Field(
        description="重办率 = 重办数 ÷ 曾办结数，0–1；曾办结数为 0 时为 null", examples=[0.0148]
    )
    overdue_open: int = Field(
        description="超期数：截至当前未办结且已超过适用时限（等待签收时的响应时限，或签收后设定的办结时限，上报后仍有效）的诉求数",
        examples=[2],
    )
    avg_response_minutes: float | None = Field(
        description="平均响应时长（分钟）：创建到首次签收，只计已签收的诉求；无则为 null",
        examples=[23.5],
    )
    median_response_minutes: float | None = Field(
        description="响应时长中位数（分钟）：个数为偶数时取中间两个数的平均", examples=[18.0]
    )
    avg_resolve_hours: float | None = Field(
        description="平均办结时长（小时）：创建到最后一次办结，只计当前已办结或已关闭的诉求",
        examples=[30.25],
    )
    median_resolve_hours: float | None = Field(
        description="办结时长中位数（小时）：个数为偶数时取中间两个数的平均", examples=[22.5]
    )


class RegionBrief(BaseModel):
    id: int = Field(description="区域 ID")
    name: str = Field(description="区域名称")
    level: str = Field(description="层级：district / street / community / grid")


class WindowEcho(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    start: datetime | None = Field(None, alias="from", description="统计起始（含），null 表示不限")
    end: datetime | None = Field(None, alias="to", description="统计截止（不含），null 表示不限")
    region: RegionBrief | None = Field(None, description="统计区域；null 表示调用者可见的全部范围")


class SummaryRead(Figures, WindowEcho):
    as_of: datetime = Field(description="统计时刻（超期数按此时刻计算）")


class BreakdownItem(Figures):
    key: int | None = Field(
        description="分组 ID（街道/社区/网格为区域 ID，网格员为用户 ID，类别为类别 ID）；"
        "null 表示不属于任何该类分组的诉求（如在上级队列中、无经办人）"
    )
    name: str = Field(description="分组名称", examples=["第一网格"])
    code: str | None = Field(
        None, description="类别代码（仅按类别分组时）", examples=["environment"]
    )


class BreakdownRead(WindowEcho):
    by: By = Field(description="分组维度")
    items: list[BreakdownItem] = Field(
        description="每个分组一条（含没有诉求的分组）：按类别时按类别的排序值，其余按名称；"
        "不属于任何分组的诉求（如有）另计为末尾 key 为 null 的一条"
    )
    next_cursor: str | None = Field(None, description="始终为 null：分组列表不分页")


class TrendItem(Figures):
    bucket: date = Field(
        description="区间起始日（上海时间）：按日为当天，按周为周一，按月为 1 日",
        examples=["2026-11-01"],
    )


class TrendRead(WindowEcho):
    interval: Interval = Field(description="区间：day 日、week 周（周一开始）、month 月")
    items: list[TrendItem] = Field(
        description="时间范围内的每个区间一条，按时间先后；没有诉求的区间计数为 0，比率与平均值为 null"
    )
    next_cursor: str | None = Field(None, description="始终为 null：趋势不分页")


class RankingItem(BreakdownItem):
    rank: int | None = Field(
        description="名次，从 1 开始，由好到差；指标无法计算（分母为 0）时为 null 并排在最后",
        examples=[1],
    )
    value: float | None = Field(description="排名所用指标的值", examples=[0.985])


class RankingRead(WindowEcho):
    level: Level = Field(description="排名对象：grid 网格、worker 网格员")
    metric: Metric = Field(description="排名指标")
    higher_is_better: bool = Field(description="该指标是否越大越好（如重办率、超期数越小越好）")
    items: list[RankingItem] = Field(
        description="按名次由好到差排列；指标无法计算（rank 为 null）的排在最后"
    )
    next_cursor: str | None = Field(None, description="始终为 null：排名不分页")


class BannerRead(BaseModel):
    registered_users: int = Field(
        description="注册居民数：家庭网格在该区域内的居民；区域为最上级（或不指定）时为全部居民",
        examples=[7012],
    )
    handled: int = Field(
        description="累计办结：当前为已办结或已关闭的诉求数（全部时间）", examples=[410]
    )
    completion_rate: Rate = Field(description="办结率（全部时间），0–1 或 null", examples=[0.985])
    satisfaction_rate: Rate = Field(description="满意率（全部时间），0–1 或 null", examples=[0.97])
