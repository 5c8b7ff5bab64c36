"""诉求 routes for admins (API.md "Reports"): the admin list, manual dispatch,
rejection, extension decisions, supervision and content review."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import select

from app.auth.dependencies import (
    AdminOrReportsReadKey,
    CurrentAdmin,
    CurrentStaff,
)
from app.auth.principal import ADMIN_ROLES
from app.core.db import SessionDep
from app.core.errors import NotFound, errors
from app.core.idempotency import IdempotencyKey, run_idempotent
from app.core.pagination import Cursor, Limit, Page
from app.core.timewin import WindowFrom, WindowTo, parse_window
from app.org.models import Region
from app.reports import actions, admin_actions, extensions, service
from app.reports.models import Category, Report
from app.reports.routing import (
    ExtensionId,
    Overdue,
    ReportId,
    StatusFilter,
    answer,
    overdue_clause,
    page,
)
from app.reports.schemas import (
    DispatchBody,
    ExtensionDecision,
    NoteBody,
    RejectBody,
    ReportListItem,
    ReportRead,
    ReviewBody,
)

router = APIRouter(tags=["reports"])


@router.get(
    "/admin/reports",
    response_model=Page[ReportListItem],
    summary="诉求管理列表",
    responses=errors(401, 403, 404, 422, 429),
)
async def admin_reports(
    user: AdminOrReportsReadKey,
    session: SessionDep,
    status: StatusFilter = None,
    category: Annotated[str | None, Query(max_length=32, description="类别代码")] = None,
    region_id: Annotated[int | None, Query(description="区划 id（含下级）")] = None,
    overdue: Overdue = None,
    q: Annotated[str | None, Query(max_length=100, description="编号、描述或地址关键词")] = None,
    start: WindowFrom = None,
    end: WindowTo = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[ReportListItem]:
    """管辖范围内的诉求，从新到旧。列表中描述里的手机号、身份证号一律脱敏（详情中经办人看到完整内容）。
    `q` 按编号、描述或地址查找；工作人员可以用居民报出的手机号查到其诉求（“3号楼”、号码都可查），
    API Key 查找时描述中含数字的内容与待审核的文字不参与匹配。"""
    lo, hi = parse_window(start, end)
    stmt = select(Report).where(user.region_clause(Report.region_path, roles=ADMIN_ROLES))
    if status:
        stmt = stmt.where(Report.status == status)
    if category:
        stmt = stmt.join(Category, Category.id == Report.category_id).where(
            Category.code == category
        )
    if region_id is not None:
        region = await session.get(Region, region_id)
        if region is None or not user.covers(region.path, roles=ADMIN_ROLES):
            raise NotFound("region.not_found", "区划不存在")
        stmt = stmt.where(Report.region_path.startswith(region.path, autoescape=True))
    if overdue is not None:
        stmt = stmt.where(overdue_clause(overdue))  # type: ignore[arg-type]
    key = user.api_client is not None
    if q and q.strip():
        stmt = stmt.where(service.search_clause(q, held_text=not key))
    window = service.window_clause(Report.created_at, lo, hi)
    if window is not None:
        stmt = stmt.where(window)
    return await page(session, stmt, "client" if key else "staff", cursor, limit)


@router.post(
    "/reports/{report_id}/dispatch",
    response_model=ReportRead,
    summary="人工派单",
    responses=errors(401, 403, 404, 409, 422),
)
async def dispatch_report(
    request: Request,
    report_id: ReportId,
    body: DispatchBody,
    user: CurrentStaff,
    session: SessionDep,
) -> ReportRead:
    """把待派单的诉求派给管辖范围内的人。另一人同时派单或转派同一诉求时，后提交的一方
    409 `conflict.concurrent_update`，请刷新后再操作。"""
    report = await actions.dispatch(session, user, report_id, body.assignee_id)
    return await answer(request, session, user, report, "staff")


@router.post(
    "/reports/{report_id}/reject",
    response_model=ReportRead,
    summary="驳回（无效、重复或不属本辖区职责）",
    responses=errors(401, 403, 404, 409, 422),
)
async def reject_report(
    request: Request, report_id: ReportId, body: RejectBody, user: CurrentStaff, session: SessionDep
) -> ReportRead:
    """须写明原因。标为重复（`duplicate_of`）时原诉求须仍有效：原诉求已驳回或已撤销时 422
    `report.duplicate_of_invalid`（原诉求本身是重复件时，`details.original_id` 给出应指向的诉求）。
    标为重复后，提交人、此诉求的关注者和此前标为其重复的诉求的提交人都改为关注原诉求（原诉求为
    未办结、可关注的公开问题时），在“我的关注”里看其进展；此前的重复件也改为指向原诉求。
    提交人收到驳回通知（订阅消息 `report_rejected`，含原因）。"""
    report = await admin_actions.reject(session, user, report_id, body)
    return await answer(request, session, user, report, "staff")


@router.post(
    "/reports/{report_id}/extension/{ext_id}/decision",
    response_model=ReportRead,
    summary="审批延期",
    responses=errors(401, 403, 404, 409, 422),
)
async def decide_extension(
    request: Request,
    report_id: ReportId,
    ext_id: ExtensionId,
    body: ExtensionDecision,
    user: CurrentStaff,
    session: SessionDep,
) -> ReportRead:
    """网格员的申请由社区管理员审批，社区的由街道管理员审批；职能部门人员的申请由部门所在
    区划的管理员审批。诉求办结、驳回、重办，或转给他人、上报上级后，未审批的申请失效，再审批 409 `extension.lapsed`。"""
    report = await extensions.decide_extension(session, user, report_id, ext_id, body.approve)
    return await answer(request, session, user, report, "staff")


@router.post(
    "/reports/{report_id}/supervise",
    response_model=ReportRead,
    summary="督办",
    responses=errors(401, 403, 404, 409, 422),
)
async def supervise_report(
    request: Request,
    report_id: ReportId,
    body: NoteBody,
    user: CurrentStaff,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> ReportRead | Response:
    """每次调用追加一条督办意见。支持 `Idempotency-Key`：重试带同一个键返回第一次的结果。"""

    async def work() -> ReportRead:
        report = await admin_actions.supervise(session, user, report_id, body.note)
        return await answer(request, session, user, report, "staff")

    return await run_idempotent(
        request, session, owner=f"user:{user.id}", key=key, status_code=200, work=work
    )


@router.post(
    "/admin/reports/{report_id}/review",
    response_model=ReportRead,
    summary="人工审核被内容安全拦下待审的文字",
    responses=errors(401, 403, 404, 409, 422),
)
async def review_report(
    request: Request, report_id: ReportId, body: ReviewBody, user: CurrentAdmin, session: SessionDep
) -> ReportRead:
    """一次决定覆盖该诉求中被内容安全拦下待审（review）或暂未能检测（pending）的全部居民文字：
    描述、评价内容和处理记录中居民写的原因。`approve=true` 放行，其他读者（API Key 等）从此
    看到原文；`false` 保持隐藏（blocked），只有本人和工作人员可见。没有待审文字时 409
    `report.not_under_review`。"""
    report = await admin_actions.review(session, user, report_id, body.approve)
    return await answer(request, session, user, report, "staff")
