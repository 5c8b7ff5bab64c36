"""诉求 routes for residents and grid workers (API.md "Reports"); admins' routes
are in ``admin_router``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import and_, or_, select

from app.auth.dependencies import (
    CurrentStaff,
    CurrentUser,
    SettingsDep,
    UserOrReportsReadKey,
    UserOrReportsWriteKey,
)
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.errors import Invalid, errors
from app.core.idempotency import IdempotencyKey, run_idempotent
from app.core.pagination import Cursor, Limit, Page
from app.core.ratelimit import Rate
from app.core.rawsql import standalone
from app.integrations import service as integrations
from app.org import geo
from app.org import service as org_service
from app.reports import (
    access,
    actions,
    detail,
    escalation,
    extensions,
    moderation,
    resident_actions,
    service,
)
from app.reports.category_service import get_active_category
from app.reports.models import Report, ReportFollow
from app.reports.routing import (
    Overdue,
    ReportId,
    StatusFilter,
    answer,
    overdue_clause,
    page,
)
from app.reports.schemas import (
    Coord,
    EscalateBody,
    EscalationTargets,
    ExtensionBody,
    NoteBody,
    RatingBody,
    ReasonBody,
    ReportCreate,
    ReportListItem,
    ReportRead,
    TransferBody,
)
from app.reports.state import OPEN

router = APIRouter(tags=["reports"])


# ---------------------------------------------------------------- residents


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportRead,
    summary="提交诉求",
    responses=errors(401, 403, 404, 409, 422, 429),
)
async def create_report(
    request: Request,
    body: ReportCreate,
    user: UserOrReportsWriteKey,
    session: SessionDep,
    settings: SettingsDep,
    key: IdempotencyKey = None,
) -> ReportRead | Response:
    """提交问题上报、咨询、代办或一键求助。系统按位置定位网格并自动派单给网格员；
    不在任何网格内时按居民所属网格，仍无则进入人工派单队列。支持 `Idempotency-Key`。"""
    if user.api_client is None:  # a key has its own limit, counted when it was checked
        await request.app.state.limiter.hit(
            f"reports:user:{user.id}",
            Rate.parse(settings.rate_limit_reports),
            code="report.rate_limited",
            message="提交太频繁，请稍后再试",
        )
    # A network call: made before the request's transaction opens.
    verdict = await moderation.check_text(request.app.state.wechat, user, body.description)

    async def work() -> ReportRead:
        new = await service.submit(
            session,
            principal=user,
            body=body,
            moderation=verdict,
            locator=org_service.locator_cache(request.app.state),
            source="api" if user.api_client else "miniapp",
        )
        integrations.check_case_region(user, new.report)
        return detail.read_submitted(new, principal=user, settings=settings)

    return await run_idempotent(
        request, session, owner=f"user:{user.id}", key=key, status_code=201, work=work
    )


@router.get(
    "/reports/mine",
    response_model=Page[ReportListItem],
    summary="我的诉求",
    responses=errors(401, 422),
)
async def my_reports(
    user: CurrentUser,
    session: SessionDep,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[ReportListItem]:
    stmt = select(Report).where(Report.reporter_id == user.id)
    if status:
        stmt = stmt.where(Report.status == status)
    return await page(session, stmt, "owner", cursor, limit)


@router.get(
    "/reports/following",
    response_model=Page[ReportListItem],
    summary="我关注的诉求",
    responses=errors(401, 422),
)
async def followed_reports(
    user: CurrentUser,
    session: SessionDep,
    status: StatusFilter = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[ReportListItem]:
    """居民关注的诉求（在地图上关注的，以及自己的诉求被标为重复后自动关注的原诉求），
    从新到旧。以关注者的视角显示：不含地址，待审核的描述不显示。"""
    followed = select(ReportFollow.report_id).where(ReportFollow.user_id == user.id)
    stmt = select(Report).where(Report.id.in_(followed), Report.kind == "issue")
    if status:
        stmt = stmt.where(Report.status == status)
    return await page(session, stmt, "public", cursor, limit)


@router.get(
    "/reports/nearby",
    response_model=Page[ReportListItem],
    summary="附近同类诉求（提交前查重）",
    responses=errors(401, 404, 422),
)
async def nearby_reports(
    user: CurrentUser,
    session: SessionDep,
    lat: Annotated[float, Query(ge=-90, le=90, description="纬度")],
    lng: Annotated[float, Query(ge=-180, le=180, description="经度")],
    category: Annotated[str, Query(max_length=32, description="类别代码")],
    coord: Annotated[Coord, Query(description="坐标系")] = "gcj02",
) -> Page[ReportListItem]:
    """250 米内同类别、未办结的诉求（最多 5 条，由近到远），居民可关注已有诉求而不重复提交。"""
    if not geo.in_china(lng, lat):
        raise Invalid("geo.outside_china", "位置不在中国境内，请重新选择")
    cat = await get_active_category(session, category)
    if not cat.followable:
        return Page(items=[], next_cursor=None)
    wlng, wlat = geo.to_wgs84(lng, lat, coord)
    found = await service.nearby(session, lng=wlng, lat=wlat, category=cat)
    items = await detail.list_items(session, [r for r, _ in found], "public")
    for item, (_, distance) in zip(items, found, strict=True):
        item.distance_m = round(distance, 1)
    return Page(items=items, next_cursor=None)


@router.get(
    "/reports/{report_id}",
    response_model=ReportRead,
    summary="诉求详情（含时间线）",
    responses=errors(401, 403, 404, 429),
)
async def get_report(
    request: Request, report_id: ReportId, user: UserOrReportsReadKey, session: SessionDep
) -> ReportRead:
    """本人、经办人员与管辖范围内的工作人员可见（不经办该诉求的工作人员看到的描述、评价和
    时间线备注中，手机号与身份证号脱敏；需要联系居民时用 reporter-contact）；也接受带 `reports:read` 的 API Key
    （其区域内的诉求，居民姓名与描述中的手机号脱敏，审核中的文字显示为“（内容审核中）”）。
    关注者看到公开视图：无上报人、经办人、地址、位置和照片，描述中的手机号脱敏。"""
    report, view = await access.get_visible(session, user, report_id)
    out = await answer(request, session, user, report, view)
    return integrations.redact_for_client(user, out)


@router.post(
    "/reports/{report_id}/rating",
    response_model=ReportRead,
    summary="评价（关闭诉求）",
    responses=errors(401, 403, 404, 409, 422),
)
async def rate_report(
    request: Request, report_id: ReportId, body: RatingBody, user: CurrentUser, session: SessionDep
) -> ReportRead:
    """任何评分都会关闭诉求。评价内容经微信内容安全检测，含不当信息时 422 `content.risky`；
    待人工审核或暂未能检测的评价内容只有本人和工作人员可见，其他读者（如 API Key）看到
    “（内容审核中）”。"""
    verdict = await _check_text(request, user, report_id, body.comment)
    report = await resident_actions.rate(session, user, report_id, body, moderation=verdict)
    return await answer(request, session, user, report, "owner")


@router.post(
    "/reports/{report_id}/reopen",
    response_model=ReportRead,
    summary="要求重办（办结 7 天内）",
    responses=errors(401, 403, 404, 409, 422),
)
async def reopen_report(
    request: Request, report_id: ReportId, body: ReasonBody, user: CurrentUser, session: SessionDep
) -> ReportRead:
    """回到上次的经办人并重新计算办结期限（此前批准的延期不再计入）；上次的经办人已停用或
    已不在岗时，按派单规则重新派单，无人可派则进入待派单队列。原因经微信内容安全检测，含不当信息时 422
    `content.risky`；待人工审核或暂未能检测的原因在处理记录中只有本人和工作人员可见。"""
    verdict = await _check_text(request, user, report_id, body.reason)
    report = await resident_actions.reopen(session, user, report_id, body, moderation=verdict)
    return await answer(request, session, user, report, "owner")


async def _check_text(request: Request, user: Principal, report_id: int, text: str | None) -> str:
    """Content security for what a resident writes on their case: ``risky`` is
    refused, nothing stored. ``review`` or WeChat unavailable (``pending``) is
    accepted and returned, to be stored with the text: it is then for the
    author and the staff until the recheck or a person clears it.
    A network call: made before the request's transaction opens, and only for
    the reporter's own case (read on its own, outside that transaction), so
    that guessing ids does not spend the service's WeChat quota."""
    if not text:
        return "pass"
    async with standalone(request.app.state.db, write=False) as raw:
        reporter = await raw.fetchval("SELECT reporter_id FROM report WHERE id = $1", report_id)
    if reporter is not None and reporter == user.id:
        return await moderation.check_text(request.app.state.wechat, user, text)
    # Anyone else is refused by the action itself (404, or 403 for staff who
    # see the case), before anything is stored.
    return "pass"


@router.post(
    "/reports/{report_id}/cancel",
    response_model=ReportRead,
    summary="撤销诉求（签收前）",
    responses=errors(401, 403, 404, 409),
)
async def cancel_report(
    request: Request, report_id: ReportId, user: CurrentUser, session: SessionDep
) -> ReportRead:
    report = await resident_actions.cancel(session, user, report_id)
    return await answer(request, session, user, report, "owner")


@router.post(
    "/reports/{report_id}/follow",
    response_model=ReportRead,
    summary="关注诉求",
    responses=errors(401, 403, 404, 409),
)
async def follow_report(
    request: Request, report_id: ReportId, user: CurrentUser, session: SessionDep
) -> ReportRead:
    """居民关注他人提交的、未办结的公开问题（地图上附近的诉求），之后在“我关注的诉求”里看进展。
    只有居民可以关注（工作人员、API Key 403 `report.follow_residents_only`）；不能关注的诉求 404。"""
    report = await resident_actions.follow(session, user, report_id, True)
    return await answer(request, session, user, report)


@router.delete(
    "/reports/{report_id}/follow", status_code=204, summary="取消关注", responses=errors(401, 404)
)
async def unfollow_report(report_id: ReportId, user: CurrentUser, session: SessionDep) -> Response:
    await resident_actions.follow(session, user, report_id, False)
    return Response(status_code=204)


@router.post(
    "/reports/{report_id}/helpful",
    response_model=ReportRead,
    summary="确认咨询答复有用（关闭咨询）",
    responses=errors(401, 403, 404, 409),
)
async def mark_helpful(
    request: Request, report_id: ReportId, user: CurrentUser, session: SessionDep
) -> ReportRead:
    report = await resident_actions.helpful(session, user, report_id)
    return await answer(request, session, user, report, "owner")


# ---------------------------------------------------------------- grid workers


@router.get(
    "/worker/tasks",
    response_model=Page[ReportListItem],
    summary="网格员待办",
    responses=errors(401, 403, 422),
)
async def worker_tasks(
    user: CurrentStaff,
    session: SessionDep,
    status: StatusFilter = None,
    overdue: Overdue = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[ReportListItem]:
    """派给我的诉求，加上本部门队列中待签收的、我带领网格内的一键求助。"""
    mine = [Report.assignee_id == user.id]
    departments = access.department_ids(user)
    if departments:
        mine.append(
            and_(
                Report.assignee_id.is_(None),
                Report.owner_department_id.in_(departments),
                Report.status.in_(OPEN),
            )
        )
    led = user.region_clause(Report.region_path, roles={"grid_leader"})
    if user.has_role("grid_leader"):
        mine.append(and_(Report.kind == "sos", Report.status.in_(OPEN), led))
    stmt = select(Report).where(or_(*mine))
    if status:
        stmt = stmt.where(Report.status == status)
    if overdue is not None:
        stmt = stmt.where(overdue_clause(overdue))  # type: ignore[arg-type]
    # Every case of the inbox is one the caller handles (``access.handles``).
    return await page(session, stmt, "handler", cursor, limit)


@router.post(
    "/reports/{report_id}/accept",
    response_model=ReportRead,
    summary="签收",
    responses=errors(401, 403, 404, 409),
)
async def accept_report(
    request: Request, report_id: ReportId, user: CurrentUser, session: SessionDep
) -> ReportRead:
    report = await actions.accept(session, user, report_id)
    return await answer(request, session, user, report, "staff")


@router.post(
    "/reports/{report_id}/progress",
    response_model=ReportRead,
    summary="记录处理进展",
    responses=errors(401, 403, 404, 409, 422),
)
async def report_progress(
    request: Request,
    report_id: ReportId,
    body: NoteBody,
    user: CurrentUser,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> ReportRead | Response:
    """每次调用追加一条进展记录（可带照片）。支持 `Idempotency-Key`：网络重试带同一个键
    返回第一次的结果，不会重复记录。"""

    async def work() -> ReportRead:
        report = await actions.progress(session, user, report_id, body)
        return await answer(request, session, user, report, "staff")

    return await run_idempotent(
        request, session, owner=f"user:{user.id}", key=key, status_code=200, work=work
    )


@router.post(
    "/reports/{report_id}/resolve",
    response_model=ReportRead,
    summary="办结",
    responses=errors(401, 403, 404, 409, 422),
)
async def resolve_report(
    request: Request, report_id: ReportId, body: NoteBody, user: CurrentUser, session: SessionDep
) -> ReportRead:
    report = await actions.resolve(session, user, report_id, body)
    return await answer(request, session, user, report, "staff")


@router.post(
    "/reports/{report_id}/answer",
    response_model=ReportRead,
    summary="答复咨询",
    responses=errors(401, 403, 404, 409, 422),
)
async def answer_report(
    request: Request, report_id: ReportId, body: NoteBody, user: CurrentUser, session: SessionDep
) -> ReportRead:
    report = await actions.resolve(session, user, report_id, body, answer=True)
    return await answer(request, session, user, report, "staff")


@router.post(
    "/reports/{report_id}/return",
    response_model=ReportRead,
    summary="退单（退回社区重新派单）",
    responses=errors(401, 403, 404, 409, 422),
)
async def return_report(
    request: Request, report_id: ReportId, body: ReasonBody, user: CurrentUser, session: SessionDep
) -> ReportRead:
    report = await actions.return_case(session, user, report_id, body)
    return await answer(request, session, user, report)


@router.get(
    "/reports/{report_id}/escalation-targets",
    response_model=EscalationTargets,
    summary="可上报的去向",
    responses=errors(401, 403, 404, 409),
)
async def escalation_targets(
    report_id: ReportId, user: CurrentUser, session: SessionDep
) -> EscalationTargets:
    """经办人上报前取可选的去向：高于当前层级的社区、街道，以及所属区划包含该诉求的职能部门
    （登记承办该类别的部门在前）。只有经办人可以调用（403 `report.not_handler`）；诉求当前
    状态不能上报时 409 `report.illegal_transition`。"""
    return await escalation.targets(session, user, report_id)


@router.post(
    "/reports/{report_id}/escalate",
    response_model=ReportRead,
    summary="上报上级",
    responses=errors(401, 403, 404, 409, 422),
)
async def escalate_report(
    request: Request,
    report_id: ReportId,
    body: EscalateBody,
    user: CurrentUser,
    session: SessionDep,
) -> ReportRead:
    """上报到社区、街道或职能部门，只能向上：目标须高于诉求当前所在层级（网格 → 社区 →
    街道 → 部门），否则 409 `report.escalate_not_upward`。上级的响应期限从上报时起算。"""
    report = await actions.escalate(session, user, report_id, body)
    return await answer(request, session, user, report)


@router.post(
    "/reports/{report_id}/extension",
    response_model=ReportRead,
    summary="申请延期",
    responses=errors(401, 403, 404, 409, 422),
)
async def request_extension(
    request: Request,
    report_id: ReportId,
    body: ExtensionBody,
    user: CurrentUser,
    session: SessionDep,
    key: IdempotencyKey = None,
) -> ReportRead | Response:
    """支持 `Idempotency-Key`：重试带同一个键返回第一次的结果。"""

    async def work() -> ReportRead:
        await extensions.request_extension(session, user, report_id, body)
        report, view = await access.get_visible(session, user, report_id)
        return await answer(request, session, user, report, view)

    return await run_idempotent(
        request, session, owner=f"user:{user.id}", key=key, status_code=200, work=work
    )


@router.post(
    "/reports/{report_id}/transfer",
    response_model=ReportRead,
    summary="转派",
    responses=errors(401, 403, 404, 409, 422),
)
async def transfer_report(
    request: Request,
    report_id: ReportId,
    body: TransferBody,
    user: CurrentUser,
    session: SessionDep,
) -> ReportRead:
    """转派给管辖范围内的其他工作人员，状态不变。两人同时操作同一诉求时只有一人成功：
    等待期间诉求已被他人改动的请求返回 409 `conflict.concurrent_update`，请刷新后重试。"""
    report = await actions.transfer(session, user, report_id, body)
    return await answer(request, session, user, report)
