from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.errors import AppError, Conflict, Invalid, NotFound
from app.core.idempotency import (
    Claim,
    body_fingerprint,
    claim,
    complete,
    fingerprint,
    purge_expired,
    release,
)
from app.core.models import IdempotencyRecord
from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, make_world, wgs

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


async def _claim(app: FastAPI, key: str = "k1", fp: str = "fp-a") -> Claim | JSONResponse:
    return await claim(app.state.db, owner="user:1", key=key, fp=fp)


async def test_first_claim_then_in_flight_then_replay(app: FastAPI) -> None:
    with clock.frozen(T0):
        first = await _claim(app)
        assert isinstance(first, Claim)
        with pytest.raises(Conflict) as info:
            await _claim(app)
        assert info.value.code == "idempotency.in_flight"
        assert info.value.headers and "Retry-After" in info.value.headers
        async with app.state.db.session(write=True) as s:
            await complete(s, first, 201, {"id": 7})
            await s.commit()
        replay = await _claim(app)
        assert isinstance(replay, JSONResponse)
        assert replay.status_code == 201
        assert replay.body == b'{"id":7}'


async def test_same_key_other_body_is_refused(app: FastAPI) -> None:
    with clock.frozen(T0):
        assert isinstance(await _claim(app), Claim)
        with pytest.raises(Invalid) as info:
            await _claim(app, fp="fp-b")
        assert info.value.code == "idempotency.key_reused"


async def test_expired_lease_is_taken_over_and_old_owner_cannot_finish(app: FastAPI) -> None:
    with clock.frozen(T0):
        crashed = await _claim(app)
        assert isinstance(crashed, Claim)
        clock.advance(timedelta(seconds=31))
        again = await _claim(app)
        assert isinstance(again, Claim)
        assert again.lease_token != crashed.lease_token
        async with app.state.db.session(write=True) as s:
            with pytest.raises(Conflict):
                await complete(s, crashed, 201, {"id": 1})


@pytest.mark.parametrize(
    ("error", "remembered"),
    [
        (NotFound("x.not_found", "不存在"), True),
        (Invalid("x.bad", "无效"), True),
        (Conflict("x.conflict", "冲突"), False),
        (None, False),
    ],
)
async def test_release(app: FastAPI, error: AppError | None, remembered: bool) -> None:
    with clock.frozen(T0):
        c = await _claim(app)
        assert isinstance(c, Claim)
        await release(app.state.db, c, error)
        again = await _claim(app)
        if remembered:
            assert isinstance(again, JSONResponse)
            assert error is not None and again.status_code == error.status_code
        else:
            assert isinstance(again, Claim)


async def test_purge_forgets_old_keys(app: FastAPI) -> None:
    with clock.frozen(T0):
        c = await _claim(app, key="old")
        assert isinstance(c, Claim)
        async with app.state.db.session(write=True) as s:
            await complete(s, c, 201, {"id": 1})
            await s.commit()
        clock.advance(timedelta(hours=25))
        assert await purge_expired(app.state.db) >= 1
        async with app.state.db.session(write=False) as s:
            assert (
                await s.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == "old"))
                is None
            )


async def test_a_retry_with_the_same_json_formatted_otherwise_is_the_same_request(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Another JSON library (or version) may space, order or escape a retry
    differently: still the same body, so the first answer, not a 422."""
    world = await make_world(session, settings)
    headers = {
        **world.h(world.resident),
        "Idempotency-Key": "retry-formatting",
        "Content-Type": "application/json",
    }
    body = {
        "kind": "issue",
        "category": "environment",
        "description": "小区门口垃圾堆积三天无人清运",
        "location": wgs(IN_GRID),
    }
    compact = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    spaced = (json.dumps(dict(reversed(body.items())), ensure_ascii=True, indent=2) + "\n").encode()
    assert compact != spaced
    first = await client.post("/api/v1/reports", content=compact, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post("/api/v1/reports", content=spaced, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotency-Replayed") == "true"
    other = json.dumps({**body, "description": "另一段描述内容，不是同一个请求"}).encode()
    r = await client.post("/api/v1/reports", content=other, headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "idempotency.key_reused"


def test_a_body_that_is_not_json_is_compared_as_sent() -> None:
    assert body_fingerprint("POST", "/x", b"\xff\xfe") == fingerprint("POST", "/x", b"\xff\xfe")
    assert body_fingerprint("POST", "/x", b'{"a": 1}') == body_fingerprint("POST", "/x", b'{"a":1}')
    assert body_fingerprint("POST", "/x", b'{"a": 1}') != body_fingerprint("POST", "/x", b'{"a":2}')
    assert body_fingerprint("POST", "/x", b"{}") != body_fingerprint("POST", "/y", b"{}")
