"""Login rate limits (per address, per WeChat user, per username) and which
address counts: ``X-Forwarded-For`` only from a trusted proxy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.settings import Settings
from tests.auth.helpers import app_with, error_code, password_login, wechat_login
from tests.factories import auth, make_user

TINY = {"rate_limit_login": "2/minute"}
PROXY = "10.0.0.2"
PASSWORD = "Qinyang-2026!"


@pytest.fixture(autouse=True)
def _start_of_a_window() -> None:
    # Fixed windows: freeze the clock just after a minute starts, so the
    # requests of a test never straddle two windows.
    clock.set_now(datetime(2026, 11, 2, 9, 30, 1, tzinfo=UTC))


async def test_wechat_login_is_limited_per_address(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with app_with(settings, bind_sessions, **TINY) as (_, client):
        assert (await wechat_login(client, "demo-a")).status_code == 200
        assert (await wechat_login(client, "demo-b")).status_code == 200
        r = await wechat_login(client, "demo-c")

    assert r.status_code == 429
    assert error_code(r) == "auth.login_rate_limited"
    assert r.headers["Retry-After"] == "59"
    assert r.json()["error"]["details"]["retry_after"] == 59


async def test_limit_lifts_in_the_next_window(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with app_with(settings, bind_sessions, **TINY) as (_, client):
        for code in ("demo-a", "demo-b"):
            assert (await wechat_login(client, code)).status_code == 200
        assert (await wechat_login(client, "demo-c")).status_code == 429
        clock.advance(timedelta(seconds=60))
        assert (await wechat_login(client, "demo-c")).status_code == 200


async def test_wechat_login_is_limited_per_wechat_user_across_addresses(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with app_with(settings, bind_sessions, peer=PROXY, trusted_proxies=[PROXY], **TINY) as (
        _,
        client,
    ):
        statuses = [
            (await wechat_login(client, "demo-a", headers={"X-Forwarded-For": f"1.2.3.{i}"}))
            for i in range(3)
        ]
        other_user = await wechat_login(client, "demo-b", headers={"X-Forwarded-For": "1.2.3.9"})

    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert "Retry-After" in statuses[2].headers
    assert other_user.status_code == 200


async def test_password_login_is_limited_per_username_across_addresses(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await make_user(session, kind="staff", username="wangwei", password=PASSWORD)
    async with app_with(settings, bind_sessions, peer=PROXY, trusted_proxies=[PROXY], **TINY) as (
        _,
        client,
    ):
        wrong = [
            await password_login(
                client, "wangwei", "guess", headers={"X-Forwarded-For": f"5.6.7.{i}"}
            )
            for i in range(2)
        ]
        # Even the right password waits out the window once the account is being guessed.
        right = await password_login(
            client, "wangwei", PASSWORD, headers={"X-Forwarded-For": "5.6.7.8"}
        )

    assert [r.status_code for r in wrong] == [401, 401]
    assert right.status_code == 429
    assert error_code(right) == "auth.login_rate_limited"
    assert int(right.headers["Retry-After"]) > 0


async def test_password_login_is_limited_per_address(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with app_with(settings, bind_sessions, **TINY) as (_, client):
        statuses = [(await password_login(client, f"user{i}", "x")).status_code for i in range(3)]
    assert statuses == [401, 401, 429]


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    # The peer is not a trusted proxy: a client cannot dodge the limit by
    # inventing a new X-Forwarded-For for each request.
    async with app_with(settings, bind_sessions, peer="1.1.1.1", **TINY) as (_, client):
        statuses = [
            (
                await wechat_login(client, f"demo-{i}", headers={"X-Forwarded-For": f"9.9.9.{i}"})
            ).status_code
            for i in range(3)
        ]
    assert statuses == [200, 200, 429]


async def test_forwarded_for_is_honoured_from_a_trusted_proxy(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with app_with(
        settings, bind_sessions, peer=PROXY, trusted_proxies=["10.0.0.0/24"], **TINY
    ) as (_, client):
        # Different clients behind the proxy each get their own allowance …
        spread = [
            (
                await wechat_login(client, f"demo-{i}", headers={"X-Forwarded-For": f"8.8.8.{i}"})
            ).status_code
            for i in range(3)
        ]
        # … and one client behind it is limited on its own address.
        same = [
            (
                await wechat_login(
                    client, f"demo-same-{i}", headers={"X-Forwarded-For": "7.7.7.7, 10.0.0.5"}
                )
            ).status_code
            for i in range(3)
        ]
    assert spread == [200, 200, 200]
    assert same == [200, 200, 429]


async def test_phone_binding_is_limited_per_user(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    resident = await make_user(session)
    async with app_with(settings, bind_sessions, **TINY) as (app, client):
        statuses = []
        for i in range(3):
            r = await client.post(
                "/api/v1/me/phone", headers=auth(settings, resident), json={"code": f"p-{i}"}
            )
            statuses.append(r.status_code)
        calls = app.state.wechat.fake.calls("/wxa/business/getuserphonenumber")

    assert statuses == [200, 200, 429]
    assert error_code(r) == "auth.wechat_rate_limited"
    assert len(calls) == 2  # the refused request never reached WeChat


async def test_guessing_ones_current_password_is_limited_like_a_login(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    """Changing one's own password checks the current one: with a stolen token
    that check must not be a way to guess it faster than the login allows."""
    from tests.factories import make_staff, make_tree

    tree = await make_tree(session)
    admin = await make_staff(session, "community_admin", tree.community, password=PASSWORD)
    url = f"/api/v1/admin/staff/{admin.id}"
    async with app_with(settings, bind_sessions, **TINY) as (_, client):
        h = auth(settings, admin)
        guesses = [
            await client.patch(
                url, json={"password": "new-pass-22", "current_password": g}, headers=h
            )
            for g in ("guess-1", "guess-2")
        ]
        right = await client.patch(
            url, json={"password": "new-pass-22", "current_password": PASSWORD}, headers=h
        )
        other = await client.patch(url, json={"name": "改个名字"}, headers=h)  # not limited

    assert [r.status_code for r in guesses] == [403, 403]
    assert right.status_code == 429 and error_code(right) == "auth.login_rate_limited"
    assert other.status_code == 200, other.text


async def test_login_limit_keys_an_ipv6_client_by_its_64(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    """An IPv6 client owns a whole /64 and can take a new address in it for
    each request: the limit is on the prefix, not on each address."""
    async with app_with(settings, bind_sessions, peer=PROXY, trusted_proxies=[PROXY], **TINY) as (
        _,
        client,
    ):
        rotating = [
            (
                await wechat_login(
                    client, f"demo-v6-{i}", headers={"X-Forwarded-For": f"2001:db8:5:6::{i + 1:x}"}
                )
            ).status_code
            for i in range(3)
        ]
        # The next /64 is another client with its own allowance.
        neighbour = await wechat_login(
            client, "demo-v6-n", headers={"X-Forwarded-For": "2001:db8:5:7::1"}
        )
        passwords = [
            (
                await password_login(
                    client, f"v6user{i}", "x", headers={"X-Forwarded-For": f"2001:db8:9:9::{i + 1}"}
                )
            ).status_code
            for i in range(3)
        ]
    assert rotating == [200, 200, 429]
    assert neighbour.status_code == 200
    assert passwords == [401, 401, 429]


async def test_login_limit_counts_a_mapped_ipv4_client_as_the_ipv4_client(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with app_with(settings, bind_sessions, peer=PROXY, trusted_proxies=[PROXY], **TINY) as (
        _,
        client,
    ):
        statuses = [
            (
                await wechat_login(client, f"demo-m-{i}", headers={"X-Forwarded-For": xff})
            ).status_code
            for i, xff in enumerate(["198.51.100.7", "::ffff:198.51.100.7", "198.51.100.7"])
        ]
    assert statuses == [200, 200, 429]


async def test_login_limit_from_an_ipv6_peer_without_a_proxy(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> None:
    for i, peer in enumerate(["2001:db8:7:7::a", "2001:db8:7:7::b"]):
        async with app_with(settings, bind_sessions, peer=peer, **TINY) as (_, client):
            assert (await wechat_login(client, f"demo-p-{i}")).status_code == 200
    async with app_with(settings, bind_sessions, peer="2001:db8:7:7::c", **TINY) as (_, client):
        r = await wechat_login(client, "demo-p-c")
    assert r.status_code == 429 and error_code(r) == "auth.login_rate_limited"
