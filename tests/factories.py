"""Small typed factories for tests. They flush (never commit) through the
test's session, so the app under test sees the rows and the test's rollback
removes them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import hash_password, issue_token
from app.core.settings import Settings
from app.org.models import Department, Region
from app.users.models import Membership, User

_seq = itertools.count(1)


def square(lng: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    """A GeoJSON Polygon: the square with south-west corner (lng, lat)."""
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [lng, lat],
                [lng + size, lat],
                [lng + size, lat + size],
                [lng, lat + size],
                [lng, lat],
            ]
        ],
    }


async def make_region(
    session: AsyncSession,
    *,
    level: str,
    name: str | None = None,
    parent: Region | None = None,
    boundary: dict[str, Any] | None = None,
    code: str | None = None,
    households: int | None = None,
) -> Region:
    region = Region(
        level=level,
        name=name or f"{level}-{next(_seq)}",
        parent_id=parent.id if parent else None,
        boundary=boundary,
        code=code,
        households=households,
        path="",
    )
    session.add(region)
    await session.flush()
    region.path = f"{parent.path if parent else '/'}{region.id}/"
    await session.flush()
    return region


@dataclass
class Tree:
    district: Region
    street: Region
    community: Region
    grid: Region
    other_grid: Region
    other_community: Region
    far_grid: Region


async def make_tree(session: AsyncSession) -> Tree:
    """district → street → {community A: grids g1, g2; community B: grid g3}.
    Grid squares sit near 沁阳 (112.9E, 35.0N), 0.01° apart."""
    district = await make_region(session, level="district", name=f"沁阳市{next(_seq)}")
    street = await make_region(session, level="street", name="太行怀庆街道", parent=district)
    community = await make_region(session, level="community", name="玉溪苑社区", parent=street)
    grid = await make_region(
        session, level="grid", name="第一网格", parent=community, boundary=square(112.90, 35.00)
    )
    other_grid = await make_region(
        session, level="grid", name="第二网格", parent=community, boundary=square(112.91, 35.00)
    )
    other_community = await make_region(
        session, level="community", name="沁水湾社区", parent=street
    )
    far_grid = await make_region(
        session,
        level="grid",
        name="第三网格",
        parent=other_community,
        boundary=square(112.92, 35.00),
    )
    return Tree(district, street, community, grid, other_grid, other_community, far_grid)


async def make_user(
    session: AsyncSession,
    *,
    kind: str = "resident",
    name: str | None = None,
    phone: str | None = None,
    openid: str | None = None,
    username: str | None = None,
    password: str | None = None,
    home_grid: Region | None = None,
    **extra: Any,
) -> User:
    n = next(_seq)
    user = User(
        kind=kind,
        name=name,
        nickname=name or f"用户{n}",
        phone=phone,
        openid=openid if openid is not None else (f"openid-{n}" if kind == "resident" else None),
        username=username,
        password_hash=hash_password(password) if password else None,
        home_grid_id=home_grid.id if home_grid else None,
        **extra,
    )
    session.add(user)
    await session.flush()
    return user


async def make_staff(
    session: AsyncSession,
    role: str,
    region: Region,
    *,
    name: str | None = None,
    phone: str | None = "13800000000",
    username: str | None = None,
    password: str | None = None,
    department: Department | None = None,
    on_duty: bool = True,
) -> User:
    n = next(_seq)
    user = await make_user(
        session,
        kind="staff",
        name=name or f"员工{n}",
        phone=phone,
        username=username or f"staff{n}",
        password=password,
        on_duty=on_duty,
    )
    await grant(session, user, role, region, department=department)
    return user


async def grant(
    session: AsyncSession,
    user: User,
    role: str,
    region: Region,
    department: Department | None = None,
) -> Membership:
    membership = Membership(
        user_id=user.id,
        role=role,
        region_id=region.id,
        department_id=department.id if department else None,
    )
    session.add(membership)
    await session.flush()
    return membership


def auth(settings: Settings, user: User) -> dict[str, str]:
    """Authorization header of a fresh access token for ``user``."""
    token = issue_token(settings, user_id=user.id, version=user.token_version, type="access")
    return {"Authorization": f"Bearer {token}"}
