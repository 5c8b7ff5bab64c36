"""统计 routes (API.md "Figures"): summary, breakdowns, trends, rankings, the
Excel export, and the public home-page banner."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import StaffOrStatsKey
from app.core import clock
from app.core.db import ReadSessionDep
from app.core.errors import INT64_MAX, NotFound, errors
from app.core.timewin import WindowFrom, WindowTo, parse_window
from app.org.models import Region
from app.stats import breakdowns, export, service, sources, windows
from app.stats.schemas import (
    BannerRead,
    BreakdownItem,
    BreakdownRead,
    By,
    Interval,
    Level,
    Metric,
    RankingItem,
    RankingRead,
    RegionBrief,
    SummaryRead,
    TrendItem,
    TrendRead,
)
from app.stats.scope import REGION_NOT_FOUND, StatsScope, region_in_scope, scope_for_principal

router = APIRouter(tags=["stats"])

RegionParam = Annotated[
    int | None,
    Query(
        ge=1,
        le=INT64_MAX,
        description="统计区域 ID（区/街道/社区/网格），须在调用者的管辖范围内；不填为调用者可见的全部范围",
    ),
]
SCOPE_TEXT = (
    "范围：网格员看自己所在网格和自己经办的诉求，管理员看所辖区域；"
    "居民 403，未登录 401，region_id 不在管辖范围内 404 `region.not_found`。"
    "时间范围按诉求创建时间：from 含、to 不含，日期指北京时间零点。"
    "已驳回、已撤销的诉求不计入任何指标；比率为 0–1，分母为 0 时为 null。口径见 docs/metrics.md。"
)
BANNER_TTL_SECONDS = 60.0


async def _context(
    request: Request,
    session: AsyncSession,
    principal: Any,
    region_id: int | None,
    start: str | None,
    end: str | None,
) -> tuple[StatsScope, Region | None, datetime | None, datetime | None]:
    lo, hi = parse_window(start, end)
    region = await region_in_scope(session, principal, region_id)
    await sources.fold_if_behind(session, request.app.state.db)
    return scope_for_principal(principal), region, lo, hi


def _brief(region: Region | None) -> RegionBrief | None:
    if region is None:
        return None
    return RegionBrief(id=region.id, name=region.name, level=region.level)


def _items(items: list[breakdowns.Item]) -> list[BreakdownItem]:
    # Built without validation: the response model validates them once on the way out.
    return [
        BreakdownItem.model_construct(key=i.key, name=i.name, code=i.code, **i.figures)
        for i in items
    ]


@router.get(
    "/stats/summary",
    summary="指标汇总：受理量、响应率、办结率、按时办结率、满意率、重办率、超期数与时长",
    response_model=SummaryRead,
    responses=errors(401, 403, 404, 422, 429),
    description=SCOPE_TEXT,
)
async def stats_summary(
    request: Request,
    principal: StaffOrStatsKey,
    session: ReadSessionDep,
    region_id: RegionParam = None,
    start: WindowFrom = None,
    end: WindowTo = None,
) -> SummaryRead:
    scope, region, lo, hi = await _context(request, session, principal, region_id, start, end)
    figures = await service.summary(session, scope=scope, region=region, lo=lo, hi=hi)
    return SummaryRead(start=lo, end=hi, region=_brief(region), as_of=clock.now(), **figures)


@router.get(
    "/stats/breakdown",
    summary="分组指标：按街道、社区、网格、网格员或类别（网格员考核也用此接口 by=worker）",
    response_model=BreakdownRead,
    responses=errors(401, 403, 404, 422, 429),
    description=SCOPE_TEXT
    + "每个分组都列出（没有诉求的也列出，比率为 null）；key 为 null 的一项是不属于任何分组的诉求"
    "（如在上级队列中、无经办人）。一件诉求计入其所在网格；计入当前经办人，办结后计入最后办结人。",
)
async def stats_breakdown(
    request: Request,
    principal: StaffOrStatsKey,
    session: ReadSessionDep,
    by: Annotated[By, Query(description="分组维度：street / community / grid / worker / category")],
    region_id: RegionParam = None,
    start: WindowFrom = None,
    end: WindowTo = None,
) -> BreakdownRead:
    scope, region, lo, hi = await _context(request, session, principal, region_id, start, end)
    items = await breakdowns.breakdown(session, scope=scope, region=region, lo=lo, hi=hi, by=by)
    return BreakdownRead(start=lo, end=hi, region=_brief(region), by=by, items=_items(items))


@router.get(
    "/stats/trend",
    summary="趋势：按日、周（周一开始）或月的指标（北京时间）",
    response_model=TrendRead,
    responses=errors(401, 403, 404, 422, 429),
    description=SCOPE_TEXT
    + "不填 to 时截至今天结束；不填 from 时按日取 30 天、按周取 12 周、按月取 12 个月。"
    "区间内每个日/周/月都列出，最多 1000 个。",
)
async def stats_trend(
    request: Request,
    principal: StaffOrStatsKey,
    session: ReadSessionDep,
    interval: Annotated[Interval, Query(description="区间：day / week / month")] = "day",
    region_id: RegionParam = None,
    start: WindowFrom = None,
    end: WindowTo = None,
) -> TrendRead:
    scope, region, lo, hi = await _context(request, session, principal, region_id, start, end)
    lo, hi = windows.trend_window(lo, hi, interval)
    rows = await service.trend(session, scope=scope, region=region, lo=lo, hi=hi, interval=interval)
    return TrendRead(
        start=lo,
        end=hi,
        region=_brief(region),
        interval=interval,
        items=[TrendItem.model_construct(bucket=b, **f) for b, f in rows],
    )


@router.get(
    "/stats/ranking",
    summary="排名（赛马）：网格或网格员按某项指标由好到差",
    response_model=RankingRead,
    responses=errors(401, 403, 404, 422, 429),
    description=SCOPE_TEXT + "比率越高越好；重办率、重办数、超期数与各项时长越低越好。"
    "并列时受理量多者在前，再按名称排序；指标无法计算的排在最后且无名次。",
)
async def stats_ranking(
    request: Request,
    principal: StaffOrStatsKey,
    session: ReadSessionDep,
    level: Annotated[Level, Query(description="排名对象：grid 网格、worker 网格员")],
    metric: Annotated[
        Metric, Query(description="排名指标，取汇总中的任一字段")
    ] = "completion_rate",
    region_id: RegionParam = None,
    start: WindowFrom = None,
    end: WindowTo = None,
) -> RankingRead:
    scope, region, lo, hi = await _context(request, session, principal, region_id, start, end)
    items = await breakdowns.breakdown(session, scope=scope, region=region, lo=lo, hi=hi, by=level)
    ranked = breakdowns.rank(items, metric)
    return RankingRead(
        start=lo,
        end=hi,
        region=_brief(region),
        level=level,
        metric=metric,
        higher_is_better=breakdowns.METRICS[metric],
        items=[
            RankingItem.model_construct(
                rank=n, value=i.figures[metric], key=i.key, name=i.name, code=i.code, **i.figures
            )
            for n, i in ranked
        ],
    )


@router.get(
    "/stats/export.xlsx",
    summary="导出 Excel：汇总与按街道、社区、网格、网格员、类别的分组指标",
    response_class=Response,
    responses={
        200: {
            "content": {export.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "xlsx 文件：每种分组一个工作表，表头中文，比率为百分比格式，顶部注明区域与时间范围",
        },
        **errors(401, 403, 404, 422),
    },
    description=SCOPE_TEXT,
)
async def stats_export(
    request: Request,
    principal: StaffOrStatsKey,
    session: ReadSessionDep,
    region_id: RegionParam = None,
    start: WindowFrom = None,
    end: WindowTo = None,
) -> Response:
    scope, region, lo, hi = await _context(request, session, principal, region_id, start, end)
    summary = await service.summary(session, scope=scope, region=region, lo=lo, hi=hi)
    sheets = {
        by: await breakdowns.breakdown(session, scope=scope, region=region, lo=lo, hi=hi, by=by)
        for by in export.SHEET_ORDER
    }
    region_name = region.name if region is not None else "全部管辖范围"
    header = export.ExportHeader(region_name=region_name, start=lo, end=hi, as_of=clock.now())
    content = await asyncio.to_thread(export.workbook, header, summary, sheets)
    filename = f"诉求统计_{region_name}_{export.window_text(lo, hi).split('（')[0]}.xlsx".replace(
        " ", ""
    )
    return Response(
        content=content,
        media_type=export.XLSX_MEDIA_TYPE,
        headers={
            "Content-Disposition": (
                f"attachment; filename=\"ejiaren-stats.xlsx\"; filename*=UTF-8''{quote(filename)}"
            )
        },
    )


@router.get(
    "/public/banner",
    summary="首页横幅：注册居民数、累计办结与办结率、满意率（无需登录，可缓存 60 秒）",
    response_model=BannerRead,
    responses=errors(404, 422),
    description="无需登录。不填 region_id 为全部区域。每个进程缓存 60 秒，响应带 "
    "`Cache-Control: public, max-age=60`，所以数字最多晚一分钟。",
)
async def public_banner(
    request: Request,
    response: Response,
    session: ReadSessionDep,
    region_id: Annotated[
        int | None, Query(ge=1, le=INT64_MAX, description="区域 ID；不填为全部区域")
    ] = None,
) -> BannerRead:
    cache: dict[int | None, tuple[float, BannerRead]] = (
        getattr(request.app.state, "stats_banner_cache", None) or {}
    )
    request.app.state.stats_banner_cache = cache
    response.headers["Cache-Control"] = f"public, max-age={int(BANNER_TTL_SECONDS)}"
    hit = cache.get(region_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    region = None
    if region_id is not None:
        region = await session.get(Region, region_id)
        if region is None:
            raise NotFound(*REGION_NOT_FOUND, details={"region_id": region_id})
    body = BannerRead(**await service.banner(session, region))
    cache[region_id] = (time.monotonic() + BANNER_TTL_SECONDS, body)
    return body
