"""Submitting a case, reading it back, and the lists of cases."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.convenience.catalogue import get_errand_service
from app.core import clock
from app.core.errors import INT64_MAX, Invalid, NotFound
from app.core.rawsql import Raw
from app.media.models import Media
from app.media.service import load_owned_media
from app.org import geo
from app.org import service as org_service
from app.org.models import Region
from app.outbox import listeners as outbox_listeners
from app.policies import service as policy_service
from app.reports import dispatch, sla
from app.reports.calendar import load_calendar
from app.reports.models import (
    Category,
    Report,
    ReportEvent,
    ReportMedia,
)
from app.reports.schemas import (
    ReportCreate,
)
from app.reports.state import OPEN

HIDDEN_TEXT = "（内容审核中）"


def report_number(report: Report) -> str:
    """Human case number: E + creation date in Shanghai + zero-padded id."""
    return f"E{clock.to_shanghai(report.created_at):%Y%m%d}-{report.id:06d}"


def parse_number(text: str) -> int | None:
    """The id in a case number (``E20261122-000007`` → 7); ``None`` when it is not one."""
    text = text.strip().upper()
    if text.startswith("E") and "-" in text:
        return _as_id(text.rsplit("-", 1)[1])
    return None


def _as_id(text: str) -> int | None:
    """``text`` as an id if it is one: decimal digits, within the 64-bit range
    of ids (a larger number is no id, rather than a driver error)."""
    if not text.isdecimal():  # not ``isdigit``: "²" is a digit that ``int`` refuses
        return None
    value = int(text)
    return value if 1 <= value <= INT64_MAX else None


async def add_event(
    session: AsyncSession,
    report: Report,
    type: str,
    *,
    actor: Principal | None = None,
    actor_role: str | None = None,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    media: Sequence[Media] = (),
) -> ReportEvent:
    event = ReportEvent(
        report_id=report.id,
        type=type,
        actor_id=actor.id if actor else None,
        actor_role=actor_role or (_main_role(actor) if actor else None),
        from_status=from_status,
        to_status=to_status,
        note=note,
        data=data or {},
        created_at=clock.now(),
    )
    # Written at once, past the ORM's unit of work: a case's every change adds
    # an event, and on the submit path each ORM flush costs more than the SQL.
    raw = await Raw.of(session)
    await raw.insert(event)
    for position, m in enumerate(media):
        await raw.insert(
            ReportMedia(report_id=report.id, media_id=m.id, event_id=event.id, position=position)
        )
    # Messages the event causes (notifications, webhooks) join this transaction.
    await outbox_listeners.report_event(session, report, event)
    return event


def _main_role(principal: Principal) -> str:
    if not principal.grants:
        return "resident"
    order = [
        "superadmin",
        "district_admin",
        "street_admin",
        "community_admin",
        "grid_leader",
        "grid_worker",
        "grid_worker_part",
        "department_staff",
    ]
    roles = principal.roles
    return next((r for r in order if r in roles), principal.grants[0].role)


async def _queue_region(session: AsyncSession) -> Region | None:
    """Where a case with no grid waits: the street when there is one street, else the top."""
    roots = list(
        await session.scalars(
            select(Region).where(Region.parent_id.is_(None)).order_by(Region.id).limit(2)
        )
    )
    if len(roots) != 1:
        return roots[0] if roots else None
    streets = list(
        await session.scalars(
            select(Region).where(Region.parent_id == roots[0].id).order_by(Region.id).limit(2)
        )
    )
    return streets[0] if len(streets) == 1 else roots[0]


@dataclass
class Submitted:
    """A case just filed, with what was decided and written on the way."""

    report: Report
    category: Category
    grid: Region | None
    choice: dispatch.Choice | None
    media: list[Media]
    events: list[ReportEvent]


async def submit(
    session: AsyncSession,
    *,
    principal: Principal,
    body: ReportCreate,
    locator: Any,
    moderation: str = "pass",
    source: str = "miniapp",
) -> Submitted:
    """File a case and dispatch it (DESIGN §5): locate, route by category, choose
    the person, record why, and set the deadlines."""
    raw = await Raw.of(session)
    # Read as the case's foreign key will hold it: a change of the category's
    # kind or its retirement (``category_service``, under FOR UPDATE) waits for
    # this case to be filed and then finds it, or goes first and this reads it.
    category = await raw.one(Category, "code = $1", body.category, key_share=True)
    if category is None or not category.active:
        raise Invalid(
            "report.unknown_category",
            "诉求类别不存在，请重新选择",
            details={"category": body.category},
        )
    if category.kind != body.kind:
        raise Invalid(
            "report.kind_mismatch",
            f"类别“{category.name}”不能用于此类诉求",
            details={"category": category.code, "kind": body.kind},
        )
    await _check_references(session, principal, body)
    media = await load_owned_media(session, owner_id=principal.id, media_ids=body.media_ids)
    now = clock.now()

    lat = lng = None
    grid: Region | None = None
    if body.location is not None:
        if not geo.in_china(body.location.lng, body.location.lat):
            raise Invalid(
                "geo.outside_china",
                "位置不在中国境内，请重新选择",
                details={"lat": body.location.lat, "lng": body.location.lng},
            )
        lng, lat = geo.to_wgs84(body.location.lng, body.location.lat, body.location.coord)
        grid = await org_service.locate(session, lng, lat, cache=locator)
    located_by = "location" if grid is not None else None
    if grid is None and principal.user.home_grid_id is not None:
        grid = await raw.one(Region, "id = $1", principal.user.home_grid_id)
        located_by = "home_grid" if grid is not None else None
    queue = None
    if grid is None and body.location is None and principal.api_client is not None:
        # An integrator's case with an address but no point: the key's region
        # is the narrowest place known (a community's system files for that
        # community), so it waits there — in its grid, for a grid's key.
        queue = await _key_queue(session, principal.api_client.region_id)
        if queue is not None and queue.level == "grid":
            grid, located_by, queue = queue, "api_key_region", None

    report = Report(
        kind=body.kind,
        category_id=category.id,
        reporter_id=principal.id,
        description=body.description or "",
        moderation=moderation,
        lat=lat,
        lng=lng,
        coord_in=body.location.coord if body.location else None,
        address=body.address,
        grid_id=grid.id if grid else None,
        region_path=grid.path if grid else "",
        status="submitted",
        complexity=category.complexity,
        created_at=now,
        updated_at=now,
        policy_id=body.policy_id,
        service_id=body.service_id,
        source=source,
    )
    choice, route_data = await _route(session, report, category, grid, now, queue)
    # The new case is written straight away (``Raw``) and stays out of the
    # session: it is the record of what was stored, and the answer is built
    # from it.
    await raw.insert(report)
    for position, m in enumerate(media):
        await raw.insert(ReportMedia(report_id=report.id, media_id=m.id, position=position))
    created = await add_event(
        session,
        report,
        "created",
        actor=principal,
        to_status="submitted",
        data={"located_by": located_by, "source": source},
    )
    if report.status == "dispatched":
        routed = await add_event(
            session,
            report,
            "dispatched",
            from_status="submitted",
            to_status="dispatched",
            actor_role="system",
            data=route_data,
        )
    else:
        routed = await add_event(session, report, "queued", actor_role="system", data=route_data)
    return Submitted(report, category, grid, choice, list(media), [created, routed])


async def _check_references(
    session: AsyncSession, principal: Principal, body: ReportCreate
) -> None:
    """A consultation may name the policy it asks about, an errand the service
    to be done; each must exist (and the service must be one done for residents)."""
    if body.policy_id is not None:
        if body.kind != "consultation":
            raise Invalid("report.policy_not_allowed", "只有咨询可以关联政策")
        try:
            await policy_service.get_visible_policy(session, body.policy_id, principal)
        except NotFound as exc:
            raise Invalid(
                "report.unknown_policy", "所咨询的政策不存在", details={"policy_id": body.policy_id}
            ) from exc
    if body.service_id is not None:
        if body.kind != "errand":
            raise Invalid("report.service_not_allowed", "只有代办可以关联便民服务事项")
        try:
            await get_errand_service(session, body.service_id)
        except NotFound as exc:
            raise Invalid(
                "report.unknown_service",
                "所选服务事项不存在",
                details={"service_id": body.service_id},
            ) from exc


async def _key_queue(session: AsyncSession, region_id: int) -> Region | None:
    """Where a case an API key files without a point waits: the key's region,
    unless the usual queue (``_queue_region``) lies within it."""
    region = await session.get(Region, region_id)
    usual = await _queue_region(session)
    if region is None or (usual is not None and usual.path.startswith(region.path)):
        return usual
    return region


async def _route(
    session: AsyncSession,
    report: Report,
    category: Category,
    grid: Region | None,
    now: datetime,
    queue: Region | None = None,
) -> tuple[dispatch.Choice | None, dict[str, Any]]:
    """Owner and deadlines of a new case. The response clock starts at creation
    wherever the case goes (DESIGN §6): a case left in a manual-dispatch queue
    is due, and becomes overdue, like one dispatched at once. A case with no
    grid waits in ``queue``, by default ``_queue_region``."""
    report.response_due_at = report.first_response_due_at = sla.response_due(now, category)
    if grid is None and queue is None:
        queue = await _queue_region(session)
    if category.routing == "department" and await _department_holds(session, category, grid, queue):
        report.status, report.owner_level = "dispatched", "department"
        report.owner_department_id = category.department_id
        report.dispatched_at = now
        if not report.region_path:
            report.region_path = queue.path if queue else ""
        return None, {
            "rule": "category_department",
            "department_id": category.department_id,
            "reason": f"类别“{category.name}”直接派给职能部门",
            "grid": {"id": grid.id, "name": grid.name} if grid else None,
        }
    if grid is not None:
        choice = await dispatch.choose(session, grid, sos=report.kind == "sos")
        if choice.user is not None:
            report.status, report.owner_level = "dispatched", "grid"
            report.assignee_id = report.last_assignee_id = choice.user.id
            report.owner_region_id = grid.id
            report.dispatched_at = now
        else:
            report.owner_level, report.owner_region_id = "community", grid.parent_id
        return choice, choice.data(grid)
    report.owner_level = queue.level if queue else "street"
    report.owner_region_id = queue.id if queue else None
    report.region_path = queue.path if queue else ""
    return None, {
        "rule": "no_grid_queue",
        "reason": "未能定位到网格，进入人工派单队列",
        "queue": {"id": queue.id, "name": queue.name} if queue else None,
    }


async def _department_holds(
    session: AsyncSession, category: Category, grid: Region | None, queue: Region | None
) -> bool:
    """Whether the category's department may take a case located in ``grid``:
    its staff read the case and the reporter's contact, so a case only goes
    to a department whose region holds it (as escalation requires); a case
    with no grid is placed where it would wait (``queue``). Otherwise it is
    dispatched like any other case."""
    if category.department_id is None:
        return False
    place = grid or queue
    where = place.path if place else ""
    path = await (await Raw.of(session)).fetchval(
        "SELECT r.path FROM department d JOIN region r ON r.id = d.region_id WHERE d.id = $1",
        category.department_id,
    )
    return path is not None and bool(where) and where.startswith(path)


async def start_resolution_clock(session: AsyncSession, report: Report, now: datetime) -> None:
    """Acceptance starts the resolution clock (SLA by category and complexity)."""
    category = await session.get(Category, report.category_id)
    assert category is not None
    calendar = await load_calendar(session)
    report.resolve_due_at = sla.extend(
        sla.resolve_due(now, category, report.complexity, calendar), report.extension_hours
    )


# ---------------------------------------------------------------- nearby


async def nearby(
    session: AsyncSession,
    *,
    lng: float,
    lat: float,
    category: Category,
    radius_m: float = 250.0,
    limit: int = 5,
) -> list[tuple[Report, float]]:
    """Open cases of one category within ``radius_m`` of a WGS-84 point, nearest first."""
    dlat = radius_m / 111_000
    dlng = radius_m / (111_000 * max(0.1, math.cos(math.radians(lat))))
    rows = await session.scalars(
        select(Report)
        .where(
            Report.category_id == category.id,
            Report.kind == "issue",  # ``access.followable``: whatever the category became
            Report.status.in_(OPEN),
            Report.lat.between(lat - dlat, lat + dlat),
            Report.lng.between(lng - dlng, lng + dlng),
        )
        .order_by(Report.id.desc())
        .limit(500)
    )
    found = []
    for r in rows:
        assert r.lat is not None and r.lng is not None
        d = geo.distance_m(lng, lat, r.lng, r.lat)
        if d <= radius_m:
            found.append((r, d))
    found.sort(key=lambda pair: (pair[1], -pair[0].id))
    return found[:limit]


def window_clause(column: Any, start: datetime | None, end: datetime | None) -> Any:
    conds: list[Any] = []
    if start is not None:
        conds.append(column >= start)
    if end is not None:
        conds.append(column < end)
    return and_(*conds) if conds else None


# A digit anywhere, ASCII or full-width (``\d`` is Unicode-aware).
_DIGIT = re.compile(r"\d")
# ``LIKE``'s escape character: "/" rather than a backslash, which PostgreSQL
# and SQLite read differently in a string literal.
_LIKE_ESCAPE = "/"


def _contains_pattern(text: str) -> str:
    """A ``LIKE`` pattern (escape ``_LIKE_ESCAPE``) that finds ``text`` anywhere,
    as written: its ``%`` and ``_`` stand for themselves, not for any text."""
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return f"%{text}%"


def search_clause(q: str, *, held_text: bool = True) -> Any:
    """Cases whose number, description or address contains ``q`` as written
    (case-blind). ``held_text=False`` (a third-party key, which reads the
    description masked): text content security holds is not searched, so a
    search cannot tell what the hidden text says; nor is the description
    searched for anything with a digit in it. A key reads the phone and ID
    numbers in a description with their middle digits masked, and any digit
    searched for, however short the run and whatever surrounds it ("398",
    "139 876"), would tell whether a hidden digit is that one."""
    text = q.strip()
    like = _contains_pattern(text)
    in_text: ColumnElement[bool] = Report.description.ilike(like, escape=_LIKE_ESCAPE)
    if not held_text:
        in_text = and_(in_text, Report.moderation == "pass")
        if _DIGIT.search(text):
            in_text = false()
    conds: list[Any] = [in_text, Report.address.ilike(like, escape=_LIKE_ESCAPE)]
    number_id = parse_number(text) or _as_id(text)
    if number_id is not None:
        conds.append(Report.id == number_id)
    return or_(*conds)


async def count_open(session: AsyncSession, user_id: int) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Report)
            .where(Report.assignee_id == user_id, Report.status.in_(OPEN))
        )
        or 0
    )
