"""Oversized request bodies are refused with 413 before anything parses them;
routes that cap their own bodies (photos, grid import) keep their own limits."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator

import httpx
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.factories import auth, make_user

MiB = 1024 * 1024


def _assert_too_large(r: httpx.Response) -> None:
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "http.payload_too_large"
    assert r.json()["error"]["details"]["max_bytes"] == MiB


async def test_declared_length_over_the_limit_is_refused_unparsed(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = auth(settings, await make_user(session))
    # Not even JSON: had it been parsed, it would be a 422.
    body = b"{" + b"x" * (MiB + 10)
    r = await client.post(
        "/api/v1/reports", content=body, headers={**headers, "content-type": "application/json"}
    )
    _assert_too_large(r)
    # Anonymous and on a route that does not exist: refused all the same.
    r = await client.post("/api/v1/auth/password/login", content=body)
    _assert_too_large(r)


async def test_a_chunked_body_is_stopped_once_past_the_limit(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = auth(settings, await make_user(session))
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"kind": "issue", "category": "environment", "description": "'
        for _ in range(64):
            sent += 64 * 1024
            yield b"a" * (64 * 1024)
        yield b'"}'

    r = await client.post(
        "/api/v1/reports",
        content=chunks(),
        headers={**headers, "content-type": "application/json"},
    )
    _assert_too_large(r)


async def test_bodies_under_the_limit_are_handled_as_usual(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = auth(settings, await make_user(session))
    r = await client.post(
        "/api/v1/reports",
        content=b'{"kind": "issue", "category": "environment", "description": "'
        + b"a" * 5000
        + b'"}',
        headers={**headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text  # too long a description: validated, not refused
    assert r.json()["error"]["code"] == "validation_error"


async def test_photo_upload_keeps_its_own_larger_limit(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = auth(settings, await make_user(session))
    noise = Image.frombytes("RGB", (1000, 1000), os.urandom(1000 * 1000 * 3))
    buf = io.BytesIO()
    noise.save(buf, "JPEG", quality=95)
    assert buf.tell() > MiB
    r = await client.post(
        "/api/v1/media",
        headers=headers,
        files={"file": ("big.jpg", buf.getvalue(), "image/jpeg")},
    )
    assert r.status_code == 201, r.text
