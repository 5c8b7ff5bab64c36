"""Nothing in the logs contains a phone number, a token or a secret, at every
level, through the flows that handle them: WeChat and password login, token
refresh, phone binding, a case with a phone number in its text, signed photo
URLs, and requests that carry tokens in the query string."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.wechat.fake import phone_for
from tests.factories import make_staff, make_tree
from tests.reports.helpers import IN_GRID, jpeg_bytes, submit, wgs

PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


async def test_logs_hold_no_phone_token_or_secret(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tree = await make_tree(session)
    password = "Qinyang-2026!secret"
    await make_staff(
        session,
        "grid_worker",
        tree.grid,
        name="王网格",
        phone="13700001111",
        username="hygiene-worker",
        password=password,
    )
    secrets: list[str] = [
        password,
        settings.jwt_secret.get_secret_value(),
        settings.media_url_secret.get_secret_value(),
    ]

    r = await client.post("/api/v1/auth/wechat/login", json={"code": "hygiene-resident"})
    assert r.status_code == 200, r.text
    resident = r.json()
    secrets += [resident["access_token"], resident["refresh_token"]]
    headers = {"Authorization": f"Bearer {resident['access_token']}"}
    r = await client.post("/api/v1/me/phone", json={"code": "hygiene-phone"}, headers=headers)
    assert r.status_code == 200, r.text
    phone = phone_for("hygiene-phone")
    r = await client.post(
        "/api/v1/auth/password/login", json={"username": "hygiene-worker", "password": password}
    )
    assert r.status_code == 200, r.text
    worker = r.json()
    secrets += [worker["access_token"], worker["refresh_token"]]
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": worker["refresh_token"]})
    assert r.status_code == 200, r.text
    secrets += [r.json()["access_token"], r.json()["refresh_token"]]
    # Wrong password and a forged token are logged as events, not with their values.
    r = await client.post(
        "/api/v1/auth/password/login", json={"username": "hygiene-worker", "password": "wrong-pw-1"}
    )
    assert r.status_code == 401
    r = await client.get("/api/v1/me", headers={"Authorization": "Bearer forged.token.value"})
    assert r.status_code == 401

    r = await client.post(
        "/api/v1/media", headers=headers, files={"file": ("p.jpg", jpeg_bytes(), "image/jpeg")}
    )
    assert r.status_code == 201, r.text
    url = r.json()["url"]
    signature = re.search(r"sig=([0-9a-f]+)", url)
    assert signature
    secrets.append(signature.group(1))
    r = await client.get(url)
    assert r.status_code == 200
    r = await submit(
        client,
        headers,
        location=wgs(IN_GRID),
        description="楼道堆放杂物，联系电话 13812345678，请尽快处理",
    )
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/me?access_token={resident['access_token']}")

    text = "\n".join(
        f"{rec.name} {rec.levelname} {rec.getMessage()} {rec.exc_text or ''}"
        for rec in caplog.records
    )
    assert "ejiaren.access" in text  # the access log was captured at all
    found = PHONE.search(text)
    assert not found, text[max(0, found.start() - 300) : found.end() + 100]
    for value in [*secrets, phone, "13812345678", "13700001111"]:
        assert value not in text, value
