"""A NUL character (U+0000) anywhere in what a client sends is refused up
front with a 422: PostgreSQL cannot store it in text (asyncpg raised a 500)
and SQLite silently kept it, so both databases must never see it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.core.textguard import NUL_MESSAGE, JsonNulScanner
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

NUL = "\x00"


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def assert_nul_refused(r: httpx.Response) -> None:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    assert err["message"] == NUL_MESSAGE
    assert "U+0000" in err["message"]


@pytest.mark.parametrize(
    ("method", "url", "params", "body", "who"),
    [
        (
            "POST",
            "/api/v1/auth/password/login",
            None,
            {"username": f"admin{NUL}", "password": "x"},
            None,
        ),
        ("GET", "/api/v1/services", {"q": f"助餐{NUL}"}, None, None),
        (
            "GET",
            "/api/v1/service-points/nearby",
            {"lat": "35.08", "lng": "112.93", "type": f"站{NUL}"},
            None,
            None,
        ),
        ("PATCH", "/api/v1/me", None, {"nickname": f"x{NUL}"}, "resident"),
        ("GET", "/api/v1/admin/reports", {"q": NUL}, None, "admin"),
        ("GET", "/api/v1/reports/1%00", None, None, "resident"),
        ("GET", "/api/v1/nowhere%00", None, None, None),
        # In a key, and deep inside the body.
        ("PATCH", "/api/v1/me", None, {f"nick{NUL}name": "x"}, "resident"),
        (
            "POST",
            "/api/v1/reports",
            None,
            {
                "kind": "issue",
                "category": "environment",
                "description": "小区门口垃圾堆积三天无人清运",
                "extra": [{"deep": [f"a{NUL}"]}],
            },
            "resident",
        ),
    ],
)
async def test_a_nul_anywhere_is_a_422(
    client: httpx.AsyncClient,
    world: World,
    method: str,
    url: str,
    params: dict[str, str] | None,
    body: dict[str, Any] | None,
    who: str | None,
) -> None:
    headers = {}
    if who == "resident":
        headers = world.h(world.resident)
    elif who == "admin":
        headers = world.h(world.community_admin)
    r = await client.request(method, url, params=params, json=body, headers=headers)
    assert_nul_refused(r)


@pytest.mark.parametrize("description", [f"楼道灯坏了{NUL}好几天", NUL * 6])
async def test_a_report_with_nul_in_its_description_is_refused(
    client: httpx.AsyncClient, world: World, description: str
) -> None:
    r = await submit(client, world.h(world.resident), description=description)
    assert_nul_refused(r)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32"])
async def test_a_json_body_in_utf16_or_utf32_is_scanned_too(
    client: httpx.AsyncClient, world: World, encoding: str
) -> None:
    """The JSON parser accepts UTF-16 and UTF-32 bodies; their escapes are not
    the ASCII bytes of UTF-8, but their raw NUL bytes give them away."""
    body = '{"nickname": "ab\\u0000cd"}'.encode(encoding)
    headers = {**world.h(world.resident), "Content-Type": "application/json"}
    r = await client.patch("/api/v1/me", content=body, headers=headers)
    assert_nul_refused(r)
    r = await client.get("/api/v1/me", headers=world.h(world.resident))
    assert "\x00" not in r.json()["nickname"]


async def test_an_escaped_backslash_before_u0000_is_plain_text(
    client: httpx.AsyncClient, world: World
) -> None:
    # The JSON text \\u0000 is a backslash followed by "u0000", not a NUL.
    text = "墙上写着 \\u0000 字样，请尽快清理"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["description"] == text
    # A backslash and then a NUL is still a NUL.
    r = await submit(client, world.h(world.resident), description="墙上写着字样请清理\\" + NUL)
    assert_nul_refused(r)


async def test_a_nul_in_a_body_sent_in_many_chunks_is_found(
    client: httpx.AsyncClient, world: World
) -> None:
    raw = b'{"nickname": "ab\\u0000cd"}'

    async def chunks() -> Any:
        for i in range(len(raw)):
            yield raw[i : i + 1]

    headers = {**world.h(world.resident), "content-type": "application/json"}
    r = await client.patch("/api/v1/me", content=chunks(), headers=headers)
    assert_nul_refused(r)


def _feed(chunks: list[bytes]) -> bool:
    scanner = JsonNulScanner()
    return any(scanner.feed(c) for c in chunks)


@pytest.mark.parametrize(
    ("raw", "has_nul"),
    [
        (b'{"a": "x"}', False),
        (b'{"a": "\\u0000"}', True),
        (b'{"a": "\\\\u0000"}', False),  # escaped backslash, then text
        (b'{"a": "\\\\\\u0000"}', True),  # escaped backslash, then a NUL
        (b'{"a": "\\\\\\\\u0000"}', False),
        (b'{"a\\u0000": 1}', True),
        (b'{"a": "\\u00001"}', True),
        (b'{"a": "\\u0001"}', False),
        (b'{"a": "u0000"}', False),
        (b'{"a": "' + b"\\\\" * 5000 + b'u0000"}', False),
        (b'{"a": "' + b"\\\\" * 5000 + b'\\u0000"}', True),
    ],
)
def test_the_json_scanner_reads_escapes_across_any_chunking(raw: bytes, has_nul: bool) -> None:
    assert _feed([raw]) is has_nul
    for cut in range(len(raw) + 1):
        assert _feed([raw[:cut], raw[cut:]]) is has_nul, cut
    assert _feed([raw[i : i + 1] for i in range(len(raw))]) is has_nul
    assert _feed([raw[i : i + 3] for i in range(0, len(raw), 3)]) is has_nul


async def test_a_nul_the_database_refuses_is_a_422_not_a_500(app: FastAPI) -> None:
    """The safety net: PostgreSQL's "invalid byte sequence" (SQLSTATE 22021)
    from any path the guard did not cover is still a validation error."""
    from sqlalchemy.exc import DataError

    class _PgError(Exception):
        sqlstate = "22021"

    @app.get("/_probe/nul")
    async def probe() -> None:
        raise DataError(
            "SELECT $1",
            ("x",),
            _PgError('invalid byte sequence for encoding "UTF8": 0x00'),
        )

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/_probe/nul")
    assert_nul_refused(r)


@pytest.mark.parametrize(
    "raw",
    [b'{"nickname": "ab\\ud800cd"}', b'{"nickname": "\\udc00"}', b'{"nickname": "\\uDBFF"}'],
)
async def test_a_lone_surrogate_is_a_422_not_a_500(
    client: httpx.AsyncClient, world: World, raw: bytes
) -> None:
    """Neither database driver can encode it (nor can the response)."""
    headers = {**world.h(world.resident), "content-type": "application/json"}
    r = await client.patch("/api/v1/me", content=raw, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    # A surrogate pair is one character and stays allowed.
    r = await client.patch(
        "/api/v1/me", content=b'{"nickname": "ab\\ud83d\\ude00"}', headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["nickname"] == "ab\U0001f600"


@pytest.mark.parametrize("tag", ["\\ud800", "\\udfff", "ok\\udc00ok"])
async def test_a_lone_surrogate_inside_a_json_column_is_a_422(
    client: httpx.AsyncClient, world: World, tag: str
) -> None:
    """In a list stored as JSON (a policy's tags) it reaches PostgreSQL escaped,
    and ``jsonb`` refuses the escape: still the client's input, not a 500."""
    headers = {**world.h(world.street_admin), "content-type": "application/json"}
    body = '{"title": "t", "body": "b", "category": "c", "tags": ["' + tag + '"]}'
    r = await client.post("/api/v1/admin/policies", content=body.encode(), headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    r = await client.post(
        "/api/v1/admin/policies", json={"title": "t", "body": "b", "category": "c"}, headers=headers
    )
    assert r.status_code == 201, r.text
    policy = r.json()["id"]
    patch = ('{"tags": ["ok", "' + tag + '"]}').encode()
    r = await client.patch(f"/api/v1/admin/policies/{policy}", content=patch, headers=headers)
    assert r.status_code == 422, r.text
