from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.security import verify_password
from app.core.settings import Settings
from tests.factories import auth, grant, make_staff
from tests.users.helpers import STAFF, make_world


async def test_on_duty_and_profile(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    old_token = auth(settings, w.worker)
    r = await client.patch(
        f"{STAFF}/{w.worker.id}",
        json={"on_duty": False, "name": "网格员乙", "phone": "13700001111"},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["on_duty"] is False
    assert body["name"] == "网格员乙"
    assert body["phone"] == "13700001111"
    assert body["phone_masked"] == "137****1111"
    assert body["disabled"] is False
    await session.refresh(w.worker)
    assert w.worker.on_duty is False
    assert w.worker.token_version == 0
    # Nothing here logs the worker out: their token still authenticates (and is refused
    # for its role, not for being stale).
    r = await client.get(STAFF, headers=old_token)
    assert r.json()["error"]["code"] == "auth.admin_only"

    r = await client.patch(
        f"{STAFF}/{w.worker.id}", json={"phone": None}, headers=w.as_(w.community_admin)
    )
    assert r.status_code == 200
    assert r.json()["phone"] is None
    assert r.json()["name"] == "网格员乙"  # untouched when absent


@pytest.mark.parametrize(
    "body",
    [
        {"phone": "10000000000"},
        {"password": "1234567"},
        {"name": ""},
        {"name": None},
        {"disabled": None},
        {"on_duty": "maybe"},
        {"token_version": 0},
    ],
)
async def test_bad_input(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, body: dict[str, Any]
) -> None:
    w = await make_world(session, settings)
    r = await client.patch(f"{STAFF}/{w.worker.id}", json=body, headers=w.as_(w.community_admin))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


async def test_disable_logs_out_everywhere(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    old_token = auth(settings, w.community_admin)
    assert (await client.get(STAFF, headers=old_token)).status_code == 200

    r = await client.patch(
        f"{STAFF}/{w.community_admin.id}", json={"disabled": True}, headers=w.as_(w.street_admin)
    )
    assert r.status_code == 200
    assert r.json()["disabled"] is True
    r = await client.get(STAFF, headers=old_token)
    assert r.status_code == 401

    # Enabled again, the account works with a new login, never with the old token.
    r = await client.patch(
        f"{STAFF}/{w.community_admin.id}", json={"disabled": False}, headers=w.as_(w.street_admin)
    )
    assert r.status_code == 200
    assert r.json()["disabled"] is False
    assert (await client.get(STAFF, headers=old_token)).status_code == 401
    await session.refresh(w.community_admin)
    assert w.community_admin.token_version == 1
    assert (await client.get(STAFF, headers=auth(settings, w.community_admin))).status_code == 200


async def test_password_reset_logs_out_and_takes_the_new_password(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    target = await make_staff(session, "community_admin", w.tree.community, password="old-pass-1")
    old_token = auth(settings, target)
    assert (await client.get(STAFF, headers=old_token)).status_code == 200

    r = await client.patch(
        f"{STAFF}/{target.id}", json={"password": "new-pass-22"}, headers=w.as_(w.street_admin)
    )
    assert r.status_code == 200
    assert "password" not in r.text and "hash" not in r.text
    r = await client.get(STAFF, headers=old_token)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "auth.token_revoked"
    await session.refresh(target)
    assert verify_password("new-pass-22", target.password_hash)
    assert not verify_password("old-pass-1", target.password_hash)


async def test_changing_ones_own_password_needs_the_current_one(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """A token taken from a device must not be enough to take the account over."""
    w = await make_world(session, settings)
    me = await make_staff(session, "community_admin", w.tree.community, password="old-pass-1")
    h = auth(settings, me)
    url = f"{STAFF}/{me.id}"
    for body in (
        {"password": "new-pass-22"},
        {"password": "new-pass-22", "current_password": "wrong-pass"},
    ):
        r = await client.patch(url, json=body, headers=h)
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "staff.current_password_wrong"
    await session.refresh(me)
    assert verify_password("old-pass-1", me.password_hash) and me.token_version == 0
    r = await client.patch(
        url, json={"password": "new-pass-22", "current_password": "old-pass-1"}, headers=h
    )
    assert r.status_code == 200, r.text
    await session.refresh(me)
    assert verify_password("new-pass-22", me.password_hash) and me.token_version == 1
    # The current password is asked of oneself only; an admin above resets it.
    r = await client.patch(url, json={"password": "third-pass-3"}, headers=w.as_(w.street_admin))
    assert r.status_code == 200, r.text


async def test_self_edit_but_never_self_disable(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    me = w.as_(w.community_admin)
    r = await client.patch(f"{STAFF}/{w.community_admin.id}", json={"disabled": True}, headers=me)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "staff.cannot_disable_self"
    r = await client.patch(f"{STAFF}/{w.community_admin.id}", json={"name": "新名字"}, headers=me)
    assert r.status_code == 200
    assert r.json()["name"] == "新名字"
    assert r.json()["disabled"] is False


async def test_outside_scope_is_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    far_worker = await make_staff(session, "grid_worker", w.tree.far_grid)
    for target in (far_worker, w.street_admin, w.superadmin, w.resident):
        r = await client.patch(
            f"{STAFF}/{target.id}", json={"on_duty": False}, headers=w.as_(w.community_admin)
        )
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "staff.not_found"
    r = await client.patch(
        f"{STAFF}/{far_worker.id}", json={"on_duty": False}, headers=w.as_(w.street_admin)
    )
    assert r.status_code == 200


async def test_only_admins_edit(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    url = f"{STAFF}/{w.worker.id}"
    assert (await client.patch(url, json={"on_duty": False})).status_code == 401
    for user in (w.worker, w.resident):
        r = await client.patch(url, json={"on_duty": False}, headers=w.as_(user))
        assert r.status_code == 403
    await session.refresh(w.worker)
    assert w.worker.on_duty is True


async def test_peers_and_superiors_cannot_be_taken_over(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    peer = await make_staff(session, "community_admin", w.tree.community)
    # A street admin elsewhere who also works one of this community's grids.
    boss = await make_staff(session, "grid_worker_part", w.tree.grid)
    await grant(session, boss, "street_admin", w.tree.street)
    for target in (peer, boss):
        for body in ({"password": "taken-over-1"}, {"disabled": True}, {"on_duty": False}):
            r = await client.patch(
                f"{STAFF}/{target.id}", json=body, headers=w.as_(w.community_admin)
            )
            assert r.status_code == 403, (target.id, body)
            assert r.json()["error"]["code"] == "staff.role_too_high"
    # Still visible: the grid role is in this admin's scope.
    r = await client.get(f"{STAFF}/{boss.id}", headers=w.as_(w.community_admin))
    assert r.status_code == 200
    r = await client.patch(
        f"{STAFF}/{peer.id}", json={"disabled": True}, headers=w.as_(w.street_admin)
    )
    assert r.status_code == 200
