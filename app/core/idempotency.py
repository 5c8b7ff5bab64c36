"""``Idempotency-Key`` for creating POSTs.

1. Claim the key in its own short transaction, before the work starts: a new
   key is recorded ``in_flight`` with a lease; a key already done replays the
   stored response; a key still in flight answers 409 ``idempotency.in_flight``
   with ``Retry-After``; the same key with another body is 422
   ``idempotency.key_reused``. An expired lease (the first attempt crashed) is
   taken over.
2. The work runs in the request's transaction, and the response is stored in
   that same transaction, so "created" and "remembered" commit together.
3. On failure the request is rolled back first; then a client error (4xx other
   than 409/429) is remembered as the answer, anything else frees the key.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.db import Database
from app.core.errors import AppError, Conflict, Invalid
from app.core.models import IdempotencyRecord
from app.core.rawsql import Json, Raw, json_value, standalone, utc

# How long a claimed key waits for its first attempt before a retry may take it
# over (``EJIAREN_IDEMPOTENCY_LEASE_SECONDS``); also the purge grace period.
LEASE = timedelta(seconds=30)
RETENTION = timedelta(hours=24)
_NOT_REMEMBERED = {409, 429}
_CLAIM = (
    "INSERT INTO idempotency_record"
    " (owner, key, fingerprint, state, lease_token, created_at, expires_at)"
    " VALUES ($1, $2, $3, 'in_flight', $4, $5, $6)"
    " ON CONFLICT (owner, key) DO NOTHING RETURNING id"
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="幂等键：同一调用者用同一个键重试，返回第一次的结果（24 小时内有效）",
    ),
]


@dataclass
class Claim:
    record_id: int
    lease_token: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


_UNPARSED: Any = object()


def body_fingerprint(method: str, path: str, body: bytes, parsed: Any = _UNPARSED) -> str:
    """``fingerprint`` of a request body, as its content: a JSON body sent again
    with other spacing, key order or escapes is the same body (API.md: "the
    same key with a different body" is refused; a client's JSON library may
    format a retry differently). Anything else is compared byte for byte.
    ``parsed``: the body as the route already parsed it, if it did."""
    if parsed is _UNPARSED:
        try:
            parsed = json.loads(body)
        except ValueError:  # not JSON (or not UTF-8): as sent
            return fingerprint(method, path, body)
    canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return fingerprint(method, path, b"json:" + canonical.encode())


async def _request_fingerprint(request: Request) -> str:
    body = await request.body()
    try:
        # The JSON the route's body parameter was read from: Starlette keeps
        # it on the request, so it is not parsed a second time here.
        parsed = await request.json()
    except ValueError:  # not JSON (or not UTF-8): compared as sent
        return fingerprint(request.method, request.url.path, body)
    return body_fingerprint(request.method, request.url.path, body, parsed)


async def claim(db: Database, *, owner: str, key: str, fp: str) -> Claim | JSONResponse:
    """Claim ``key`` for ``owner``; or the stored response of a finished attempt.

    Every creating POST with a key passes here, so it runs as standalone
    statements (``rawsql.standalone``): each is atomic, and taking over a dead
    attempt is a compare-and-set on its lease token."""
    lease = timedelta(seconds=db.settings.idempotency_lease_seconds)
    async with standalone(db) as raw:
        for _ in range(3):
            now = clock.now()
            token = secrets.token_hex(8)
            new_id = await raw.fetchval(_CLAIM, owner, key, fp, token, now, now + lease)
            if new_id is not None:
                return Claim(new_id, token)
            row = await raw.fetchrow(
                "SELECT id, fingerprint, state, lease_token, status_code, response, expires_at"
                " FROM idempotency_record WHERE owner = $1 AND key = $2",
                owner,
                key,
            )
            if row is None:  # purged between the two statements: try again
                continue
            if row["fingerprint"] != fp:
                raise Invalid("idempotency.key_reused", "同一个幂等键不能用于不同的请求内容")
            if row["state"] == "done":
                return JSONResponse(
                    json_value(row["response"]),
                    status_code=row["status_code"] or 200,
                    headers={"Idempotency-Replayed": "true"},
                )
            expires_at = utc(row["expires_at"])
            assert expires_at is not None
            if expires_at > now:
                retry = max(1, int((expires_at - now).total_seconds()))
                raise Conflict(
                    "idempotency.in_flight",
                    "相同请求正在处理中，请稍后重试",
                    headers={"Retry-After": str(min(retry, 5))},
                )
            # The first attempt died without finishing: take its lease over.
            taken = await raw.execute(
                "UPDATE idempotency_record SET lease_token = $1, expires_at = $2"
                " WHERE id = $3 AND lease_token = $4 AND state = 'in_flight'",
                token,
                now + lease,
                row["id"],
                row["lease_token"],
            )
            if taken == 1:
                return Claim(row["id"], token)
    raise Conflict(
        "idempotency.in_flight", "相同请求正在处理中，请稍后重试", headers={"Retry-After": "1"}
    )


async def complete(session: AsyncSession, c: Claim, status_code: int, body: Any) -> None:
    """Store the response in the request's transaction; refuse if our lease was lost."""
    raw = await Raw.of(session)
    changed = await raw.execute(
        "UPDATE idempotency_record SET state = 'done', status_code = $1, response = $2,"
        " expires_at = $3 WHERE id = $4 AND lease_token = $5 AND state = 'in_flight'",
        status_code,
        Json(body),
        clock.now() + RETENTION,
        c.record_id,
        c.lease_token,
    )
    if changed != 1:
        raise Conflict(
            "idempotency.in_flight", "相同请求正在处理中，请稍后重试", headers={"Retry-After": "1"}
        )


async def release(db: Database, c: Claim, error: AppError | None) -> None:
    """After a failed attempt: remember a client error as the answer, else free the key."""
    async with db.session(write=True) as session:
        mine = (IdempotencyRecord.id == c.record_id) & (
            IdempotencyRecord.lease_token == c.lease_token
        )
        if (
            error is not None
            and 400 <= error.status_code < 500
            and (error.status_code not in _NOT_REMEMBERED)
        ):
            body = {
                "error": {"code": error.code, "message": error.message, "details": error.details}
            }
            await session.execute(
                update(IdempotencyRecord)
                .where(mine)
                .values(
                    state="done",
                    status_code=error.status_code,
                    response=body,
                    expires_at=clock.now() + RETENTION,
                )
            )
        else:
            await session.execute(delete(IdempotencyRecord).where(mine))
        await session.commit()


async def run_idempotent(
    request: Request,
    session: AsyncSession,
    *,
    owner: str,
    key: str | None,
    status_code: int,
    work: Callable[[], Awaitable[Any]],
) -> Any:
    """Run ``work`` at most once per ``(owner, key)``; returns its result or a replay.

    A model the work returns is answered as the JSON stored for replays (the
    first answer and every replay are the same bytes, and FastAPI does not
    validate the model a second time)."""
    if key is None:
        result = await work()
        if isinstance(result, BaseModel):
            return JSONResponse(_jsonable(result), status_code=status_code)
        return result
    if not key.strip():
        raise Invalid("idempotency.bad_key", "幂等键不能为空")
    db: Database = request.app.state.db
    fp = await _request_fingerprint(request)
    got = await claim(db, owner=owner, key=key, fp=fp)
    if isinstance(got, JSONResponse):
        return got
    try:
        result = await work()
        stored = _jsonable(result)
        await complete(session, got, status_code, stored)
    except AppError as exc:
        await session.rollback()
        await release(db, got, exc)
        raise
    except BaseException:
        await session.rollback()
        await release(db, got, None)
        raise
    if isinstance(result, BaseModel):
        return JSONResponse(stored, status_code=status_code)
    return result


def _jsonable(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True)
    return jsonable_encoder(result)


async def purge_expired(db: Database) -> int:
    """Forget finished keys past their retention (background loop)."""
    async with db.session(write=True) as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < clock.now() - LEASE)
        )
        await session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
