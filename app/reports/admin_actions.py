"""What an admin decides on a case (DESIGN §4): reject it (invalid, a
duplicate, not ours), press its owner (督办), and clear or keep hidden the
resident text content security holds. Checked and recorded as every action
is (``actions``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, delete, literal, or_, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import clock
from app.core.errors import Conflict, Invalid
from app.core.orm import insert_or_skip
from app.reports import access, extensions
from app.reports.actions import locked, move, require_admin_over_owner
from app.reports.models import Category, Report, ReportEvent, ReportFollow
from app.reports.moderation import HELD
from app.reports.schemas import RejectBody
from app.reports.service import add_event
from app.reports.state import EXCLUDED, check
from app.users.models import User


async def reject(
    session: AsyncSession, principal: Principal, report_id: int, body: RejectBody
) -> Report:
    """驳回. A duplicate points at its original, which must be a live case (not
    rejected or cancelled, so not itself a duplicate): otherwise 422
    ``report.duplicate_of_invalid``, so that no real issue vanishes and no two
    cases point at each other."""
    access.require_staff(principal)
    if body.duplicate_of is not None and body.duplicate_of != report_id:
        # Every case this changes locked at once, in id order: both cases and
        # the earlier duplicates of this one (``_join_original`` points them at
        # the original). Two admins marking cases duplicates of each other at
        # once are decided one after the other; locking the earlier duplicates
        # only when updating them deadlocked against an admin who had locked
        # one of them as an original.
        # Before them, the residents the merge carries over, KEY SHARE as the
        # foreign keys of their new follows will hold them: an account deletion
        # locks the account and then its cases, and taking the cases first
        # deadlocked with it.
        carried = union(
            select(Report.reporter_id).where(
                or_(Report.id == report_id, Report.duplicate_of_id == report_id)
            ),
            select(ReportFollow.user_id).where(ReportFollow.report_id == report_id),
        )
        await session.execute(
            select(User.id)
            .where(User.id.in_(carried))
            .order_by(User.id)
            .with_for_update(read=True, key_share=True)
        )
        await session.execute(
            select(Report.id)
            .where(
                or_(
                    Report.id.in_((report_id, body.duplicate_of)),
                    Report.duplicate_of_id == report_id,
                )
            )
            .order_by(Report.id)
            .with_for_update()
        )
    report = await locked(session, principal, report_id)
    check("reject", report.status)
    require_admin_over_owner(principal, report)
    if body.duplicate_of is not None:
        if body.duplicate_of == report.id:
            raise Invalid("report.duplicate_of_self", "不能标记为与自身重复")
        original, _ = await access.get_visible(session, principal, body.duplicate_of)
        _check_original(original)
        report.duplicate_of_id = original.id
        await _join_original(session, report, original)
    report.closed_at = clock.now()
    # A pending extension lapses with the case, as on resolve.
    lapsed = await extensions.lapse_pending(session, report, report.closed_at)
    await move(
        session,
        report,
        "reject",
        "rejected",
        principal,
        note=body.reason,
        data={
            "duplicate_of": report.duplicate_of_id,
            **({"lapsed_extensions": lapsed} if lapsed else {}),
        },
    )
    return report


async def _join_original(session: AsyncSession, duplicate: Report, original: Report) -> None:
    """The residents whose problem this case carried go with it to the original:
    its reporter, the residents who followed it, and the reporters of the cases
    marked duplicates of it earlier (which now point at the original, so no
    duplicate points at a duplicate). They follow it as if they had found it on
    the map (``access.followable``: an open public issue; residents only, never
    its own reporter), in one statement whatever their number, and a follow
    made at the same moment is no conflict."""
    category = await session.get(Category, original.category_id)
    if category is not None and access.followable(original, category):
        carried = or_(
            User.id == duplicate.reporter_id,
            User.id.in_(select(Report.reporter_id).where(Report.duplicate_of_id == duplicate.id)),
            User.id.in_(select(ReportFollow.user_id).where(ReportFollow.report_id == duplicate.id)),
        )
        residents = select(
            literal(original.id, type_=BigInteger),
            User.id,
            literal(clock.now(), type_=ReportFollow.__table__.c.created_at.type),
        ).where(
            carried,
            User.kind == "resident",
            User.deleted_at.is_(None),
            User.id != original.reporter_id,
        )
        await session.execute(
            insert_or_skip(session, ReportFollow).from_select(
                ["report_id", "user_id", "created_at"], residents
            )
        )
        # They follow the original now; the merged case is finished.
        await session.execute(delete(ReportFollow).where(ReportFollow.report_id == duplicate.id))
    await session.execute(
        update(Report)
        .where(Report.duplicate_of_id == duplicate.id)
        .values(duplicate_of_id=original.id)
        .execution_options(synchronize_session=False)
    )


def _check_original(original: Report) -> None:
    if original.status not in EXCLUDED:
        return
    root = original.duplicate_of_id
    raise Invalid(
        "report.duplicate_of_invalid",
        "所选诉求本身是重复诉求，请关联到它的原诉求"
        if root is not None
        else "所选诉求已驳回或已撤销，不能作为原诉求",
        details={"duplicate_of": original.id, "status": original.status, "original_id": root},
    )


async def supervise(
    session: AsyncSession, principal: Principal, report_id: int, note: str
) -> Report:
    """督办: an admin presses the owner; recorded, status unchanged."""
    access.require_staff(principal)
    report = await locked(session, principal, report_id)
    check("supervise", report.status)
    access.require_admin_over(principal, report)
    await add_event(
        session,
        report,
        "supervised",
        actor=principal,
        note=note,
        data={"assignee_id": report.assignee_id},
    )
    report.updated_at = clock.now()
    return report


async def review(
    session: AsyncSession, principal: Principal, report_id: int, approve: bool
) -> Report:
    """A person clears (or keeps hidden) the case's resident text that content
    security holds (for review, or not yet checked): the description, the
    rating comment and the resident's timeline notes, in one decision."""
    access.require_staff(principal)
    report = await locked(session, principal, report_id)
    access.require_admin_over(principal, report)
    notes = list(
        await session.scalars(
            select(ReportEvent.id)
            .where(ReportEvent.report_id == report.id, ReportEvent.moderation.in_(HELD))
            .order_by(ReportEvent.id)
        )
    )
    description = report.moderation in HELD
    rating = report.rating_moderation in HELD
    if not (description or rating or notes):
        raise Conflict("report.not_under_review", "该诉求的文字无需审核")
    state = "pass" if approve else "blocked"
    if description:
        report.moderation = state
    if rating:
        report.rating_moderation = state
    if notes:
        await session.execute(
            # Only what is still held: a recheck may have blocked a note since.
            update(ReportEvent)
            .where(ReportEvent.id.in_(notes), ReportEvent.moderation.in_(HELD))
            .values(moderation=state)
        )
    await add_event(
        session,
        report,
        "reviewed",
        actor=principal,
        data={
            "approved": approve,
            "description": description,
            "rating_comment": rating,
            "event_ids": notes,
        },
    )
    report.updated_at = clock.now()
    return report
