"""Tokens: expiry, forgery, the access/refresh split, refresh and logout."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.service import REFRESH_REUSE_GRACE
from app.core import clock
from app.core.security import ISSUER
from app.core.settings import Settings
from app.users.models import Membership, User
from tests.auth.helpers import API, bearer, error_code, password_login, wechat_login
from tests.factories import auth, make_staff, make_tree, make_user

REFRESH = f"{API}/auth/refresh"
LOGOUT = f"{API}/auth/logout"
ME = f"{API}/me"


def _claims(user: User, **changes: Any) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    claims = {
        "iss": ISSUER,
        "sub": str(user.id),
        "ver": user.token_version,
        "typ": "access",
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(changes)
    return claims


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _login(client: httpx.AsyncClient, code: str = "demo-resident-1") -> dict[str, Any]:
    r = await wechat_login(client, code)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_valid_token_reaches_me(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    r = await client.get(ME, headers=auth(settings, user))
    assert r.status_code == 200
    assert r.json()["id"] == user.id


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    r = await client.get(ME)
    assert r.status_code == 401
    assert error_code(r) == "auth.unauthorized"


async def test_expired_access_token_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    start = clock.now()
    clock.set_now(start)
    tokens = await _login(client)
    headers = bearer(tokens["access_token"])

    clock.set_now(start + timedelta(seconds=settings.access_token_ttl_seconds - 1))
    assert (await client.get(ME, headers=headers)).status_code == 200

    clock.set_now(start + timedelta(seconds=settings.access_token_ttl_seconds + 1))
    r = await client.get(ME, headers=headers)
    assert r.status_code == 401
    assert error_code(r) == "auth.token_expired"


async def test_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    start = clock.now()
    clock.set_now(start)
    tokens = await _login(client)
    clock.set_now(start + timedelta(seconds=settings.refresh_token_ttl_seconds + 1))
    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert error_code(r) == "auth.token_expired"


@pytest.mark.parametrize("forgery", ["wrong_secret", "alg_none", "tampered_payload", "garbage"])
async def test_forged_tokens_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, forgery: str
) -> None:
    victim = await make_user(session)
    attacker = await make_user(session)
    if forgery == "wrong_secret":
        token = jwt.encode(_claims(victim), "not-our-secret-" * 4, algorithm="HS256")
    elif forgery == "alg_none":
        token = jwt.encode(_claims(victim), None, algorithm="none")
    elif forgery == "tampered_payload":
        # A genuine token of the attacker with the subject swapped for the victim.
        genuine = auth(settings, attacker)["Authorization"].removeprefix("Bearer ")
        header, _, signature = genuine.split(".")
        token = ".".join([header, _b64(_claims(victim)), signature])
    else:
        token = "not-a-jwt"

    r = await client.get(ME, headers=bearer(token))

    assert r.status_code == 401, r.text
    assert error_code(r) == "auth.invalid_token"


async def test_token_signed_with_our_secret_is_accepted(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    # The counterpart of the forgeries: the same claims, properly signed, pass.
    user = await make_user(session)
    token = jwt.encode(_claims(user), settings.jwt_secret.get_secret_value(), algorithm="HS256")
    assert (await client.get(ME, headers=bearer(token))).status_code == 200


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    tokens = await _login(client)
    r = await client.get(ME, headers=bearer(tokens["refresh_token"]))
    assert r.status_code == 401
    assert error_code(r) == "auth.invalid_token"


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient) -> None:
    tokens = await _login(client)
    r = await client.post(REFRESH, json={"refresh_token": tokens["access_token"]})
    assert r.status_code == 401
    assert error_code(r) == "auth.invalid_token"


async def test_refresh_gives_a_new_working_pair(client: httpx.AsyncClient) -> None:
    tokens = await _login(client)

    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})

    assert r.status_code == 200, r.text
    fresh = r.json()
    assert fresh["token_type"] == "bearer"
    assert fresh["user"]["id"] == tokens["user"]["id"]
    assert fresh["access_token"] != tokens["access_token"]
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert (await client.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200
    again = await client.post(REFRESH, json={"refresh_token": fresh["refresh_token"]})
    assert again.status_code == 200


async def test_a_refresh_token_is_used_once_and_reuse_revokes_everything(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    tokens = await _login(client)
    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    fresh = r.json()

    # The old refresh token again, later: someone holds a copy. Both lose the session.
    clock.advance(REFRESH_REUSE_GRACE + timedelta(seconds=1))
    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert error_code(r) == "auth.refresh_reused"
    assert (await client.get(ME, headers=bearer(fresh["access_token"]))).status_code == 401
    r = await client.post(REFRESH, json={"refresh_token": fresh["refresh_token"]})
    assert r.status_code == 401 and error_code(r) == "auth.token_revoked"
    # Logging in again works.
    again = await _login(client)
    assert (await client.get(ME, headers=bearer(again["access_token"]))).status_code == 200


async def test_a_refresh_token_sent_twice_at_once_keeps_the_session(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Several requests find the access token expired at once and each
    refreshes with the same token: one exchange wins, the others are refused
    without revoking anything, and the winner's tokens keep working."""
    tokens = await _login(client)
    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    fresh = r.json()
    clock.advance(REFRESH_REUSE_GRACE - timedelta(seconds=1))
    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401 and error_code(r) == "auth.refresh_superseded", r.text
    assert (await client.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200
    r = await client.post(REFRESH, json={"refresh_token": fresh["refresh_token"]})
    assert r.status_code == 200, r.text


async def test_used_refresh_tokens_are_forgotten_once_expired(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from app.auth.models import UsedRefreshToken
    from app.auth.service import purge_used_refresh_tokens

    tokens = await _login(client)
    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    count = select(func.count()).select_from(UsedRefreshToken)
    assert await session.scalar(count) == 1
    assert await purge_used_refresh_tokens(session) == 0
    with clock.frozen(clock.now() + timedelta(days=31)):
        assert await purge_used_refresh_tokens(session) == 1
    assert await session.scalar(count) == 0


async def test_refresh_with_missing_field_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post(REFRESH, json={})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"


async def test_logout_revokes_access_and_refresh_tokens(client: httpx.AsyncClient) -> None:
    tokens = await _login(client)
    # A second device of the same user dies too.
    other_device = await _login(client)
    headers = bearer(tokens["access_token"])

    r = await client.post(LOGOUT, headers=headers)

    assert r.status_code == 204
    assert r.content == b""
    for access in (tokens["access_token"], other_device["access_token"]):
        me = await client.get(ME, headers=bearer(access))
        assert me.status_code == 401
        assert error_code(me) == "auth.token_revoked"
    for refresh in (tokens["refresh_token"], other_device["refresh_token"]):
        r = await client.post(REFRESH, json={"refresh_token": refresh})
        assert r.status_code == 401
        assert error_code(r) == "auth.token_revoked"
    # Logging in again works, with tokens of the new version.
    back = await _login(client)
    assert (await client.get(ME, headers=bearer(back["access_token"]))).status_code == 200


async def test_logout_needs_a_token(client: httpx.AsyncClient) -> None:
    r = await client.post(LOGOUT)
    assert r.status_code == 401


async def test_password_change_elsewhere_revokes_refresh_token(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    staff = await make_user(session, kind="staff", username="li.na", password="pw-Li-2026!")
    r = await password_login(client, "li.na", "pw-Li-2026!")
    tokens = r.json()
    # What a password change does: bump the version.
    staff.token_version += 1
    await session.flush()

    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert error_code(r) == "auth.token_revoked"


async def test_removed_role_disappears_at_once_with_the_same_token(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    worker = await make_staff(session, "grid_worker", tree.grid)
    headers = auth(settings, worker)
    before = await client.get(ME, headers=headers)
    assert [x["role"] for x in before.json()["roles"]] == ["grid_worker"]

    membership = await session.get(Membership, before.json()["roles"][0]["id"])
    assert membership is not None
    await session.delete(membership)
    await session.flush()

    after = await client.get(ME, headers=headers)
    assert after.status_code == 200
    assert after.json()["roles"] == []


async def test_disabled_user_token_stops_working(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tokens = await _login(client)
    user = await session.get(User, tokens["user"]["id"])
    assert user is not None
    user.disabled = True
    await session.flush()

    me = await client.get(ME, headers=bearer(tokens["access_token"]))
    assert me.status_code == 401
    assert error_code(me) == "auth.account_disabled"
    # The refresh token stops working the same way: a token that no longer
    # works is 401 (API.md), whichever of the two it is; only a login with
    # right credentials answers 403.
    r = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert error_code(r) == "auth.account_disabled"


@pytest.mark.parametrize(
    "odd",
    [{"exp": "abc"}, {"exp": [1]}, {"exp": 1e400}, {"sub": str(2**64)}, {"sub": "0"}],
    ids=["exp-text", "exp-list", "exp-infinite", "sub-past-64-bits", "sub-zero"],
)
async def test_a_signed_token_with_odd_claims_is_invalid_not_a_crash(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, odd: dict[str, Any]
) -> None:
    """Claims we never issue, in a token signed with our secret (a leaked
    secret, or a bug of ours): refused as invalid, never a 500 or a 422."""
    user = await make_user(session)
    secret = settings.jwt_secret.get_secret_value()
    for typ, call in (
        ("access", lambda t: client.get(ME, headers=bearer(t))),
        ("refresh", lambda t: client.post(REFRESH, json={"refresh_token": t})),
    ):
        claims = {**_claims(user), "typ": typ, "jti": "odd", **odd}
        token = jwt.encode(claims, secret, algorithm="HS256")
        r = await call(token)
        assert r.status_code == 401, r.text
        assert error_code(r) == "auth.invalid_token"
