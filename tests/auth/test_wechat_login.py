"""POST /auth/wechat/login against the built-in fake WeChat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import Settings
from app.users.models import User
from app.wechat.fake import openid_for, session_key_for, unionid_for
from tests.auth.helpers import API, bearer, error_code, fake_wechat, wechat_login
from tests.factories import grant, make_staff, make_tree, make_user


async def _user_by_openid(session: AsyncSession, openid: str) -> User | None:
    result = await session.execute(
        select(User).where(User.openid == openid).execution_options(populate_existing=True)
    )
    return result.scalar_one_or_none()


async def test_first_login_creates_a_resident(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    r = await wechat_login(client, "demo-resident-1")

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds
    assert body["access_token"] and body["refresh_token"]
    user = body["user"]
    assert user["kind"] == "resident"
    assert user["roles"] == []
    assert user["home_grid_id"] is None and user["phone_masked"] is None
    assert user["has_wechat"] is True
    assert set(user) >= {"id", "nickname", "roles", "home_grid_id", "phone_masked"}

    stored = await _user_by_openid(session, openid_for("demo-resident-1"))
    assert stored is not None and stored.id == user["id"]
    assert stored.kind == "resident"
    assert stored.unionid == unionid_for("demo-resident-1")
    assert stored.last_login_at is not None

    me = await client.get(f"{API}/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_returning_user_gets_the_same_account(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await wechat_login(client, "demo-resident-1")
    second = await wechat_login(client, "demo-resident-1")
    other = await wechat_login(client, "demo-resident-2")

    assert first.status_code == second.status_code == other.status_code == 200
    assert first.json()["user"]["id"] == second.json()["user"]["id"]
    assert other.json()["user"]["id"] != first.json()["user"]["id"]
    count = await session.execute(select(User).where(User.openid == openid_for("demo-resident-1")))
    assert len(count.scalars().all()) == 1


async def test_login_updates_last_login_at(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    clock.set_now(start)
    await wechat_login(client, "demo-resident-1")
    user = await _user_by_openid(session, openid_for("demo-resident-1"))
    assert user is not None and user.last_login_at == start

    clock.set_now(start + timedelta(days=1))
    await wechat_login(client, "demo-resident-1")
    user = await _user_by_openid(session, openid_for("demo-resident-1"))
    assert user is not None and user.last_login_at == start + timedelta(days=1)


async def test_staff_who_bound_wechat_logs_in_as_themselves(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    tree = await make_tree(session)
    worker = await make_staff(session, "grid_worker", tree.grid)
    worker.openid = openid_for("worker-phone")
    await session.flush()

    r = await wechat_login(client, "worker-phone")

    assert r.status_code == 200, r.text
    user = r.json()["user"]
    assert user["id"] == worker.id
    assert user["kind"] == "staff"
    assert [(x["role"], x["region_id"]) for x in user["roles"]] == [("grid_worker", tree.grid.id)]


async def test_disabled_account_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, openid=openid_for("demo-disabled"), disabled=True)

    r = await wechat_login(client, "demo-disabled")

    assert r.status_code == 403
    assert error_code(r) == "auth.account_disabled"
    assert "access_token" not in r.text


async def test_deleted_account_gives_its_wechat_a_fresh_start(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    gone = await make_user(session, openid=openid_for("demo-returning"), deleted_at=clock.now())

    r = await wechat_login(client, "demo-returning")

    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] != gone.id
    await session.refresh(gone)
    assert gone.openid is None


async def test_session_key_is_never_returned_or_stored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    r = await wechat_login(client, "demo-resident-1")

    assert r.status_code == 200
    secret = session_key_for("demo-resident-1")
    assert secret not in r.text
    stored = await _user_by_openid(session, openid_for("demo-resident-1"))
    assert stored is not None
    values = [str(getattr(stored, c.key)) for c in User.__table__.columns]
    assert not any(secret in v for v in values)


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("invalid-code", 400, "wechat.invalid_code"),
        ("rate-limited", 429, "wechat.rate_limited"),
        ("high-risk", 403, "wechat.high_risk_user"),
        ("busy", 503, "wechat.busy"),
    ],
)
async def test_wechat_errcodes_reach_the_client_distinctly(
    client: httpx.AsyncClient, session: AsyncSession, code: str, status: int, error: str
) -> None:
    r = await wechat_login(client, code)

    assert r.status_code == status, r.text
    assert error_code(r) == error
    assert r.json()["error"]["message"]
    assert await _user_by_openid(session, openid_for(code)) is None


async def test_wechat_rate_limit_answer_carries_retry_after(client: httpx.AsyncClient) -> None:
    r = await wechat_login(client, "rate-limited")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == "60"


async def test_wechat_http_500_is_unavailable(client: httpx.AsyncClient, app: FastAPI) -> None:
    fake_wechat(app).fail_next(http_status=500)
    r = await wechat_login(client)
    assert r.status_code == 502
    assert error_code(r) == "wechat.unavailable"


async def test_wechat_timeout(app: FastAPI, settings: Settings, session: AsyncSession) -> None:
    from app.wechat.client import WeChatClient

    slow = WeChatClient.from_settings(settings.model_copy(update={"wechat_timeout_seconds": 0.05}))
    original, app.state.wechat = app.state.wechat, slow
    slow.fake.fail_next(delay=2.0)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            r = await wechat_login(c, "demo-slow")
    finally:
        app.state.wechat = original
        await slow.aclose()

    assert r.status_code == 504, r.text
    assert error_code(r) == "wechat.timeout"
    assert await _user_by_openid(session, openid_for("demo-slow")) is None


async def test_missing_code_is_a_validation_error(client: httpx.AsyncClient, app: FastAPI) -> None:
    r = await client.post(f"{API}/auth/wechat/login", json={"other": 1})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"
    assert fake_wechat(app).requests == []


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{API}/auth/wechat/login", json={"code": "demo-resident-1", "nickname": "x"}
    )
    assert r.status_code == 200, r.text


async def test_role_granted_later_shows_up_on_next_login(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await wechat_login(client, "demo-promoted")
    user = await session.get(User, first.json()["user"]["id"])
    assert user is not None
    user.kind = "staff"
    tree = await make_tree(session)
    await grant(session, user, "grid_leader", tree.grid)

    second = await wechat_login(client, "demo-promoted")

    assert [x["role"] for x in second.json()["user"]["roles"]] == ["grid_leader"]
