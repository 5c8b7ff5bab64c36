"""Open311 GeoReport v2 on top of the reports domain (DESIGN §9).

- Services are our categories (public ones a third party may file; no 一键求助).
- ``status`` is ``open`` while the case waits or is being worked on, ``closed``
  once it is resolved, closed, rejected or cancelled; ``status_notes`` says
  which of ours it is. ``expected_datetime`` is the deadline that applies now:
  the response deadline before acceptance, the resolution deadline after.
- Times are W3C (ISO 8601 with the Asia/Shanghai offset); ``lat``/``long`` WGS-84.
- What a key reads: the cases in its region and those it filed. Without a key
  (only when ``EJIAREN_OPEN311_PUBLIC_READ`` is on): the public view of issues
  in public categories, without address, position or photo.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import clock
from app.core.settings import Settings
from app.integrations.models import Open311Request
from app.media.models import Media
from app.media.service import media_read
from app.org.models import Department, Region
from app.reports import detail as report_detail
from app.reports.models import Category, Report, ReportMedia
from app.reports.service import report_number
from app.reports.state import OPEN

WINDOW = timedelta(days=90)
KIND_GROUPS = {"issue": "问题上报", "consultation": "咨询", "errand": "代办"}
STATUS_NOTES = {
    "submitted": "已受理，待派单",
    "dispatched": "已派单，待签收",
    "in_progress": "处理中",
    "escalated": "已上报上级处理",
    "resolved": "已办结",
    "closed": "已办结并评价",
    "rejected": "已驳回",
    "cancelled": "已撤销",
}


def w3c(value: datetime | None) -> str | None:
    if value is None:
        return None
    return clock.to_shanghai(value).isoformat(timespec="seconds")


# ------------------------------------------------------------------ services


def services_clause() -> Any:
    return and_(
        Category.active.is_(True), Category.public.is_(True), Category.kind.in_(KIND_GROUPS)
    )


async def list_services(session: AsyncSession) -> list[Category]:
    stmt = select(Category).where(services_clause()).order_by(Category.sort_order, Category.code)
    return list(await session.scalars(stmt))


async def get_service(session: AsyncSession, code: str) -> Category | None:
    return await session.scalar(select(Category).where(Category.code == code, services_clause()))


async def changeset(session: AsyncSession) -> datetime:
    """When the services last changed: the latest creation or change of any
    category (a category switched off or made private leaves the list, so all
    of them count), never later than now."""
    created, changed = (
        await session.execute(select(func.max(Category.created_at), func.max(Category.updated_at)))
    ).one()
    now = clock.now()
    latest = max((t for t in (created, changed) if t is not None), default=None)
    return now if latest is None or latest > now else latest


def service_dict(category: Category) -> dict[str, Any]:
    group = KIND_GROUPS.get(category.kind, category.kind)
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": f"{group}：{category.name}",
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join([category.name, group, category.code]),
        "group": group,
    }


def definition_dict(category: Category) -> dict[str, Any]:
    # No category asks extra questions yet; attribute[...] sent anyway is kept.
    return {"service_code": category.code, "attributes": []}


# ------------------------------------------------------------------ requests


@dataclass(frozen=True)
class Query:
    ids: list[int] | None
    codes: list[str] | None
    start: datetime
    end: datetime
    statuses: set[str] | None
    page: int
    page_size: int


def status_of(report: Report) -> str:
    return "open" if report.status in OPEN else "closed"


def expected_at(report: Report) -> datetime | None:
    if report.status not in OPEN:
        return None
    if report.status == "in_progress":
        return report.resolve_due_at
    return report.response_due_at


def visible_clause(principal: Principal | None) -> Any:
    if principal is None:  # public view
        return and_(Report.kind == "issue", Category.public.is_(True))
    assert principal.api_client is not None
    return or_(
        Report.region_path.startswith(principal.api_client.region_path, autoescape=True),
        Report.reporter_id == principal.id,
    )


async def find_requests(
    session: AsyncSession, principal: Principal | None, query: Query
) -> list[tuple[Report, Category]]:
    stmt = (
        select(Report, Category)
        .join(Category, Category.id == Report.category_id)
        .where(visible_clause(principal))
    )
    if query.ids is not None:
        # Ids override every other filter (spec).
        stmt = stmt.where(Report.id.in_(query.ids)).order_by(Report.id.desc())
        return [(r, c) for r, c in (await session.execute(stmt)).all()]
    stmt = stmt.where(Report.created_at >= query.start, Report.created_at < query.end)
    if query.codes:
        stmt = stmt.where(Category.code.in_(query.codes))
    if query.statuses is not None and query.statuses != {"open", "closed"}:
        stmt = stmt.where(
            Report.status.in_(OPEN) if "open" in query.statuses else Report.status.not_in(OPEN)
        )
    stmt = (
        stmt.order_by(Report.created_at.desc(), Report.id.desc())
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    )
    return [(r, c) for r, c in (await session.execute(stmt)).all()]


async def get_request(
    session: AsyncSession, principal: Principal | None, report_id: int
) -> tuple[Report, Category] | None:
    row = (
        await session.execute(
            select(Report, Category)
            .join(Category, Category.id == Report.category_id)
            .where(Report.id == report_id, visible_clause(principal))
        )
    ).first()
    return (row[0], row[1]) if row else None


async def request_dicts(
    session: AsyncSession,
    rows: Sequence[tuple[Report, Category]],
    *,
    principal: Principal | None,
    settings: Settings,
    base_url: str,
) -> list[dict[str, Any]]:
    """The spec's service request objects as ``principal`` (an API client)
    reads them; without one, the public view."""
    full = principal is not None
    ids = [r.id for r, _ in rows]
    agencies = await _agencies(session, [r for r, _ in rows])
    photos: dict[int, str] = {}
    given: dict[int, str | None] = {}
    if full and ids:
        media_rows = (
            await session.execute(
                select(ReportMedia.report_id, Media)
                .join(Media, Media.id == ReportMedia.media_id)
                .where(ReportMedia.report_id.in_(ids), ReportMedia.event_id.is_(None))
                .order_by(ReportMedia.report_id, ReportMedia.position)
            )
        ).all()
        for report_id, media in media_rows:
            photos.setdefault(report_id, base_url + media_read(media, settings).url)
        given = dict(
            (
                await session.execute(
                    select(Open311Request.report_id, Open311Request.media_url).where(
                        Open311Request.report_id.in_(ids)
                    )
                )
            ).all()
        )
    out = []
    for report, category in rows:
        # The reports' own rule: a key that filed the case reads its text as
        # its author; any other key, or none, as a follower (the placeholder
        # while content security holds it, phone numbers masked).
        description = (
            report.description
            if _author(principal, report)
            else report_detail.description(report, "client" if full else "public")
        )
        out.append(
            {
                "service_request_id": str(report.id),
                "status": status_of(report),
                "status_notes": f"{STATUS_NOTES.get(report.status, report.status)}"
                f"（{report.status}），编号 {report_number(report)}",
                "service_name": category.name,
                "service_code": category.code,
                "description": description,
                "agency_responsible": agencies.get(report.id),
                "service_notice": None,
                "requested_datetime": w3c(report.created_at),
                "updated_datetime": w3c(report.updated_at),
                "expected_datetime": w3c(expected_at(report)),
                "address": report.address if full else None,
                "address_id": None,
                "zipcode": None,
                "lat": report.lat if full else None,
                "long": report.lng if full else None,
                "media_url": (photos.get(report.id) or given.get(report.id)) if full else None,
            }
        )
    return out


def _author(principal: Principal | None, report: Report) -> bool:
    return principal is not None and report.reporter_id == principal.id


async def _agencies(session: AsyncSession, reports: Sequence[Report]) -> dict[int, str]:
    """Who holds the case: its department, else the region whose queue or grid owns it."""
    department_ids = {r.owner_department_id for r in reports if r.owner_department_id}
    region_ids = {r.owner_region_id or r.grid_id for r in reports} - {None}
    departments = {
        d.id: d.name
        for d in await session.scalars(select(Department).where(Department.id.in_(department_ids)))
    }
    regions = {
        g.id: g.name for g in await session.scalars(select(Region).where(Region.id.in_(region_ids)))
    }
    out = {}
    for r in reports:
        name = departments.get(r.owner_department_id or 0) or regions.get(
            r.owner_region_id or r.grid_id or 0
        )
        if name:
            out[r.id] = name
    return out


async def record(
    session: AsyncSession,
    *,
    report: Report,
    client_id: int,
    media_url: str | None,
    attributes: dict[str, Any],
) -> Open311Request:
    row = Open311Request(
        token=secrets.token_urlsafe(16),
        report_id=report.id,
        client_id=client_id,
        media_url=media_url,
        attributes=attributes,
        created_at=clock.now(),
    )
    session.add(row)
    await session.flush()
    return row


async def find_token(session: AsyncSession, token: str) -> Open311Request | None:
    return await session.scalar(select(Open311Request).where(Open311Request.token == token))
