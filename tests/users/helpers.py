"""Callers and objects the staff and department tests share."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org.models import Department, Region
from app.users.models import Membership, User
from tests.factories import Tree, auth, make_staff, make_tree, make_user

STAFF = "/api/v1/admin/staff"
DEPARTMENTS = "/api/v1/admin/departments"


async def make_superadmin(session: AsyncSession) -> User:
    user = await make_user(session, kind="staff", name="系统管理员", username=None)
    session.add(Membership(user_id=user.id, role="superadmin", region_id=None))
    await session.flush()
    return user


async def make_department(
    session: AsyncSession, region: Region, name: str = "城市管理局", codes: list[str] | None = None
) -> Department:
    department = Department(name=name, region_id=region.id, category_codes=codes or [])
    session.add(department)
    await session.flush()
    return department


@dataclass
class World:
    """A tree and one caller of each kind the scope rules tell apart."""

    tree: Tree
    community_admin: User  # of tree.community
    other_admin: User  # community admin of tree.other_community
    street_admin: User  # of tree.street
    worker: User  # grid worker of tree.grid
    resident: User
    superadmin: User
    settings: Settings

    def as_(self, user: User) -> dict[str, str]:
        return auth(self.settings, user)


async def make_world(session: AsyncSession, settings: Settings) -> World:
    tree = await make_tree(session)
    return World(
        tree=tree,
        community_admin=await make_staff(session, "community_admin", tree.community, name="社区甲"),
        other_admin=await make_staff(
            session, "community_admin", tree.other_community, name="社区乙"
        ),
        street_admin=await make_staff(session, "street_admin", tree.street, name="街道管理员"),
        worker=await make_staff(session, "grid_worker", tree.grid, name="网格员甲"),
        resident=await make_user(session, name="居民甲"),
        superadmin=await make_superadmin(session),
        settings=settings,
    )
