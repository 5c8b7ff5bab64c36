"""A case as its reader may see it: the detail with its timeline, and the list
item; composed from the database or, for a case just filed, from what
``service.submit`` wrote."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import clock
from app.core.masking import mask_name, mask_numbers_in_text, mask_phone
from app.core.settings import Settings
from app.media.models import Media
from app.media.service import media_read
from app.org.models import Region
from app.reports.access import View
from app.reports.models import (
    Category,
    ExtensionRequest,
    Report,
    ReportEvent,
    ReportFollow,
    ReportMedia,
)
from app.reports.moderation import shown
from app.reports.overdue import is_overdue
from app.reports.schemas import (
    ActorRef,
    CategoryRef,
    EventRead,
    Location,
    PersonRef,
    RatingRead,
    RegionRef,
    ReportListItem,
    ReportRead,
)
from app.reports.service import HIDDEN_TEXT, Submitted, report_number
from app.users.models import Membership, User


async def _users(session: AsyncSession, ids: set[int]) -> dict[int, User]:
    ids.discard(None)  # type: ignore[arg-type]
    if not ids:
        return {}
    return {u.id: u for u in await session.scalars(select(User).where(User.id.in_(ids)))}


async def _roles(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Membership.user_id, Membership.role)
        .where(Membership.user_id.in_(ids))
        .order_by(Membership.id)
    )
    out: dict[int, str] = {}
    for uid, role in rows:
        out.setdefault(uid, role)
    return out


class _Named(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str | None: ...
    @property
    def nickname(self) -> str | None: ...
    @property
    def phone(self) -> str | None: ...


def _person(user: _Named | None, role: str | None, *, full: bool) -> PersonRef | None:
    if user is None:
        return None
    name = user.name or user.nickname
    return PersonRef(
        id=user.id,
        name=name if full else mask_name(name),
        role=role,
        phone_masked=mask_phone(user.phone),
    )


async def list_items(
    session: AsyncSession,
    reports: Sequence[Report],
    view: View,
) -> list[ReportListItem]:
    categories = {
        c.id: c
        for c in await session.scalars(
            select(Category).where(Category.id.in_({r.category_id for r in reports}))
        )
    }
    grid_ids = {r.grid_id for r in reports if r.grid_id}
    grids = {g.id: g for g in await session.scalars(select(Region).where(Region.id.in_(grid_ids)))}
    now = clock.now()
    return [
        _item(r, categories[r.category_id], grids.get(r.grid_id or 0), view, now) for r in reports
    ]


def _item(
    report: Report, category: Category, grid: Region | None, view: View, now: datetime
) -> ReportListItem:
    return list_item(
        report,
        CategoryRef(code=category.code, name=category.name),
        RegionRef(id=grid.id, name=grid.name) if grid else None,
        view,
        now,
    )


def list_item(
    report: Any, category: CategoryRef, grid: RegionRef | None, view: View, now: datetime
) -> ReportListItem:
    """A case as a list shows it. ``report``: a ``Report``, or a row with the
    same attributes (``listing`` reads only the columns a list needs)."""
    return ReportListItem(
        id=report.id,
        number=report_number(report),
        kind=report.kind,
        category=category,
        description=description(report, view),
        status=report.status,
        grid=grid,
        address=report.address if view != "public" else None,
        created_at=report.created_at,
        response_due_at=report.response_due_at,
        resolve_due_at=report.resolve_due_at,
        overdue=is_overdue(report, now),
    )


def free_text(text: str | None, view: View, moderation: str | None = "pass") -> str | None:
    """Other written text of a case (rating comment, timeline notes) as
    ``view`` shows it: the public view gets none of it; a third-party key
    reads it as it reads the description, with phone numbers masked, and the
    placeholder while content security holds it (``moderation``: the text's
    verdict; a resident's comment or note held for review or not yet checked
    is read only by its author and the staff). Staff who do not handle the case
    read it with the numbers masked, held or not (they may have to review it)."""
    if text is None or view in ("owner", "handler"):
        return text
    if view == "public":
        return None
    if view == "staff":
        return mask_numbers_in_text(text)
    if not shown(moderation):
        return HIDDEN_TEXT
    return mask_numbers_in_text(text)


def description(report: Any, view: View) -> str:
    """The resident's text as ``view`` shows it: in full to its author and the
    staff handling the case; phone and ID numbers written into it masked for
    everyone else; and the placeholder while content security holds it for
    readers other than staff (followers, the nearby list, third-party keys)."""
    if view in ("owner", "handler"):
        return report.description  # type: ignore[no-any-return]
    if view == "staff":
        return mask_numbers_in_text(report.description)
    if report.moderation != "pass":
        return HIDDEN_TEXT
    return mask_numbers_in_text(report.description)


async def read(
    session: AsyncSession,
    report: Report,
    *,
    view: View,
    principal: Principal,
    settings: Settings,
    timeline: bool = True,
) -> ReportRead:
    """The case as ``principal`` may see it; media URLs are signed afresh."""
    [item] = await list_items(session, [report], view)
    users = await _users(session, {report.assignee_id, report.reporter_id})  # type: ignore[arg-type]
    roles = await _roles(session, {report.assignee_id} if report.assignee_id else set())
    media_rows = (
        []
        if view == "public"
        else list(
            await session.scalars(
                select(Media)
                .join(ReportMedia, ReportMedia.media_id == Media.id)
                .where(ReportMedia.report_id == report.id, ReportMedia.event_id.is_(None))
                .order_by(ReportMedia.position)
            )
        )
    )
    following = (
        await session.scalar(
            select(ReportFollow.user_id).where(
                ReportFollow.report_id == report.id, ReportFollow.user_id == principal.id
            )
        )
        is not None
    )
    pending = await session.scalar(
        select(ExtensionRequest).where(
            ExtensionRequest.report_id == report.id, ExtensionRequest.status == "pending"
        )
    )
    assignee_id = report.assignee_id or 0
    reporter = users.get(report.reporter_id)
    return compose(
        report,
        item=item,
        view=view,
        settings=settings,
        assignee=_person(users.get(assignee_id), roles.get(assignee_id), full=True),
        # Only the reporter sees their own name in full; handlers who must call
        # them use the audited GET /reports/{id}/reporter-contact.
        # A deleted reporter has no name left: the placeholder names nobody.
        reporter=_person(
            reporter,
            "resident",
            full=view == "owner" or (reporter is not None and reporter.deleted_at is not None),
        ),
        media=media_rows,
        following=following,
        pending=pending,
        timeline=await _timeline(session, report, view, settings) if timeline else None,
    )


def read_submitted(new: Submitted, *, principal: Principal, settings: Settings) -> ReportRead:
    """The answer to its reporter for a case just filed, from what ``submit``
    wrote (the same as ``read`` would give after reading it all back)."""
    report = new.report
    assignee = new.choice.user if new.choice else None
    return compose(
        report,
        item=_item(report, new.category, new.grid, "owner", clock.now()),
        view="owner",
        settings=settings,
        assignee=_person(assignee, assignee.first_role if assignee else None, full=True),
        reporter=_person(principal.user, "resident", full=True),
        media=new.media,
        following=False,
        pending=None,
        timeline=events_read(new.events, {}, {principal.id: principal.user}, "owner", settings),
    )


def compose(
    report: Report,
    *,
    item: ReportListItem,
    view: View,
    settings: Settings,
    assignee: PersonRef | None,
    reporter: PersonRef | None,
    media: Sequence[Media],
    following: bool,
    pending: ExtensionRequest | None,
    timeline: list[EventRead] | None,
) -> ReportRead:
    public = view == "public"
    rating = (
        RatingRead(
            score=report.rating_score,  # type: ignore[arg-type]
            comment=free_text(report.rating_comment, view, report.rating_moderation),
            # A follower reads no comment, nor whether it was held.
            moderation=report.rating_moderation if report.rating_comment and not public else None,
            at=report.rated_at,
        )
        if report.rating_score and report.rated_at
        else None
    )
    return ReportRead(
        **item.model_dump(),
        assignee=None if public else assignee,
        reporter=None if public else reporter,
        location=Location(lat=report.lat, lng=report.lng, coord="wgs84")
        if report.lat is not None and report.lng is not None and not public
        else None,
        # Media are read by their uploader, the case's handlers and admins in
        # scope; a follower is none of them.
        media=[] if public else [media_read(m, settings) for m in media],
        rating=rating,
        helpful=report.helpful,
        moderation=report.moderation,
        reopen_count=report.reopen_count,
        accepted_at=report.accepted_at,
        resolved_at=report.resolved_at,
        closed_at=report.closed_at,
        duplicate_of=report.duplicate_of_id,
        policy_id=report.policy_id,
        service_id=report.service_id,
        following=following,
        pending_extension={
            "id": pending.id,
            "hours": pending.hours,
            "reason": free_text(pending.reason, view),
            "requested_by": pending.requested_by,
            "at": pending.created_at,
        }
        if pending and not public
        else None,
        timeline=timeline,
    )


async def _timeline(
    session: AsyncSession, report: Report, view: View, settings: Settings
) -> list[EventRead]:
    events = list(
        await session.scalars(
            select(ReportEvent).where(ReportEvent.report_id == report.id).order_by(ReportEvent.id)
        )
    )
    media_rows = (
        await session.execute(
            select(ReportMedia.event_id, Media)
            .join(Media, Media.id == ReportMedia.media_id)
            .where(ReportMedia.report_id == report.id, ReportMedia.event_id.is_not(None))
            .order_by(ReportMedia.position)
        )
    ).all()
    by_event: dict[int, list[Media]] = {}
    for event_id, m in media_rows:
        by_event.setdefault(event_id or 0, []).append(m)
    actors = await _users(session, {e.actor_id for e in events if e.actor_id})
    return events_read(events, by_event, actors, view, settings)


def events_read(
    events: Sequence[ReportEvent],
    by_event: Mapping[int, list[Media]],
    actors: Mapping[int, User],
    view: View,
    settings: Settings,
) -> list[EventRead]:
    public = view == "public"
    out = []
    for e in events:
        actor = actors.get(e.actor_id or 0)
        if public:
            actor_ref = ActorRef(role=e.actor_role) if e.actor_role else None
        elif actor is not None:
            name = actor.name or actor.nickname
            if actor.kind == "resident" and view != "owner" and actor.deleted_at is None:
                # As in ``reporter``: staff see a resident's name masked and
                # read the contact through the audited reporter-contact route.
                name = mask_name(name)
            actor_ref = ActorRef(id=actor.id, name=name, role=e.actor_role)
        else:
            actor_ref = ActorRef(role=e.actor_role) if e.actor_role else None
        out.append(
            EventRead(
                id=e.id,
                type=e.type,
                actor=actor_ref,
                from_status=e.from_status,
                to_status=e.to_status,
                # Public view: what happened and when; no names, phones or written text.
                note=free_text(e.note, view, e.moderation),
                moderation="pass" if public else e.moderation,
                media=[] if public else [media_read(m, settings) for m in by_event.get(e.id, [])],
                at=e.created_at,
                data={} if public else (e.data or {}),
            )
        )
    return out
