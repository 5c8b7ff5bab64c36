"""GET /admin/outbox and POST /admin/outbox/{id}/retry."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.outbox import enqueue
from app.outbox.models import OutboxMessage
from app.users.models import Membership, User
from tests.factories import auth, make_staff, make_tree, make_user
from tests.outbox.conftest import KIND

API = "/api/v1/admin/outbox"


async def _superadmin(session: AsyncSession) -> User:
    user = await make_user(session, kind="staff", name="系统管理员")
    session.add(Membership(user_id=user.id, role="superadmin", region_id=None))
    await session.flush()
    return user


async def _messages(session: AsyncSession) -> list[OutboxMessage]:
    made = []
    for n, status in enumerate(["pending", "dead", "sent", "dead", "pending"]):
        m = await enqueue(session, kind=KIND, payload={"n": n}, target=f"t{n}")
        m.status = status
        made.append(m)
    await session.flush()
    return made


async def test_superadmin_lists_dead_and_pending_newest_first_with_paging(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = await _superadmin(session)
    made = await _messages(session)
    h = auth(settings, admin)

    r = await client.get(API, params={"status": "dead"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["id"] for i in body["items"]] == [made[3].id, made[1].id]
    assert body["next_cursor"] is None
    item = body["items"][0]
    assert item["status"] == "dead" and item["delivery_id"] == made[3].delivery_id
    assert item["payload"] == {"n": 3} and item["kind"] == KIND

    r = await client.get(API, params={"status": "pending", "limit": 1}, headers=h)
    page1 = r.json()
    assert [i["id"] for i in page1["items"]] == [made[4].id]
    r = await client.get(
        API, params={"status": "pending", "limit": 1, "cursor": page1["next_cursor"]}, headers=h
    )
    assert [i["id"] for i in r.json()["items"]] == [made[0].id]


async def test_bad_status_cursor_and_limit_are_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = auth(settings, await _superadmin(session))
    for params in ({"status": "lost"}, {"cursor": "%%%"}, {"limit": 101}):
        r = await client.get(API, params=params, headers=h)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["code"] in ("validation_error", "pagination.bad_cursor")


async def test_only_the_superadmin(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    district = await make_staff(session, "district_admin", tree.district)
    street = await make_staff(session, "street_admin", tree.street)
    worker = await make_staff(session, "grid_worker", tree.grid)
    resident = await make_user(session)
    for user in (district, street, worker, resident):
        r = await client.get(API, headers=auth(settings, user))
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "outbox.forbidden"
    assert (await client.get(API)).status_code == 401


async def test_retry_puts_a_dead_message_back_and_refuses_others(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    admin = await _superadmin(session)
    made = await _messages(session)
    dead = made[1]
    dead.attempts = 8
    dead.last_error = "接收方拒收"
    await session.flush()
    h = auth(settings, admin)

    r = await client.post(f"{API}/{dead.id}/retry", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "pending" and body["attempts"] == 0
    assert body["delivery_id"] == dead.delivery_id

    for m in (dead, made[0], made[2]):  # now pending, pending, sent
        r = await client.post(f"{API}/{m.id}/retry", headers=h)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "outbox.not_dead"

    r = await client.post(f"{API}/999999999/retry", headers=h)
    assert r.status_code == 404 and r.json()["error"]["code"] == "outbox.not_found"
    r = await client.post(f"{API}/abc/retry", headers=h)
    assert r.status_code == 422

    street = await make_staff(session, "street_admin", tree.street)
    r = await client.post(f"{API}/{made[3].id}/retry", headers=auth(settings, street))
    assert r.status_code == 403
