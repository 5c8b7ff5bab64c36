from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.users.models import Membership
from tests.factories import auth, grant, make_staff
from tests.users.helpers import STAFF, make_world


async def test_grant_role_returns_the_staff_record(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.post(
        f"{STAFF}/{w.worker.id}/roles",
        json={"role": "grid_leader", "region_id": w.tree.community.id},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"] == w.worker.id
    assert [(x["role"], x["region_id"]) for x in body["roles"]] == [
        ("grid_worker", w.tree.grid.id),
        ("grid_leader", w.tree.community.id),
    ]
    stored = await session.scalar(
        select(Membership).where(
            Membership.user_id == w.worker.id, Membership.role == "grid_leader"
        )
    )
    assert stored is not None and stored.id == body["roles"][1]["id"]


async def test_duplicate_role_is_409(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.post(
        f"{STAFF}/{w.worker.id}/roles",
        json={"role": "grid_worker", "region_id": w.tree.grid.id},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "staff.role_exists"
    # The same role in another grid is a different role.
    r = await client.post(
        f"{STAFF}/{w.worker.id}/roles",
        json={"role": "grid_worker", "region_id": w.tree.other_grid.id},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 201


async def test_grant_bad_input(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    url = f"{STAFF}/{w.worker.id}/roles"
    headers = w.as_(w.street_admin)
    for body in (
        {"role": "superadmin", "region_id": w.tree.grid.id},
        {"role": "grid_worker"},
        {"role": "grid_worker", "region_id": w.tree.grid.id, "extra": 1},
    ):
        r = await client.post(url, json=body, headers=headers)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "validation_error"
    r = await client.post(
        url, json={"role": "grid_leader", "region_id": w.tree.street.id}, headers=headers
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "staff.role_level_mismatch"


async def test_grant_outside_scope(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    far_worker = await make_staff(session, "grid_worker", w.tree.far_grid)
    body = {"role": "grid_worker_part", "region_id": w.tree.grid.id}
    # Staff of the other community do not exist for this admin, even for a region of theirs.
    r = await client.post(
        f"{STAFF}/{far_worker.id}/roles", json=body, headers=w.as_(w.community_admin)
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "staff.not_found"
    # Their own worker, but a region of the other community.
    r = await client.post(
        f"{STAFF}/{w.worker.id}/roles",
        json={"role": "grid_worker_part", "region_id": w.tree.far_grid.id},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    # The street admin covers both.
    r = await client.post(
        f"{STAFF}/{far_worker.id}/roles", json=body, headers=w.as_(w.street_admin)
    )
    assert r.status_code == 201
    # Residents are not staff, whoever asks.
    r = await client.post(f"{STAFF}/{w.resident.id}/roles", json=body, headers=w.as_(w.superadmin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "staff.not_found"


async def test_grant_rank_rule(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    body = {"role": "community_admin", "region_id": w.tree.community.id}
    r = await client.post(
        f"{STAFF}/{w.worker.id}/roles", json=body, headers=w.as_(w.community_admin)
    )
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "staff.role_too_high"
    r = await client.post(f"{STAFF}/{w.worker.id}/roles", json=body, headers=w.as_(w.street_admin))
    assert r.status_code == 201


async def test_only_admins_grant_and_revoke(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    membership = await grant(session, w.worker, "grid_worker_part", w.tree.other_grid)
    body = {"role": "grid_worker_part", "region_id": w.tree.grid.id}
    url = f"{STAFF}/{w.worker.id}/roles"
    assert (await client.post(url, json=body)).status_code == 401
    assert (await client.delete(f"{url}/{membership.id}")).status_code == 401
    for user in (w.worker, w.resident):
        r = await client.post(url, json=body, headers=w.as_(user))
        assert r.status_code == 403
        r = await client.delete(f"{url}/{membership.id}", headers=w.as_(user))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "auth.admin_only"
    assert await session.get(Membership, membership.id) is not None


async def test_revoke_role(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    extra = await grant(session, w.worker, "grid_worker_part", w.tree.other_grid)
    url = f"{STAFF}/{w.worker.id}/roles/{extra.id}"
    r = await client.delete(url, headers=w.as_(w.community_admin))
    assert r.status_code == 204
    assert r.content == b""
    r = await client.get(f"{STAFF}/{w.worker.id}", headers=w.as_(w.community_admin))
    assert [x["role"] for x in r.json()["roles"]] == ["grid_worker"]
    r = await client.delete(url, headers=w.as_(w.community_admin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "staff.role_not_found"


async def test_revoke_outside_scope(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    far = await grant(session, w.worker, "grid_worker_part", w.tree.far_grid)
    [own] = (
        await session.scalars(
            select(Membership).where(
                Membership.user_id == w.worker.id, Membership.role == "grid_worker"
            )
        )
    ).all()
    # The other community's admin sees the worker through the far grid, not their own grid role.
    r = await client.delete(f"{STAFF}/{w.worker.id}/roles/{own.id}", headers=w.as_(w.other_admin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "staff.role_not_found"
    # A role id of somebody else, under a staff id the caller may see.
    r = await client.delete(
        f"{STAFF}/{w.other_admin.id}/roles/{far.id}", headers=w.as_(w.other_admin)
    )
    assert r.status_code == 404
    # A staff member wholly outside the caller's scope.
    stranger = await make_staff(session, "grid_worker", w.tree.far_grid)
    [theirs] = (
        await session.scalars(select(Membership).where(Membership.user_id == stranger.id))
    ).all()
    r = await client.delete(
        f"{STAFF}/{stranger.id}/roles/{theirs.id}", headers=w.as_(w.community_admin)
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "staff.not_found"
    assert await session.get(Membership, theirs.id) is not None
    r = await client.delete(f"{STAFF}/{w.worker.id}/roles/{far.id}", headers=w.as_(w.other_admin))
    assert r.status_code == 204


async def test_revoke_rank_rule(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    peer = await make_staff(session, "community_admin", w.tree.community)
    [m] = (await session.scalars(select(Membership).where(Membership.user_id == peer.id))).all()
    await grant(session, peer, "grid_worker", w.tree.grid)
    url = f"{STAFF}/{peer.id}/roles/{m.id}"
    r = await client.delete(url, headers=w.as_(w.community_admin))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "staff.role_too_high"
    r = await client.delete(url, headers=w.as_(w.street_admin))
    assert r.status_code == 204


async def test_a_members_last_role_stays_until_the_account_is_disabled(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Without a role the member would be in no admin's scope: nobody but the
    superadmin could see, disable or restore the account."""
    w = await make_world(session, settings)
    worker = await make_staff(session, "grid_worker", w.tree.grid)
    [m] = (await session.scalars(select(Membership).where(Membership.user_id == worker.id))).all()
    url = f"{STAFF}/{worker.id}/roles/{m.id}"
    r = await client.delete(url, headers=w.as_(w.community_admin))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "staff.last_role"
    r = await client.get(f"{STAFF}/{worker.id}", headers=w.as_(w.community_admin))
    assert r.status_code == 200 and [x["id"] for x in r.json()["roles"]] == [m.id]
    # Another role first, then the old one may go.
    await grant(session, worker, "grid_worker", w.tree.other_grid)
    assert (await client.delete(url, headers=w.as_(w.community_admin))).status_code == 204


async def test_cannot_remove_own_last_admin_role(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    [m] = (
        await session.scalars(select(Membership).where(Membership.user_id == w.community_admin.id))
    ).all()
    r = await client.delete(
        f"{STAFF}/{w.community_admin.id}/roles/{m.id}", headers=w.as_(w.community_admin)
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "staff.cannot_remove_own_admin"
    [s] = (
        await session.scalars(select(Membership).where(Membership.user_id == w.superadmin.id))
    ).all()
    r = await client.delete(f"{STAFF}/{w.superadmin.id}/roles/{s.id}", headers=w.as_(w.superadmin))
    assert r.status_code == 409
    assert await session.get(Membership, s.id) is not None

    # With another admin role left, a lower one of one's own may go.
    sub = await grant(session, w.street_admin, "community_admin", w.tree.community)
    r = await client.delete(
        f"{STAFF}/{w.street_admin.id}/roles/{sub.id}", headers=w.as_(w.street_admin)
    )
    assert r.status_code == 204


async def test_revoked_role_bites_at_once(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    token = auth(settings, w.community_admin)
    r = await client.get(STAFF, headers=token)
    assert r.status_code == 200
    [m] = (
        await session.scalars(select(Membership).where(Membership.user_id == w.community_admin.id))
    ).all()
    await grant(session, w.community_admin, "grid_worker", w.tree.grid)  # demoted, not removed
    r = await client.delete(
        f"{STAFF}/{w.community_admin.id}/roles/{m.id}", headers=w.as_(w.street_admin)
    )
    assert r.status_code == 204
    # Same token, not expired, not revoked: only the role is gone.
    r = await client.get(STAFF, headers=token)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "auth.admin_only"
