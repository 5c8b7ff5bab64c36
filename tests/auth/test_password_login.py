"""POST /auth/password/login (staff)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from tests.auth.helpers import API, bearer, error_code, password_login
from tests.factories import make_staff, make_tree, make_user

PASSWORD = "Qinyang-2026!"


async def test_good_password_logs_in(client: httpx.AsyncClient, session: AsyncSession) -> None:
    tree = await make_tree(session)
    admin = await make_staff(
        session, "community_admin", tree.community, username="wangwei", password=PASSWORD
    )

    r = await password_login(client, "wangwei", PASSWORD)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user"]["id"] == admin.id
    assert body["user"]["kind"] == "staff"
    assert body["user"]["username"] == "wangwei"
    role = body["user"]["roles"][0]
    assert (role["role"], role["region_id"], role["region_level"]) == (
        "community_admin",
        tree.community.id,
        "community",
    )
    assert body["user"]["phone_masked"] == "138****0000"
    await session.refresh(admin)
    assert admin.last_login_at is not None
    me = await client.get(f"{API}/me", headers=bearer(body["access_token"]))
    assert me.json()["id"] == admin.id


async def test_surrounding_spaces_in_username_are_ignored(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, kind="staff", username="zhaoli", password=PASSWORD)
    r = await password_login(client, "  zhaoli ", PASSWORD)
    assert r.status_code == 200, r.text


async def test_the_username_is_not_case_sensitive(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Accounts are unique whatever the case, so the case typed on a phone's
    keyboard (which capitalises the first letter) does not lock anyone out;
    the per-account rate limit counts every spelling as one account."""
    staff = await make_user(session, kind="staff", username="LiuYang", password=PASSWORD)
    for typed in ("liuyang", "Liuyang", "LIUYANG", "LiuYang"):
        r = await password_login(client, typed, PASSWORD)
        assert r.status_code == 200, (typed, r.text)
        assert r.json()["user"]["id"] == staff.id


async def test_a_name_outside_ascii_still_logs_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """Names made through the API are ASCII, but ``ejiaren create-admin`` takes
    any: the comparison folds case in the database on both sides, so such a
    name is found as it was written."""
    admin = await make_user(session, kind="staff", username="Änne", password=PASSWORD)
    r = await password_login(client, "Änne", PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"] == admin.id


async def test_wrong_password_and_unknown_user_look_the_same(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, kind="staff", username="wangwei", password=PASSWORD)

    wrong = await password_login(client, "wangwei", PASSWORD + "x")
    unknown = await password_login(client, "nobody", PASSWORD)

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert error_code(wrong) == "auth.bad_credentials"
    assert "access_token" not in wrong.text


async def test_account_without_password_cannot_log_in_by_password(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, kind="staff", username="nopass")
    r = await password_login(client, "nopass", "")
    assert r.status_code == 422  # empty password is not even tried
    r = await password_login(client, "nopass", "anything")
    assert r.status_code == 401
    assert error_code(r) == "auth.bad_credentials"


async def test_disabled_staff_is_refused_after_the_password_check(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(session, kind="staff", username="gone", password=PASSWORD, disabled=True)

    right = await password_login(client, "gone", PASSWORD)
    wrong = await password_login(client, "gone", "guess")

    assert right.status_code == 403
    assert error_code(right) == "auth.account_disabled"
    # Without the password nobody learns that the account exists but is disabled.
    assert wrong.status_code == 401


async def test_deleted_account_cannot_log_in(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_user(
        session, kind="staff", username="left", password=PASSWORD, deleted_at=clock.now()
    )
    r = await password_login(client, "left", PASSWORD)
    assert r.status_code == 401
    assert error_code(r) == "auth.bad_credentials"


async def test_missing_fields_are_422(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{API}/auth/password/login", json={"username": "wangwei"})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"
    assert r.json()["error"]["details"]["fields"][0]["field"] == "password"
