"""Which region a new service or point belongs to, and who manages an existing one.

Services and points copy their region's path; an admin manages those whose
path lies in a subtree they administer. An empty path means "everywhere",
which only a superadmin manages.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, WORKER_ROLES, Principal
from app.convenience.exceptions import RegionRequired
from app.org import department_service
from app.org.models import Region

# Who staffs a point: the grid workers and admins of its region. Department
# staff are left out: their authority is the cases owned by their department
# (DESIGN §11), not the region their department sits in.
POINT_STAFF_ROLES = WORKER_ROLES | ADMIN_ROLES


async def region_for_new(
    session: AsyncSession, principal: Principal, region_id: int | None
) -> Region | None:
    """The region named (404 ``region.not_found`` outside the caller's admin scope);
    when none is named, the one region the caller administers (None for a
    superadmin: everywhere). An admin of several separate regions must choose."""
    if region_id is not None:
        return await department_service.region_in_scope(session, principal, region_id)
    if principal.is_superadmin:
        return None
    tops = principal.scope_paths(ADMIN_ROLES) or []
    if len(tops) != 1:
        raise RegionRequired(details={"field": "region_id"})
    grant = next(g for g in principal.grants if g.role in ADMIN_ROLES and g.region_path == tops[0])
    region = await session.get(Region, grant.region_id)
    if region is None:  # the membership points at a region that is gone
        raise RegionRequired(details={"field": "region_id"})
    return region


def manages(principal: Principal, region_path: str) -> bool:
    """Whether the caller may change a service or point with this region path."""
    return principal.covers(region_path, roles=ADMIN_ROLES)


def serves(principal: Principal, region_path: str) -> bool:
    """Whether a grid worker or admin works where the point is: they may publish
    its slots, see its bookings and check residents in."""
    return principal.covers(region_path, roles=POINT_STAFF_ROLES)


def ancestor_paths(path: str) -> list[str]:
    """``/1/5/12/`` → ``["", "/1/", "/1/5/", "/1/5/12/"]``: the scopes that apply at ``path``."""
    parts = [p for p in path.split("/") if p]
    return [""] + ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
