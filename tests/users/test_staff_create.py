from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import verify_password
from app.core.settings import Settings
from app.users.models import Membership, User
from tests.factories import make_staff
from tests.users.helpers import STAFF, World, make_department, make_world


def new_staff(w: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "username": "wangwu",
        "password": "Qinyang-2026",
        "name": "王五",
        "phone": "13912345678",
        "role": "grid_worker",
        "region_id": w.tree.grid.id,
    }
    body.update(overrides)
    return body


async def test_community_admin_creates_grid_worker(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.post(STAFF, json=new_staff(w), headers=w.as_(w.community_admin))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["username"] == "wangwu"
    assert body["name"] == "王五"
    assert body["phone"] == "13912345678"
    assert body["phone_masked"] == "139****5678"
    assert body["on_duty"] is True
    assert body["disabled"] is False
    assert body["created_at"]
    [role] = body["roles"]
    assert role["role"] == "grid_worker"
    assert role["region_id"] == w.tree.grid.id
    assert role["region_name"] == "第一网格"
    assert role["department_id"] is None

    user = await session.get(User, body["id"])
    assert user is not None
    assert user.kind == "staff"
    assert user.password_hash and user.password_hash.startswith("$argon2")
    assert verify_password("Qinyang-2026", user.password_hash)
    membership = await session.scalar(select(Membership).where(Membership.user_id == user.id))
    assert membership is not None and membership.id == role["id"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"password": "short77"},
        {"phone": "12345678901"},
        {"phone": "1391234567"},
        {"phone": "+8613912345678"},
        {"role": "superadmin"},
        {"role": "mayor"},
        {"name": ""},
        {"username": "wang wu"},
        {"username": "ab"},
        {"region_id": "abc"},
    ],
)
async def test_bad_input_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, overrides: dict[str, Any]
) -> None:
    w = await make_world(session, settings)
    r = await client.post(STAFF, json=new_staff(w, **overrides), headers=w.as_(w.street_admin))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert await session.scalar(select(User).where(User.username == "wangwu")) is None


async def test_superadmin_is_never_granted_even_by_a_superadmin(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    body = new_staff(w, role="superadmin", region_id=w.tree.district.id)
    r = await client.post(STAFF, json=body, headers=w.as_(w.superadmin))
    assert r.status_code == 422


async def test_phone_is_optional(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    body = new_staff(w)
    del body["phone"]
    r = await client.post(STAFF, json=body, headers=w.as_(w.community_admin))
    assert r.status_code == 201
    assert r.json()["phone"] is None
    assert r.json()["phone_masked"] is None


async def test_username_taken_is_409_whatever_the_case(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    await make_staff(session, "grid_worker", w.tree.far_grid, username="wangwu")
    for username in ("wangwu", "WangWu"):
        r = await client.post(
            STAFF, json=new_staff(w, username=username), headers=w.as_(w.community_admin)
        )
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "staff.username_taken"


async def test_region_outside_scope_is_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    body = new_staff(w, region_id=w.tree.far_grid.id)
    r = await client.post(STAFF, json=body, headers=w.as_(w.community_admin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    r = await client.post(STAFF, json=body, headers=w.as_(w.street_admin))
    assert r.status_code == 201
    r = await client.post(
        STAFF, json=new_staff(w, username="x-1", region_id=10**9), headers=w.as_(w.street_admin)
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"


async def test_only_admins_create(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.post(STAFF, json=new_staff(w))
    assert r.status_code == 401
    r = await client.post(STAFF, json=new_staff(w), headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    for user in (w.worker, w.resident):
        r = await client.post(STAFF, json=new_staff(w), headers=w.as_(user))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "auth.admin_only"
    # A grid leader is staff but no admin either.
    leader = await make_staff(session, "grid_leader", w.tree.community)
    r = await client.post(STAFF, json=new_staff(w), headers=w.as_(leader))
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("caller", "role", "region", "status"),
    [
        ("community_admin", "grid_leader", "community", 201),
        ("community_admin", "community_admin", "community", 403),
        ("street_admin", "community_admin", "community", 201),
        ("street_admin", "street_admin", "street", 403),
        ("street_admin", "district_admin", "district", 404),  # above their subtree
        ("superadmin", "district_admin", "district", 201),
    ],
)
async def test_rank_rule(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    caller: str,
    role: str,
    region: str,
    status: int,
) -> None:
    w = await make_world(session, settings)
    body = new_staff(w, role=role, region_id=getattr(w.tree, region).id)
    r = await client.post(STAFF, json=body, headers=w.as_(getattr(w, caller)))
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["code"] == "staff.role_too_high"


@pytest.mark.parametrize(
    ("role", "region"),
    [
        ("grid_worker", "community"),
        ("grid_worker_part", "street"),
        ("grid_leader", "street"),
        ("community_admin", "grid"),
        ("department_staff", "grid"),
    ],
)
async def test_level_mismatch(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, role: str, region: str
) -> None:
    w = await make_world(session, settings)
    body = new_staff(w, role=role, region_id=getattr(w.tree, region).id)
    r = await client.post(STAFF, json=body, headers=w.as_(w.superadmin))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "staff.role_level_mismatch"


async def test_department_staff_needs_a_department_in_scope(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    mine = await make_department(session, w.tree.community, "社区城管站")
    theirs = await make_department(session, w.tree.other_community, "社区城管站")
    street = await make_department(session, w.tree.street, "街道城管中队")
    base = new_staff(w, role="department_staff", region_id=w.tree.community.id)
    ca = w.as_(w.community_admin)

    r = await client.post(STAFF, json=base, headers=ca)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "staff.department_required"

    r = await client.post(STAFF, json={**base, "department_id": theirs.id}, headers=ca)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "department.not_found"
    # The street's department serves this community, but is not the community admin's to staff.
    r = await client.post(STAFF, json={**base, "department_id": street.id}, headers=ca)
    assert r.status_code == 404

    # The role must sit where the department serves.
    r = await client.post(
        STAFF,
        json={**base, "department_id": mine.id, "region_id": w.tree.other_community.id},
        headers=w.as_(w.street_admin),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "staff.department_region_mismatch"

    r = await client.post(STAFF, json={**base, "department_id": mine.id}, headers=ca)
    assert r.status_code == 201, r.text
    [role] = r.json()["roles"]
    assert role["department_id"] == mine.id
    assert role["department_name"] == "社区城管站"

    r = await client.post(
        STAFF,
        json={**new_staff(w, username="zhaoliu"), "department_id": mine.id},
        headers=ca,
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "staff.department_not_allowed"
