from __future__ import annotations

import httpx
import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.users.models import Membership
from tests.factories import grant, make_staff
from tests.users.helpers import STAFF, make_world


def ids(r: httpx.Response) -> list[int]:
    assert r.status_code == 200, r.text
    return [s["id"] for s in r.json()["items"]]


async def test_list_is_scoped(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.get(STAFF, headers=w.as_(w.community_admin))
    assert ids(r) == [w.worker.id, w.community_admin.id]
    assert r.json()["next_cursor"] is None
    r = await client.get(STAFF, headers=w.as_(w.other_admin))
    assert ids(r) == [w.other_admin.id]
    r = await client.get(STAFF, headers=w.as_(w.street_admin))
    assert ids(r) == [w.worker.id, w.street_admin.id, w.other_admin.id, w.community_admin.id]
    # The superadmin sees all staff, themselves and staff with no role left included;
    # residents are never staff.
    r = await client.get(STAFF, headers=w.as_(w.superadmin))
    seen = ids(r)
    assert {w.superadmin.id, w.street_admin.id, w.worker.id} <= set(seen)
    assert w.resident.id not in seen


async def test_staff_without_roles_are_the_superadmins_only(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    await session.execute(delete(Membership).where(Membership.user_id == w.worker.id))
    await session.flush()
    assert w.worker.id not in ids(await client.get(STAFF, headers=w.as_(w.street_admin)))
    assert w.worker.id in ids(await client.get(STAFF, headers=w.as_(w.superadmin)))
    r = await client.get(f"{STAFF}/{w.worker.id}", headers=w.as_(w.street_admin))
    assert r.status_code == 404
    r = await client.get(f"{STAFF}/{w.worker.id}", headers=w.as_(w.superadmin))
    assert r.status_code == 200
    assert r.json()["roles"] == []


async def test_filters(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    # Grid worker far away, grid leader here: matches role=grid_worker only outside here.
    mixed = await make_staff(
        session,
        "grid_worker",
        w.tree.far_grid,
        name="欧阳娜娜",
        username="ouyang_nn",
        phone="13512340000",
    )
    await grant(session, mixed, "grid_leader", w.tree.grid)
    sa = w.as_(w.street_admin)

    r = await client.get(STAFF, params={"region_id": w.tree.other_community.id}, headers=sa)
    assert ids(r) == [mixed.id, w.other_admin.id]
    r = await client.get(STAFF, params={"role": "grid_worker"}, headers=sa)
    assert ids(r) == [mixed.id, w.worker.id]
    r = await client.get(
        STAFF, params={"role": "grid_worker", "region_id": w.tree.community.id}, headers=sa
    )
    assert ids(r) == [w.worker.id]
    r = await client.get(
        STAFF, params={"role": "grid_leader", "region_id": w.tree.community.id}, headers=sa
    )
    assert ids(r) == [mixed.id]
    # The community admin sees mixed through the grid leader role, but not as a grid worker.
    ca = w.as_(w.community_admin)
    assert ids(await client.get(STAFF, params={"role": "grid_worker"}, headers=ca)) == [w.worker.id]
    assert mixed.id in ids(await client.get(STAFF, headers=ca))

    for q in ("娜娜", "OUYANG", "1351234"):
        assert ids(await client.get(STAFF, params={"q": q}, headers=sa)) == [mixed.id], q
    # Wildcards are text, not patterns.
    assert ids(await client.get(STAFF, params={"q": "%"}, headers=sa)) == []
    assert ids(await client.get(STAFF, params={"q": "_"}, headers=sa)) == [mixed.id]


async def test_filter_errors(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    ca = w.as_(w.community_admin)
    r = await client.get(STAFF, params={"region_id": w.tree.other_community.id}, headers=ca)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    for params in ({"role": "mayor"}, {"limit": 101}, {"limit": 0}, {"q": "x" * 65}):
        r = await client.get(STAFF, params=params, headers=ca)
        assert r.status_code == 422, params
        assert r.json()["error"]["code"] == "validation_error"
    r = await client.get(STAFF, params={"cursor": "eyJpZCI6ICJ4In0"}, headers=ca)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "pagination.bad_cursor"


async def test_paging(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> None:
    w = await make_world(session, settings)
    made = [await make_staff(session, "grid_worker", w.tree.other_grid) for _ in range(4)]
    expected = [m.id for m in reversed(made)] + [w.worker.id, w.community_admin.id]
    ca = w.as_(w.community_admin)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(STAFF, params=params, headers=ca)
        seen += ids(r)
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    assert seen == expected
    # The default page holds them all.
    assert ids(await client.get(STAFF, headers=ca)) == expected


async def test_only_admins_list(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    assert (await client.get(STAFF)).status_code == 401
    assert (await client.get(f"{STAFF}/{w.worker.id}")).status_code == 401
    for user in (w.worker, w.resident):
        assert (await client.get(STAFF, headers=w.as_(user))).status_code == 403
        assert (await client.get(f"{STAFF}/{w.worker.id}", headers=w.as_(user))).status_code == 403


@pytest.mark.parametrize(
    ("caller", "target", "status"),
    [
        ("community_admin", "worker", 200),
        ("other_admin", "worker", 404),
        ("street_admin", "worker", 200),
        ("community_admin", "street_admin", 404),
        ("community_admin", "superadmin", 404),
        ("superadmin", "resident", 404),
        ("superadmin", "street_admin", 200),
    ],
)
async def test_get_one(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    caller: str,
    target: str,
    status: int,
) -> None:
    w = await make_world(session, settings)
    user = getattr(w, target)
    r = await client.get(f"{STAFF}/{user.id}", headers=w.as_(getattr(w, caller)))
    assert r.status_code == status
    if status == 200:
        assert r.json()["id"] == user.id
        assert r.json()["phone"] == "13800000000"
    else:
        assert r.json()["error"]["code"] == "staff.not_found"


async def test_get_missing_is_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.get(f"{STAFF}/{10**12}", headers=w.as_(w.superadmin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "staff.not_found"
