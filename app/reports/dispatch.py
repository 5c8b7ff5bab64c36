"""Automatic dispatch (DESIGN §5): which grid, which queue, which person.

Choosing the person, in order: the on-duty full-time 网格员 of the grid with the
fewest open cases (ties: the smaller user id) → an on-duty 网格长 of the grid →
an on-duty 网格长 who holds the role for the whole community → the community
admin. Nobody at all: the case waits in the community queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.org.models import Region
from app.reports.models import Report
from app.reports.state import OPEN
from app.users.models import Membership, User


@dataclass
class Choice:
    """Who gets the case and why (recorded in the ``dispatched`` event)."""

    user: User | None
    role: str | None
    rule: str
    reason: str
    notify: list[int] = field(default_factory=list)

    def data(self, grid: Region | None) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "reason": self.reason,
            "grid": {"id": grid.id, "name": grid.name} if grid else None,
            "assignee": {"id": self.user.id, "name": self.user.name, "role": self.role}
            if self.user
            else None,
            "notify": self.notify,
        }


async def _holders(session: AsyncSession, region_id: int, role: str) -> list[User]:
    rows = await session.scalars(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.region_id == region_id,
            Membership.role == role,
            User.disabled.is_(False),
            User.deleted_at.is_(None),
        )
        .order_by(User.id)
    )
    return list(rows)


async def _fewest_open(session: AsyncSession, users: list[User]) -> User:
    if len(users) == 1:
        return users[0]
    ids = [u.id for u in users]
    counts = dict(
        (
            await session.execute(
                select(Report.assignee_id, func.count())
                .where(and_(Report.assignee_id.in_(ids), Report.status.in_(OPEN)))
                .group_by(Report.assignee_id)
            )
        ).all()
    )
    return min(users, key=lambda u: (counts.get(u.id, 0), u.id))


async def choose(session: AsyncSession, grid: Region, *, sos: bool = False) -> Choice:
    """The person for a case located in ``grid`` (see the module docstring)."""
    community_id = grid.parent_id
    leaders = [u for u in await _holders(session, grid.id, "grid_leader")]
    community_leaders = await _holders(session, community_id, "grid_leader") if community_id else []
    notify = [u.id for u in (leaders or community_leaders)] if sos else []

    workers = [u for u in await _holders(session, grid.id, "grid_worker") if u.on_duty]
    if workers:
        person = await _fewest_open(session, workers)
        return Choice(
            person, "grid_worker", "grid_worker", f"{grid.name}当班专职网格员（在办件最少）", notify
        )
    on_duty_leaders = [u for u in leaders if u.on_duty]
    if on_duty_leaders:
        return Choice(
            on_duty_leaders[0],
            "grid_leader",
            "grid_leader",
            f"{grid.name}无当班专职网格员，派给网格长",
            notify,
        )
    on_duty_cl = [u for u in community_leaders if u.on_duty]
    if on_duty_cl:
        return Choice(
            on_duty_cl[0],
            "grid_leader",
            "community_grid_leader",
            "本网格无当班人员，派给社区网格长",
            notify,
        )
    if community_id:
        admins = await _holders(session, community_id, "community_admin")
        if admins:
            return Choice(
                admins[0],
                "community_admin",
                "community_admin",
                "网格无当班人员，派给社区管理员",
                notify,
            )
    return Choice(None, None, "community_queue", "网格无可派人员，进入社区待派单队列", notify)
