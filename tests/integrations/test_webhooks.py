"""Webhooks: events queued with the change, delivered through the outbox to a
real local HTTP receiver that checks the signature, retried, and logged."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpcore
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock, net
from app.core.settings import Settings
from app.integrations import webhook_delivery
from app.integrations.models import ApiClient, Webhook, WebhookDelivery
from app.integrations.webhook_events import event_names
from app.integrations.webhooks import url_problem
from app.outbox import DeliveryContext, deliver_due
from app.outbox.models import OutboxMessage
from app.reports.models import ReportEvent
from tests.auth.helpers import error_code
from tests.factories import make_staff
from tests.integrations.helpers import PUBLIC, Receiver, Resolver, make_api_client, serve, sign
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

API = "/api/v1"
IN_FAR_GRID = (112.925, 35.005)


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def test_signed_delivery_is_retried_and_logged(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    api_client, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    receiver = Receiver([503])
    async with serve(receiver) as base, httpx.AsyncClient() as http:
        r = await client.post(
            f"{API}/admin/api-clients/{api_client.id}/webhooks",
            json={"url": f"{base}/hook", "events": ["report.created"]},
            headers=h,
        )
        assert r.status_code == 201, r.text
        hook = r.json()
        r = await client.get(f"{API}/admin/api-clients/{api_client.id}/webhooks", headers=h)
        assert [w["id"] for w in r.json()["items"]] == [hook["id"]]
        assert "secret" not in r.json()["items"][0]

        case = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()
        await submit(client, world.h(world.resident), location=wgs(IN_FAR_GRID))  # not theirs
        queued = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook"))
        )
        assert len(queued) == 1
        assert queued[0].payload["data"]["report"]["id"] == case["id"]

        ctx = DeliveryContext(
            settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
        )
        assert await deliver_due(app.state.db, ctx) == 0  # the receiver answered 503
        clock.set_now(clock.now() + timedelta(hours=2))
        assert await deliver_due(app.state.db, ctx) == 1
        clock.set_now(None)

    assert len(receiver.got) == 2
    assert all(g.signature == sign(hook["secret"], g.body) for g in receiver.got)
    first, second = receiver.got
    delivery = first.headers["x-ejiaren-delivery"]
    assert delivery == second.headers["x-ejiaren-delivery"] == first.json()["id"]
    assert first.json() == second.json()
    assert set(first.json()) == {"id", "event", "created_at", "data"}
    assert first.json()["event"] == "report.created"
    assert first.json()["data"]["report"]["number"] == case["number"]

    url = f"{API}/admin/api-clients/{api_client.id}/webhooks/{hook['id']}/deliveries"
    r = await client.get(url, headers=h, params={"limit": 1})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [(d["attempt"], d["status_code"]) for d in page["items"]] == [(2, 200)]
    assert page["next_cursor"]
    r = await client.get(url, headers=h, params={"cursor": page["next_cursor"]})
    [older] = r.json()["items"]
    assert (older["attempt"], older["status_code"], older["error"]) == (1, 503, "HTTP 503")
    assert older["delivery_id"] == delivery
    assert older["duration_ms"] is not None

    r = await client.delete(
        f"{API}/admin/api-clients/{api_client.id}/webhooks/{hook['id']}", headers=h
    )
    assert r.status_code == 204
    await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    count = len(
        list(await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook")))
    )
    assert count == 1


async def test_webhook_rules_and_scope(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    reader, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    stats_only, _ = await make_api_client(session, world.tree.community, ["stats:read"])
    body = {"url": "https://hotline.example.cn/hook", "events": ["report.rated"]}
    r = await client.post(f"{API}/admin/api-clients/{stats_only.id}/webhooks", json=body, headers=h)
    assert r.status_code == 422 and error_code(r) == "webhook.scope_required"
    for bad in (
        {"url": "ftp://hotline.example.cn/hook", "events": ["report.rated"]},
        {"url": "https://hotline.example.cn/hook", "events": ["report.deleted"]},
        {"url": "https://hotline.example.cn/hook", "events": []},
        {"url": "https://[::1/hook", "events": ["report.rated"]},
        {"url": "https://hotline.example.cn:99999/hook", "events": ["report.rated"]},
    ):
        r = await client.post(f"{API}/admin/api-clients/{reader.id}/webhooks", json=bad, headers=h)
        assert r.status_code == 422, bad
    r = await client.post(
        f"{API}/admin/api-clients/{reader.id}/webhooks",
        json=body,
        headers=world.h(world.street_admin),
    )
    assert r.status_code == 403
    r = await client.get(
        f"{API}/admin/api-clients/{reader.id}/webhooks/999999/deliveries", headers=h
    )
    assert r.status_code == 404


async def _queue_one(
    client: httpx.AsyncClient, session: AsyncSession, world: World, url: str
) -> ApiClient:
    """A live webhook at ``url`` (added directly, as if checked when created)
    and one case event for it in the outbox; the webhook's client."""
    api_client, _ = await make_api_client(session, world.tree.community, ["reports:read"])
    session.add(
        Webhook(
            client_id=api_client.id,
            url=url,
            events=["report.created"],
            secret="s" * 64,
            created_at=clock.now(),
        )
    )
    await session.flush()
    await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    return api_client


async def test_a_client_whose_key_expired_gets_no_more_events(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """Like a revoked key: nothing new is queued for it, and what was queued
    before the expiry is not delivered."""
    receiver = Receiver([])
    async with serve(receiver) as base, httpx.AsyncClient() as http:
        api_client = await _queue_one(client, session, world, f"{base}/hook")
        api_client.expires_at = clock.now() + timedelta(hours=1)
        await session.flush()
        await submit(client, world.h(world.resident), location=wgs(IN_GRID))
        queued = select(OutboxMessage).where(OutboxMessage.kind == "webhook")
        assert len(list(await session.scalars(queued))) == 2  # not expired yet

        clock.set_now(clock.now() + timedelta(hours=2))
        try:
            await submit(client, world.h(world.resident), location=wgs(IN_GRID))
            assert len(list(await session.scalars(queued))) == 2
            ctx = DeliveryContext(
                settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
            )
            assert await deliver_due(app.state.db, ctx) == 0
        finally:
            clock.set_now(None)
    assert receiver.got == []
    messages = list(await session.scalars(queued.execution_options(populate_existing=True)))
    assert [m.status for m in messages] == ["dead", "dead"]


async def _attempts(session: AsyncSession) -> list[tuple[int | None, str | None]]:
    rows = await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
    return [(d.status_code, d.error) for d in rows]


async def test_a_receiver_name_that_rebinds_to_loopback_gets_nothing_in_prod(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The admin's check sees a public address; by the time of the delivery the
    name points at 127.0.0.1, where a receiver listens. It is never reached."""
    receiver = Receiver([])
    async with serve(receiver) as base:
        url = f"http://hooks.example.test:{httpx.URL(base).port}/hook"
        resolve = Resolver([PUBLIC], ["127.0.0.1"])
        monkeypatch.setattr(net, "resolve_host", resolve)
        assert await url_problem(url, env="prod") is None
        await _queue_one(client, session, world, url)
        prod = app.state.settings.model_copy(update={"env": "prod"})
        async with httpx.AsyncClient() as http:
            ctx = DeliveryContext(
                settings=prod, http=http, db=app.state.db, wechat=app.state.wechat
            )
            assert await deliver_due(app.state.db, ctx) == 0
    assert receiver.got == []
    assert resolve.lookups == ["hooks.example.test"] * 2
    assert await _attempts(session) == [(None, "该地址指向内网或本机，不允许")]
    [message] = await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "webhook"))
    await session.refresh(message)
    assert message.status == "dead"


async def test_redirects_are_not_followed(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    paths: list[str] = []

    async def redirecting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        paths.append(scope["path"])
        headers = [(b"location", b"http://127.0.0.1:9/elsewhere")]
        await send({"type": "http.response.start", "status": 307, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async with serve(redirecting) as base, httpx.AsyncClient() as http:
        await _queue_one(client, session, world, f"{base}/hook")
        ctx = DeliveryContext(
            settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
        )
        assert await deliver_due(app.state.db, ctx) == 0
    assert paths == ["/hook"]
    assert await _attempts(session) == [(307, "HTTP 307")]


class _Counted:
    """How many vetted transports (so clients) were built, how many TCP
    connections they opened, and how many were closed."""

    def __init__(self) -> None:
        self.transports = 0
        self.connections = 0
        self.closed = 0

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        counted = self

        class Backend(httpcore.AnyIOBackend):
            async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
                counted.connections += 1
                return await super().connect_tcp(*args, **kwargs)

        class Transport(net.VettedTransport):
            def __init__(self, **kwargs: Any) -> None:
                counted.transports += 1
                super().__init__(network_backend=Backend(), **kwargs)

            async def aclose(self) -> None:
                counted.closed += 1
                await super().aclose()

        monkeypatch.setattr(net, "VettedTransport", Transport)


async def test_the_deliveries_of_a_pass_share_one_client(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Inside ``shared_client()`` several messages to one receiver go through
    one vetted client and one kept-alive connection, closed when the block ends."""
    counted = _Counted()
    counted.patch(monkeypatch)
    receiver = Receiver([])
    async with serve(receiver) as base, httpx.AsyncClient() as http:
        await _queue_one(client, session, world, f"{base}/hook")
        for _ in range(2):
            await submit(client, world.h(world.resident), location=wgs(IN_GRID))
        ctx = DeliveryContext(
            settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
        )
        async with webhook_delivery.shared_client():
            assert await deliver_due(app.state.db, ctx) == 3
            assert counted.closed == 0
    assert len(receiver.got) == 3
    assert all(g.signature == sign("s" * 64, g.body) for g in receiver.got)
    assert len({g.json()["id"] for g in receiver.got}) == 3
    assert (counted.transports, counted.connections, counted.closed) == (1, 1, 1)
    assert await _attempts(session) == [(200, None)] * 3


async def test_the_worker_pass_delivers_through_one_client(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's outbox pass is such a block: three messages, one client."""
    from app.worker import deliver_outbox

    counted = _Counted()
    counted.patch(monkeypatch)
    receiver = Receiver([])
    async with serve(receiver) as base:
        await _queue_one(client, session, world, f"{base}/hook")
        for _ in range(2):
            await submit(client, world.h(world.resident), location=wgs(IN_GRID))
        assert await deliver_outbox(app.state) >= 3
    assert len(receiver.got) == 3
    assert (counted.transports, counted.connections, counted.closed) == (1, 1, 1)


async def test_a_shared_client_keeps_no_cookie(
    app: FastAPI,
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
) -> None:
    """A receiver that sets a cookie never gets it back: deliveries sharing a
    client send what deliveries with a client each would."""
    cookies: list[str | None] = []

    async def cookie_setting(scope: dict[str, Any], receive: Any, send: Any) -> None:
        cookies.append(dict(scope["headers"]).get(b"cookie", b"").decode() or None)
        headers = [(b"set-cookie", b"session=abc; Path=/")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async with serve(cookie_setting) as base, httpx.AsyncClient() as http:
        await _queue_one(client, session, world, f"{base}/hook")
        await submit(client, world.h(world.resident), location=wgs(IN_GRID))
        ctx = DeliveryContext(
            settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
        )
        async with webhook_delivery.shared_client():
            assert await deliver_due(app.state.db, ctx) == 2
    assert cookies == [None, None]


@pytest.mark.parametrize(
    ("url", "env", "refused"),
    [
        ("http://127.0.0.1:8000/hook", "prod", True),
        ("http://localhost/hook", "prod", True),
        ("http://10.1.2.3/hook", "prod", True),
        ("http://192.168.1.10/hook", "prod", True),
        ("http://169.254.169.254/latest", "prod", True),
        ("http://[::1]/hook", "prod", True),
        ("http://[::ffff:127.0.0.1]/hook", "prod", True),
        ("http://[64:ff9b::a00:1]/hook", "prod", True),
        ("http://[2002:c0a8:10a::1]/hook", "prod", True),
        ("http://100.100.100.200/latest", "prod", True),
        ("http://93.184.216.34/hook", "prod", False),
        ("http://127.0.0.1:8000/hook", "test", False),
        ("http://127.0.0.1:8000/hook", "dev", False),
        ("file:///etc/passwd", "test", True),
        ("http://user:pw@93.184.216.34/", "prod", True),
        # Malformed: refused in every environment, before any lookup.
        *[
            (url, env, True)
            for env in ("prod", "dev")
            for url in (
                "https://[::1/x",
                "http://[/x",
                "https://]/xxxx",
                "https://[z]/x",
                "https://93.184.216.34:99999/x",
                "https://93.184.216.34:abc/x",
                "https://[2606:2800:220:1::]:-1/x",
                "https://exa mple.com/aaa",
                "https://example.com/a\tb",
            )
        ],
    ],
)
async def test_private_addresses_are_refused_in_prod(url: str, env: str, refused: bool) -> None:
    assert (await url_problem(url, env=env) is not None) is refused


@pytest.mark.parametrize(
    ("type_", "from_status", "to_status", "names"),
    [
        ("created", None, "submitted", ["report.created"]),
        ("dispatched", "submitted", "dispatched", ["report.dispatched", "report.status_changed"]),
        ("accepted", "dispatched", "in_progress", ["report.status_changed"]),
        ("rated", "resolved", "closed", ["report.rated", "report.status_changed"]),
        ("progress", None, None, []),
        ("reminded", None, None, []),
    ],
)
def test_which_events_a_timeline_entry_raises(
    type_: str, from_status: str | None, to_status: str | None, names: list[str]
) -> None:
    event = ReportEvent(type=type_, from_status=from_status, to_status=to_status)
    assert event_names(event) == names
