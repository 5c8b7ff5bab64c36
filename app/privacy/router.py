"""Personal information: export and deletion of one's own data, the handler's
audited look at a reporter's contact details, and the audit log (PIPL)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.auth.dependencies import CurrentAdmin, CurrentUser, SettingsDep
from app.core.db import SessionDep, writes
from app.core.errors import Forbidden, errors
from app.core.pagination import Cursor, Limit, Page, cursor_id, id_page
from app.core.timewin import WindowFrom, WindowTo, parse_window
from app.privacy import service
from app.privacy.schemas import AuditEntryRead, PersonalDataExport, ReporterContact
from app.reports import access
from app.reports.routing import ReportId
from app.users.models import User

router = APIRouter()


@router.get(
    "/me/export",
    response_model=PersonalDataExport,
    summary="导出本人全部个人信息（个人信息保护法）",
    tags=["me"],
    responses=errors(401),
)
async def export_me(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Any:
    """返回系统中关于本人的全部数据：账号资料、角色、诉求及其处理记录、关注、图片、
    预约、订阅授权，以及工作人员查看本人个人信息的记录。"""
    return await service.export(session, user=user.user, settings=settings)


@router.delete(
    "/me",
    status_code=204,
    summary="注销账号（匿名化，保留诉求用于统计）",
    tags=["me"],
    responses=errors(401, 409),
)
async def delete_me(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> Response:
    """清除姓名、手机号、微信身份、住址和所属网格，吊销全部令牌，取消未开始的预约，
    删除关注、订阅授权、未用于诉求的图片、为重试保存的应答和发给本人的订阅消息；已提交的诉求保留（提交人显示为“已注销用户”），
    统计数字不变。之后用同一微信登录将得到一个新账号。工作人员账号由管理员停用（409）。"""
    await service.erase(session, principal=user, settings=settings)
    return Response(status_code=204)


@router.get(
    "/reports/{report_id}/reporter-contact",
    response_model=ReporterContact,
    summary="经办人查看上报人联系方式（记入审计日志）",
    tags=["reports"],
    responses=errors(401, 403, 404),
)
@writes  # the audit entry
async def reporter_contact(
    request: Request,
    report_id: ReportId,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
) -> ReporterContact:
    """诉求详情中上报人的姓名和手机号是脱敏的；经办人（或诉求在队列中时管辖的管理员）
    需要联系居民时用此接口取完整信息，每次查看都记入审计日志。"""
    report, view = await access.get_visible(session, user, report_id)
    if view == "owner":
        who = user.user
    else:
        if view != "handler":  # ``access.handles``: the handler, or the queue's admins
            raise Forbidden("report.not_handler", "只有该诉求的经办人可以查看上报人联系方式")
        found = await session.get(User, report.reporter_id)
        assert found is not None  # reporter_id is a foreign key
        who = found
        await service.record(
            session,
            request,
            settings,
            actor=user,
            subject_id=who.id,
            action="report.reporter_contact",
            resource=f"report:{report.id}",
            region_path=report.region_path,
        )
    return ReporterContact(
        report_id=report.id,
        user_id=who.id,
        name=who.name or who.nickname,
        phone=who.phone,
        address=who.address,
    )


@router.get(
    "/admin/audit-log",
    response_model=Page[AuditEntryRead],
    summary="个人信息查看审计日志",
    tags=["staff"],
    responses=errors(401, 403, 422),
)
async def audit_log(
    user: CurrentAdmin,
    session: SessionDep,
    actor_id: Annotated[int | None, Query(description="查看人 id")] = None,
    subject_id: Annotated[int | None, Query(description="被查看的居民 id")] = None,
    action: Annotated[str | None, Query(max_length=48, description="查看内容")] = None,
    from_: WindowFrom = None,
    to: WindowTo = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[AuditEntryRead]:
    """管理员查看其辖区内工作人员查看居民个人信息的记录，按时间倒序。"""
    lo, hi = parse_window(from_, to)
    rows = await service.audit_page(
        session,
        principal=user,
        actor_id=actor_id,
        subject_id=subject_id,
        action=action,
        lo=lo,
        hi=hi,
        before_id=cursor_id(cursor),
        limit=limit,
    )
    return id_page(rows, limit, AuditEntryRead.model_validate)
