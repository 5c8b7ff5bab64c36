"""GET/PATCH /me, POST /me/wechat and POST /me/phone."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.users.models import User
from app.wechat.fake import openid_for, phone_for, unionid_for
from tests.auth.helpers import API, bearer, error_code, fake_wechat, password_login, wechat_login
from tests.factories import auth, make_staff, make_tree, make_user

ME = f"{API}/me"
PASSWORD = "Qinyang-2026!"


async def test_me_shows_profile_and_roles(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    worker = await make_staff(session, "grid_worker", tree.grid, name="李娜", phone="13912345678")

    r = await client.get(ME, headers=auth(settings, worker))

    assert r.status_code == 200
    body = r.json()
    assert body["id"] == worker.id
    assert body["name"] == "李娜"
    assert body["phone_masked"] == "139****5678"
    assert "13912345678" not in r.text
    assert body["has_wechat"] is False
    [role] = body["roles"]
    assert role["role"] == "grid_worker"
    assert role["region_id"] == tree.grid.id
    assert role["region_name"] == "第一网格"
    assert role["department_id"] is None


# -- PATCH /me ---------------------------------------------------------------


async def test_patch_me_changes_what_was_sent(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    resident = await make_user(session, name=None, home_grid=None)
    resident.address = "旧地址"
    await session.flush()

    r = await client.patch(
        ME,
        headers=auth(settings, resident),
        json={"nickname": "  老王  ", "home_grid_id": tree.grid.id},
    )

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["nickname"] == "老王"
    assert body["home_grid_id"] == tree.grid.id
    assert body["address"] == "旧地址"  # not sent, not changed
    await session.refresh(resident)
    assert (resident.nickname, resident.home_grid_id) == ("老王", tree.grid.id)
    assert (await client.get(ME, headers=auth(settings, resident))).json()["nickname"] == "老王"


async def test_patch_me_clears_home_grid_and_address_with_null(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    resident = await make_user(session, home_grid=tree.grid)
    r = await client.patch(
        ME, headers=auth(settings, resident), json={"home_grid_id": None, "address": "  "}
    )
    assert r.status_code == 200, r.text
    assert r.json()["home_grid_id"] is None
    assert r.json()["address"] is None


@pytest.mark.parametrize("target", ["missing", "community"])
async def test_patch_me_refuses_a_home_grid_that_is_not_a_grid(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, target: str
) -> None:
    tree = await make_tree(session)
    resident = await make_user(session, home_grid=tree.grid)
    region_id = tree.community.id if target == "community" else tree.far_grid.id + 10_000

    r = await client.patch(ME, headers=auth(settings, resident), json={"home_grid_id": region_id})

    assert r.status_code == 422
    assert error_code(r) == "me.invalid_home_grid"
    await session.refresh(resident)
    assert resident.home_grid_id == tree.grid.id


@pytest.mark.parametrize("nickname", ["", "   ", "长" * 33, None])
async def test_patch_me_refuses_bad_nicknames(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, nickname: str | None
) -> None:
    resident = await make_user(session, name="原昵称")
    r = await client.patch(ME, headers=auth(settings, resident), json={"nickname": nickname})
    assert r.status_code == 422
    assert error_code(r) == "validation_error"
    assert r.json()["error"]["details"]["fields"][0]["field"] == "nickname"


@pytest.mark.parametrize("body", [{"homeGridId": 7}, {"avatar_url": "http://x"}])
async def test_patch_me_refuses_a_field_it_does_not_know(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, body: dict[str, object]
) -> None:
    # A misspelt field was answered 200 and dropped: the app believed it saved.
    resident = await make_user(session, name="原昵称")
    r = await client.patch(ME, headers=auth(settings, resident), json=body)
    assert r.status_code == 422, r.text
    assert error_code(r) == "validation_error"
    assert r.json()["error"]["details"]["fields"][0]["field"] == next(iter(body))


async def test_patch_me_accepts_a_32_character_nickname(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    resident = await make_user(session)
    r = await client.patch(ME, headers=auth(settings, resident), json={"nickname": "长" * 32})
    assert r.status_code == 200


async def test_patch_me_needs_a_token(client: httpx.AsyncClient) -> None:
    r = await client.patch(ME, json={"nickname": "x"})
    assert r.status_code == 401


# -- POST /me/wechat ---------------------------------------------------------


async def test_staff_binds_wechat_then_logs_in_with_it(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    tree = await make_tree(session)
    worker = await make_staff(
        session, "grid_worker", tree.grid, username="liuqiang", password=PASSWORD
    )
    tokens = (await password_login(client, "liuqiang", PASSWORD)).json()

    r = await client.post(
        f"{ME}/wechat", headers=bearer(tokens["access_token"]), json={"code": "worker-1"}
    )

    assert r.status_code == 200, r.text
    assert r.json()["has_wechat"] is True
    await session.refresh(worker)
    assert worker.openid == openid_for("worker-1")
    assert worker.unionid == unionid_for("worker-1")
    login = await wechat_login(client, "worker-1")
    assert login.json()["user"]["id"] == worker.id
    assert login.json()["user"]["roles"][0]["role"] == "grid_worker"
    # Binding the same WeChat again changes nothing.
    again = await client.post(
        f"{ME}/wechat", headers=bearer(tokens["access_token"]), json={"code": "worker-1"}
    )
    assert again.status_code == 200


async def test_wechat_bound_to_another_account_is_a_conflict(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    owner = await make_user(session, openid=openid_for("shared-phone"))
    worker = await make_staff(session, "grid_worker", tree.grid)

    r = await client.post(
        f"{ME}/wechat", headers=auth(settings, worker), json={"code": "shared-phone"}
    )

    assert r.status_code == 409
    assert error_code(r) == "auth.wechat_already_bound"
    await session.refresh(worker)
    await session.refresh(owner)
    assert worker.openid is None
    assert owner.openid == openid_for("shared-phone")


async def test_residents_cannot_bind_another_wechat(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    resident = await make_user(session)
    r = await client.post(f"{ME}/wechat", headers=auth(settings, resident), json={"code": "x1"})
    assert r.status_code == 403
    assert error_code(r) == "auth.staff_only"
    assert fake_wechat(app).requests == []  # refused before any WeChat call


async def test_bind_wechat_without_token_makes_no_wechat_call(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    r = await client.post(f"{ME}/wechat", json={"code": "worker-1"})
    assert r.status_code == 401
    assert fake_wechat(app).requests == []


async def test_bind_wechat_with_bad_code(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    worker = await make_staff(session, "grid_worker", tree.grid)
    r = await client.post(
        f"{ME}/wechat", headers=auth(settings, worker), json={"code": "invalid-code"}
    )
    assert r.status_code == 400
    assert error_code(r) == "wechat.invalid_code"


# -- POST /me/phone ----------------------------------------------------------


async def test_bind_phone_stores_it_and_returns_it_masked(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    tokens = (await wechat_login(client, "demo-resident-1")).json()
    expected = phone_for("phone-code-1")

    r = await client.post(
        f"{ME}/phone", headers=bearer(tokens["access_token"]), json={"code": "phone-code-1"}
    )

    assert r.status_code == 200, r.text
    assert r.json()["phone_masked"] == f"{expected[:3]}****{expected[-4:]}"
    assert expected not in r.text
    user = await session.get(User, tokens["user"]["id"])
    assert user is not None
    await session.refresh(user)
    assert user.phone == expected
    [sent] = fake_wechat(app).calls("/wxa/business/getuserphonenumber")
    assert sent.body == {"code": "phone-code-1"}


async def test_bind_phone_with_bad_code_keeps_the_old_phone(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    resident = await make_user(session, phone="13700001111")
    r = await client.post(
        f"{ME}/phone", headers=auth(settings, resident), json={"code": "invalid-code"}
    )
    assert r.status_code == 400
    assert error_code(r) == "wechat.invalid_code"
    await session.refresh(resident)
    assert resident.phone == "13700001111"


async def test_bind_phone_needs_a_token_and_a_code(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, app: FastAPI
) -> None:
    assert (await client.post(f"{ME}/phone", json={"code": "p"})).status_code == 401
    resident = await make_user(session)
    r = await client.post(f"{ME}/phone", headers=auth(settings, resident), json={})
    assert r.status_code == 422
    assert fake_wechat(app).requests == []
