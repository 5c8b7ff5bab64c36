from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Invalid
from app.core.security import verify_password
from app.core.settings import Settings
from app.users.models import Membership
from app.users.service import create_superadmin
from tests.factories import auth, make_staff, make_tree
from tests.users.helpers import STAFF


async def _superadmin_roles(session: AsyncSession, user_id: int) -> list[Membership]:
    return list(
        (
            await session.scalars(
                select(Membership).where(
                    Membership.user_id == user_id, Membership.role == "superadmin"
                )
            )
        ).all()
    )


async def test_creates_a_working_superadmin(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    far_worker = await make_staff(session, "grid_worker", tree.far_grid)
    user = await create_superadmin(session, username="root", password="root-pass-1")
    assert user.kind == "staff"
    assert user.name == "root"
    assert verify_password("root-pass-1", user.password_hash)
    [m] = await _superadmin_roles(session, user.id)
    assert m.region_id is None

    r = await client.get(f"{STAFF}/{far_worker.id}", headers=auth(settings, user))
    assert r.status_code == 200
    r = await client.get(f"{STAFF}/{user.id}", headers=auth(settings, user))
    assert r.json()["roles"] == [
        {
            "id": m.id,
            "role": "superadmin",
            "region_id": None,
            "region_name": None,
            "region_level": None,
            "department_id": None,
            "department_name": None,
        }
    ]


async def test_existing_username_is_reset_not_duplicated(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    existing = await make_staff(
        session, "community_admin", tree.community, username="chief", password="forgotten-1"
    )
    existing.disabled = True
    await session.flush()
    old_token = auth(settings, existing)

    user = await create_superadmin(session, username="chief", password="remembered-1", name="主任")
    assert user.id == existing.id
    assert user.disabled is False
    assert user.name == "主任"
    assert verify_password("remembered-1", user.password_hash)
    assert not verify_password("forgotten-1", user.password_hash)
    assert len(await _superadmin_roles(session, user.id)) == 1

    again = await create_superadmin(session, username="chief", password="remembered-2")
    assert again.id == existing.id
    assert len(await _superadmin_roles(session, user.id)) == 1

    assert (await client.get(STAFF, headers=old_token)).status_code == 401
    assert (await client.get(STAFF, headers=auth(settings, user))).status_code == 200


async def test_short_password_is_refused(session: AsyncSession) -> None:
    with pytest.raises(Invalid):
        await create_superadmin(session, username="root", password="short")
    with pytest.raises(Invalid):
        await create_superadmin(session, username="  ", password="long-enough-1")
