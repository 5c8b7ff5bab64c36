"""Which cases a caller's figures are computed over: decided in one place.

Figures are computed over exactly the cases the caller may read (DESIGN §11),
so no figure can tell them anything about a case they could not open:

- an admin: the cases located in the subtrees they administer;
- a grid worker or grid leader: the cases in their grids (or, for a leader
  named for a whole community, its grids) and the cases that count for them;
- department staff: the cases their department owns and those that count for them.

``scope_for_principal`` is the only place that reads roles. Another kind of
caller (an API key with ``stats:read``, limited to its region) needs only its
own function returning a ``StatsScope``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, WORKER_ROLES, Principal
from app.core.errors import NotFound
from app.org.models import Region
from app.reports.models import Report
from app.stats.queries import path_clause, worker_expr

REGION_NOT_FOUND = ("region.not_found", "区域不存在或不在您的管辖范围内")


@dataclass(frozen=True)
class StatsScope:
    """``paths``: region subtrees (``None``: everything); ``worker_id``: also the
    cases that count for this person; ``department_ids``: also the cases these
    departments own."""

    paths: tuple[str, ...] | None
    worker_id: int | None = None
    department_ids: tuple[int, ...] = ()

    @property
    def by_region_only(self) -> bool:
        """Whether the scope is a union of subtrees, which the roll-up can serve."""
        return self.worker_id is None and not self.department_ids

    def covers(self, path: str) -> bool:
        return self.paths is None or any(path.startswith(p) for p in self.paths)

    def clause(self) -> ColumnElement[bool]:
        """The scope as a condition on ``report``."""
        if self.paths is None:
            return true()
        conds = [path_clause(Report.region_path, self.paths)] if self.paths else []
        if self.worker_id is not None:
            conds.append(worker_expr() == self.worker_id)
        if self.department_ids:
            conds.append(Report.owner_department_id.in_(self.department_ids))
        return or_(*conds) if conds else false()


def scope_for_principal(principal: Principal) -> StatsScope:
    if principal.is_superadmin:
        return StatsScope(paths=None)
    admin_paths = principal.scope_paths(ADMIN_ROLES) or []
    worker_paths = principal.scope_paths(WORKER_ROLES) or []
    paths = sorted(set(admin_paths) | set(worker_paths))
    # Drop paths already inside another one.
    paths = [p for p in paths if not any(p != q and p.startswith(q) for q in paths)]
    is_worker = bool(principal.roles & (WORKER_ROLES | {"department_staff"}))
    departments = sorted(
        {
            g.department_id
            for g in principal.grants
            if g.role == "department_staff" and g.department_id is not None
        }
    )
    return StatsScope(
        paths=tuple(paths),
        worker_id=principal.id if is_worker else None,
        department_ids=tuple(departments),
    )


async def region_in_scope(
    session: AsyncSession, principal: Principal, region_id: int | None
) -> Region | None:
    """The region asked for, if the caller holds a role over it; 404 otherwise
    (whether it exists or not, so existence never leaks). Department staff hold
    none: their figures are their department's cases, and a region's breakdown
    would only list its workers' names beside zeros."""
    if region_id is None:
        return None
    region = await session.get(Region, region_id)
    if region is None or not principal.covers(region.path, roles=ADMIN_ROLES | WORKER_ROLES):
        raise NotFound(*REGION_NOT_FOUND, details={"region_id": region_id})
    return region
