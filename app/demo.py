"""Demo data: one street of 沁阳市 with its communities, grids, staff and residents,
sample policies, and 便民服务 (service points, services, booking slots).

Everything is found-or-created, so ``ejiaren demo`` can run again safely. The
passwords are for the local demo only; ``ejiaren demo`` refuses to run in prod.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import hash_password
from app.org.models import Region
from app.users.models import Membership, User

DEMO_PASSWORD = "demo1234"
DISTRICT = "沁阳市"
STREET = "太行怀庆街道"
# community → grids (each named after the compounds it covers)
COMMUNITIES: dict[str, list[str]] = {
    "玉溪苑社区": ["沁水湾小区网格", "玉溪苑东区网格", "玉溪苑西区网格", "怀府花园网格"],
    "怀庆社区": ["怀庆东街网格", "怀庆西街网格", "丹河苑网格"],
    "覃怀社区": ["覃怀北区网格", "覃怀南区网格", "建业小区网格"],
    "太行社区": ["太行花园网格", "朱载堉纪念馆片区网格", "商贸城网格"],
}
# South-west corner of the demo area and the size of one grid (degrees, WGS-84).
ORIGIN_LNG, ORIGIN_LAT = 112.930, 35.080
CELL_LNG, CELL_LAT = 0.004, 0.003
WORKER_NAMES = [
    "王建国",
    "李秀英",
    "张伟",
    "刘洋",
    "陈静",
    "杨磊",
    "赵敏",
    "黄强",
    "周丽",
    "吴军",
    "徐芳",
    "孙涛",
    "马琳",
    "朱红",
    "胡斌",
]
RESIDENT_CODES = ["demo-resident-1", "demo-resident-2", "demo-resident-3"]


def grid_feature_collection() -> dict[str, Any]:
    """The demo grids as an import file: each community is one column of cells."""
    features = []
    for col, (community, grids) in enumerate(COMMUNITIES.items()):
        for row, grid in enumerate(grids):
            lng = ORIGIN_LNG + col * CELL_LNG
            lat = ORIGIN_LAT + row * CELL_LAT
            ring = [
                [lng, lat],
                [lng + CELL_LNG, lat],
                [lng + CELL_LNG, lat + CELL_LAT],
                [lng, lat + CELL_LAT],
                [lng, lat],
            ]
            features.append(
                {
                    "type": "Feature",
                    "properties": {
                        "district": DISTRICT,
                        "street": STREET,
                        "community": community,
                        "grid": grid,
                        "code": f"DEMO-{col + 1:02d}-{row + 1:02d}",
                        "households": 380 + 10 * row + 5 * col,
                    },
                    "geometry": {
                        "type": "Polygon",
                        "coordinates": [[[round(x, 6), round(y, 6)] for x, y in ring]],
                    },
                }
            )
    return {"type": "FeatureCollection", "features": features}


def grid_centre(col: int, row: int) -> tuple[float, float]:
    """WGS-84 (lng, lat) of the centre of a demo grid cell."""
    return (ORIGIN_LNG + (col + 0.5) * CELL_LNG, ORIGIN_LAT + (row + 0.5) * CELL_LAT)


async def _staff(
    session: AsyncSession,
    username: str,
    name: str,
    phone: str,
    roles: list[tuple[str, Region | None]],
) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        user = User(
            kind="staff",
            username=username,
            name=name,
            nickname=name,
            phone=phone,
            password_hash=hash_password(DEMO_PASSWORD),
        )
        session.add(user)
        await session.flush()
    for role, region in roles:
        region_id = region.id if region else None
        exists = await session.scalar(
            select(Membership.id).where(
                Membership.user_id == user.id,
                Membership.role == role,
                Membership.region_id.is_(None)
                if region_id is None
                else Membership.region_id == region_id,
            )
        )
        if exists is None:
            session.add(Membership(user_id=user.id, role=role, region_id=region_id))
    await session.flush()
    return user


async def _child(session: AsyncSession, parent: Region | None, name: str) -> Region:
    stmt = select(Region).where(Region.name == name)
    stmt = (
        stmt.where(Region.parent_id == parent.id)
        if parent
        else stmt.where(Region.parent_id.is_(None))
    )
    region = await session.scalar(stmt)
    assert region is not None, f"演示区划缺失：{name}"
    return region


async def seed(session: AsyncSession) -> list[tuple[str, str, str]]:
    """Create the demo and return ``(account, role, how to log in)`` rows."""
    from app.org.grid_import import import_grids
    from app.wechat.fake import openid_for

    await import_grids(session, grid_feature_collection())
    district = await _child(session, None, DISTRICT)
    street = await _child(session, district, STREET)
    rows: list[tuple[str, str, str]] = []

    admin = await _staff(session, "admin", "系统管理员", "13900000000", [("superadmin", None)])
    rows.append(("admin", "系统管理员 superadmin", f"账号密码 admin / {DEMO_PASSWORD}"))
    street_admin = await _staff(
        session, "street", "街道管理员", "13900000001", [("street_admin", street)]
    )
    rows.append(("street", "街道管理员 street_admin", f"账号密码 street / {DEMO_PASSWORD}"))

    names = iter(WORKER_NAMES * 3)
    phone_seq = 13800138000
    first_grid: Region | None = None
    for col, (community_name, grid_names) in enumerate(COMMUNITIES.items()):
        community = await _child(session, street, community_name)
        c = col + 1
        await _staff(
            session,
            f"community{c}",
            f"{community_name}管理员",
            f"139000001{c:02d}",
            [("community_admin", community)],
        )
        rows.append(
            (
                f"community{c}",
                f"{community_name} 社区管理员",
                f"账号密码 community{c} / {DEMO_PASSWORD}",
            )
        )
        grids = [await _child(session, community, g) for g in grid_names]
        first_grid = first_grid or grids[0]
        # The first community names one 网格长 for all its grids; the others one per grid.
        if col == 0:
            await _staff(
                session, f"leader{c}", next(names), f"{phone_seq}", [("grid_leader", community)]
            )
            phone_seq += 1
            rows.append(
                (
                    f"leader{c}",
                    f"{community_name} 网格长（全社区）",
                    f"账号密码 leader{c} / {DEMO_PASSWORD}",
                )
            )
        for r, grid in enumerate(grids):
            g = r + 1
            if col != 0:
                await _staff(
                    session, f"leader{c}{g}", next(names), f"{phone_seq}", [("grid_leader", grid)]
                )
                phone_seq += 1
            await _staff(
                session, f"worker{c}{g}", next(names), f"{phone_seq}", [("grid_worker", grid)]
            )
            phone_seq += 1
            if c == 1 and g == 1:
                rows.append(
                    (
                        f"worker{c}{g}",
                        f"{grid.name} 专职网格员",
                        f"账号密码 worker{c}{g} / {DEMO_PASSWORD}",
                    )
                )
        await _staff(
            session, f"part{c}", next(names), f"{phone_seq}", [("grid_worker_part", grids[0])]
        )
        phone_seq += 1
    rows.append(("worker<社区><网格>", "其余专职网格员，如 worker23", f"密码均为 {DEMO_PASSWORD}"))

    assert first_grid is not None
    for i, code in enumerate(RESIDENT_CODES):
        openid = openid_for(code)
        user = await session.scalar(select(User).where(User.openid == openid))
        if user is None:
            session.add(
                User(
                    kind="resident",
                    openid=openid,
                    nickname=f"居民{i + 1}",
                    home_grid_id=first_grid.id if i == 0 else None,
                )
            )
        rows.append(
            (code, "居民（微信登录）", f'POST /api/v1/auth/wechat/login {{"code": "{code}"}}')
        )
    await session.flush()
    await _policies(session, admin, district)
    await _convenience(session, street_admin, street)
    return rows


async def _policies(session: AsyncSession, admin: User, district: Region) -> None:
    """Publish the sample policies for the whole district (once: by title), so
    政策咨询 has something to find in the demo."""
    from app.auth.dependencies import load_principal
    from app.policies import service as policies
    from app.policies.models import Policy
    from app.policies.samples import DOCS
    from app.policies.schemas import PolicyCreate

    existing = set(await session.scalars(select(Policy.title)))
    principal = await load_principal(session, admin)
    for doc in DOCS:
        if doc.title in existing:
            continue
        body = PolicyCreate(
            title=doc.title,
            body=doc.body,
            category=doc.category,
            tags=doc.tags,
            issuer=doc.issuer,
            doc_number=doc.doc_number,
            region_id=district.id,
        )
        policy = await policies.create_policy(session, principal=principal, body=body)
        await policies.transition(
            session, principal=principal, policy_id=policy.id, action="publish"
        )


async def _convenience(session: AsyncSession, street_admin: User, street: Region) -> None:
    """Service points, services and the coming week's booking slots (app.demo_convenience)."""
    from app.demo_convenience import seed_convenience

    await seed_convenience(session, street_admin, street)
