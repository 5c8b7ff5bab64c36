"""Rotating a webhook's signing secret: the old secret keeps signing for the
overlap (both signatures in the header), so a real local receiver that knows
either secret verifies every delivery; past the overlap only the new one signs
and the old one is forgotten."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import Settings
from app.integrations.models import ApiClient, Webhook
from app.outbox import DeliveryContext, deliver_due
from app.worker import run_once
from tests.auth.helpers import error_code
from tests.factories import make_staff, make_tree
from tests.integrations.helpers import Receiver, make_api_client, serve, verifies
from tests.integrations.helpers import sign as _sign
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

API = "/api/v1"


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _deliver_one(
    app: FastAPI, client: httpx.AsyncClient, world: World, http: httpx.AsyncClient
) -> None:
    """A new case in the webhook's region, delivered now."""
    await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    ctx = DeliveryContext(
        settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
    )
    assert await deliver_due(app.state.db, ctx) == 1


async def _webhook(
    client: httpx.AsyncClient, h: dict[str, str], client_id: int, url: str
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/admin/api-clients/{client_id}/webhooks",
        json={"url": url, "events": ["report.created"]},
        headers=h,
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_both_secrets_sign_during_the_overlap_then_only_the_new_one(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    api_client, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    receiver = Receiver()
    async with serve(receiver) as base, httpx.AsyncClient() as http:
        hook = await _webhook(client, h, api_client.id, f"{base}/hook")
        old = hook["secret"]
        await _deliver_one(app, client, world, http)

        url = f"{API}/admin/api-clients/{api_client.id}/webhooks/{hook['id']}/rotate-secret"
        r = await client.post(url, headers=h)  # no body: the default overlap
        assert r.status_code == 200, r.text
        rotated = r.json()
        new = rotated["secret"]
        assert rotated["id"] == hook["id"]
        assert len(new) == len(old) and new != old
        assert _ts(rotated["previous_secret_expires_at"]) - _ts(rotated["rotated_at"]) == (
            timedelta(hours=24)
        )
        r = await client.get(f"{API}/admin/api-clients/{api_client.id}/webhooks", headers=h)
        assert [w["id"] for w in r.json()["items"]] == [hook["id"]]
        assert "secret" not in r.json()["items"][0]

        await _deliver_one(app, client, world, http)  # during the overlap
        clock.set_now(_ts(rotated["previous_secret_expires_at"]) + timedelta(minutes=1))
        await _deliver_one(app, client, world, http)  # after it

    before, during, after = receiver.got
    # Before the rotation: the old secret only, in the header's original form.
    assert before.signature == _sign(old, before.body)
    # During the overlap: a receiver holding either secret finds its signature,
    # the new secret's first.
    header, body = during.signature, during.body
    assert verifies(header, body, old) and verifies(header, body, new)
    assert header == f"{_sign(new, body)},{_sign(old, body)}"
    # After it: the new secret only, in the original form again.
    header, body = after.signature, after.body
    assert header == _sign(new, body)
    assert verifies(header, body, new) and not verifies(header, body, old)

    row = await session.scalar(
        select(Webhook).where(Webhook.id == hook["id"]).execution_options(populate_existing=True)
    )
    assert row is not None
    assert (row.secret, row.previous_secret, row.previous_secret_expires_at) == (new, None, None)
    # The same webhook: its delivery log goes on (read with a token of today).
    clock.set_now(None)
    r = await client.get(
        f"{API}/admin/api-clients/{api_client.id}/webhooks/{hook['id']}/deliveries", headers=h
    )
    assert [d["status_code"] for d in r.json()["items"]] == [200, 200, 200]


async def test_a_retry_after_the_rotation_is_signed_with_both(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """A delivery queued (and failed) before the rotation: its retry carries
    the new signature as well as the one the receiver may still expect."""
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    api_client, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    receiver = Receiver([503])
    async with serve(receiver) as base, httpx.AsyncClient() as http:
        hook = await _webhook(client, h, api_client.id, f"{base}/hook")
        await submit(client, world.h(world.resident), location=wgs(IN_GRID))
        ctx = DeliveryContext(
            settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
        )
        assert await deliver_due(app.state.db, ctx) == 0  # the receiver answered 503
        url = f"{API}/admin/api-clients/{api_client.id}/webhooks/{hook['id']}/rotate-secret"
        r = await client.post(url, json={"overlap_hours": 48}, headers=h)
        assert r.status_code == 200, r.text
        new = r.json()["secret"]
        clock.set_now(clock.now() + timedelta(hours=2))
        assert await deliver_due(app.state.db, ctx) == 1
    first = receiver.got[0].signature
    header, body = receiver.got[1].signature, receiver.got[1].body
    assert verifies(first, body, hook["secret"]) and not verifies(first, body, new)
    assert verifies(header, body, hook["secret"]) and verifies(header, body, new)


async def test_no_overlap_and_a_second_rotation_replace_the_old_secret_at_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    api_client, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    receiver = Receiver()
    async with serve(receiver) as base, httpx.AsyncClient() as http:
        hook = await _webhook(client, h, api_client.id, f"{base}/hook")
        url = f"{API}/admin/api-clients/{api_client.id}/webhooks/{hook['id']}/rotate-secret"
        r = await client.post(url, json={"overlap_hours": 0}, headers=h)
        assert r.status_code == 200, r.text
        first = r.json()
        assert first["previous_secret_expires_at"] == first["rotated_at"]
        await _deliver_one(app, client, world, http)

        r = await client.post(url, json={"overlap_hours": 1}, headers=h)
        second = r.json()["secret"]
        r = await client.post(url, json={"overlap_hours": 1}, headers=h)
        third = r.json()["secret"]
        await _deliver_one(app, client, world, http)

    (header, body), (header2, body2) = ((g.signature, g.body) for g in receiver.got)
    assert header == _sign(first["secret"], body)
    assert not verifies(header, body, hook["secret"])
    # Two rotations within the overlap: only the last two secrets sign.
    assert header2 == f"{_sign(third, body2)},{_sign(second, body2)}"
    assert not verifies(header2, body2, first["secret"])


async def test_the_worker_forgets_an_expired_old_secret(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    api_client, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    hook = await _webhook(client, h, api_client.id, "http://127.0.0.1:9/hook")
    url = f"{API}/admin/api-clients/{api_client.id}/webhooks/{hook['id']}/rotate-secret"
    r = await client.post(url, json={"overlap_hours": 1}, headers=h)
    assert r.status_code == 200, r.text

    async def previous() -> tuple[str | None, datetime | None]:
        row = await session.scalar(
            select(Webhook)
            .where(Webhook.id == hook["id"])
            .execution_options(populate_existing=True)
        )
        assert row is not None
        return row.previous_secret, row.previous_secret_expires_at

    await run_once(app.state)
    assert (await previous())[0] == hook["secret"]  # still within the overlap
    clock.set_now(clock.now() + timedelta(hours=1, seconds=1))
    await run_once(app.state)
    assert await previous() == (None, None)


async def test_rotation_follows_the_webhook_routes_rules(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    mine, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    theirs, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    hook = await _webhook(client, h, mine.id, "http://127.0.0.1:9/hook")

    def url(client_id: int, webhook_id: int) -> str:
        return f"{API}/admin/api-clients/{client_id}/webhooks/{webhook_id}/rotate-secret"

    r = await client.post(url(mine.id, hook["id"]))
    assert r.status_code == 401
    r = await client.post(url(mine.id, hook["id"]), headers=world.h(world.street_admin))
    assert r.status_code == 403 and error_code(r) == "auth.key_manager_only"
    other = await make_tree(session)
    stranger = await make_staff(session, "district_admin", other.district)
    r = await client.post(url(mine.id, hook["id"]), headers=world.h(stranger))
    assert r.status_code == 404 and error_code(r) == "api_client.not_found"
    # Another client's id with this webhook, and a webhook that does not exist.
    r = await client.post(url(theirs.id, hook["id"]), headers=h)
    assert r.status_code == 404 and error_code(r) == "webhook.not_found"
    r = await client.post(url(mine.id, 999999), headers=h)
    assert r.status_code == 404 and error_code(r) == "webhook.not_found"

    for bad in (
        {"overlap_hours": -1},
        {"overlap_hours": 169},
        {"overlap_hours": "一天"},
        {"overlap_hours": 1.5},
        [24],
    ):
        r = await client.post(url(mine.id, hook["id"]), json=bad, headers=h)
        assert r.status_code == 422, bad
        assert error_code(r) == "validation_error"
        assert r.json()["error"]["message"]

    row = await session.get(Webhook, hook["id"])
    assert row is not None and row.previous_secret is None  # nothing was rotated

    owner = await session.get(ApiClient, mine.id)
    assert owner is not None
    owner.revoked_at = clock.now()
    await session.flush()
    r = await client.post(url(mine.id, hook["id"]), headers=h)
    assert r.status_code == 422 and error_code(r) == "api_client.revoked"
    owner.revoked_at = None
    await session.flush()

    r = await client.delete(f"{API}/admin/api-clients/{mine.id}/webhooks/{hook['id']}", headers=h)
    assert r.status_code == 204
    r = await client.post(url(mine.id, hook["id"]), headers=h)
    assert r.status_code == 404 and error_code(r) == "webhook.not_found"
