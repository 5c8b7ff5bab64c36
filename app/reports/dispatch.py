"""Automatic dispatch (DESIGN §5): which grid, which queue, which person.

Choosing the person, in order: the on-duty full-time 网格员 of the grid with the
fewest open cases (ties: the smaller user id) → an on-duty 网格长 of the grid →
an on-duty 网格长 who holds the role for the whole community → the community
admin. Nobody at all: the case waits in the community queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.rawsql import Raw
from app.org.models import Region
from app.reports.state import OPEN
from app.users.models import Membership, User


@dataclass(frozen=True)
class Candidate:
    """A person who may be given a case: what the dispatch rules and the answer need."""

    id: int
    name: str | None
    nickname: str | None
    phone: str | None
    on_duty: bool
    first_role: str | None  # their first role (the role shown next to their name)


@dataclass
class Choice:
    """Who gets the case and why (recorded in the ``dispatched`` event)."""

    user: Candidate | None
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


_OPEN_LIST = ", ".join(f"'{status}'" for status in sorted(OPEN))
# Everyone the rules may pick, in one statement: the grid's leaders and workers,
# the community's leaders and admins, active accounts only; with the open cases
# of each on-duty worker of the grid, and each person's first role.
_CANDIDATES = f"""
SELECT u.id, u.name, u.nickname, u.phone, u.on_duty, m.region_id, m.role,
  (SELECT m2.role FROM membership m2 WHERE m2.user_id = u.id ORDER BY m2.id LIMIT 1)
    AS first_role,
  CASE WHEN m.role = 'grid_worker' AND u.on_duty THEN
    (SELECT count(*) FROM report r
      WHERE r.assignee_id = u.id AND r.status IN ({_OPEN_LIST}))
  END AS open_cases
FROM membership m JOIN user_account u ON u.id = m.user_id
WHERE ((m.region_id = $1 AND m.role IN ('grid_leader', 'grid_worker'))
    OR (m.region_id = $2 AND m.role IN ('grid_leader', 'community_admin')))
  AND u.disabled = false AND u.deleted_at IS NULL
ORDER BY u.id, m.id
"""


async def choose(session: AsyncSession, grid: Region, *, sos: bool = False) -> Choice:
    """The person for a case located in ``grid`` (see the module docstring)."""
    community_id = grid.parent_id
    raw = await Raw.of(session)
    rows = await raw.fetch(_CANDIDATES, grid.id, community_id if community_id else -1)
    held: dict[tuple[int, str], list[Candidate]] = {}
    open_cases: dict[int, int] = {}
    for row in rows:
        person = Candidate(
            id=row["id"],
            name=row["name"],
            nickname=row["nickname"],
            phone=row["phone"],
            on_duty=bool(row["on_duty"]),
            first_role=row["first_role"],
        )
        holders = held.setdefault((row["region_id"], row["role"]), [])
        if all(p.id != person.id for p in holders):
            holders.append(person)
        if row["open_cases"] is not None:
            open_cases[person.id] = int(row["open_cases"])
    leaders = held.get((grid.id, "grid_leader"), [])
    community_leaders = held.get((community_id, "grid_leader"), []) if community_id else []
    notify = [u.id for u in (leaders or community_leaders)] if sos else []

    workers = [u for u in held.get((grid.id, "grid_worker"), []) if u.on_duty]
    if workers:
        person = min(workers, key=lambda u: (open_cases.get(u.id, 0), u.id))
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
    admins = held.get((community_id, "community_admin"), []) if community_id else []
    if admins:
        return Choice(
            admins[0],
            "community_admin",
            "community_admin",
            "网格无当班人员，派给社区管理员",
            notify,
        )
    return Choice(None, None, "community_queue", "网格无可派人员，进入社区待派单队列", notify)
