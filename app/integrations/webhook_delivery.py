"""Webhook delivery: the outbox handler that signs a message and posts it to
the receiver, and the delivery log it writes for every attempt.

Each delivery connects through ``net.VettedTransport`` (the address is checked
as it is connected to; private ones only outside ``prod``), with the webhook
timeout and without following redirects. Deliveries made inside a
``shared_client()`` block — one outbox pass — share one such client and its
kept-alive connections, closed when the block ends; elsewhere each delivery
has a client of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from sqlalchemy import or_, select

from app.core import clock, net
from app.core.settings import Settings
from app.integrations.models import ApiClient, Webhook, WebhookDelivery
from app.integrations.webhooks import (
    KIND,
    PRIVATE_PROBLEM,
    forget_expired_secrets,
    shape_problem,
)
from app.outbox.errors import PermanentDelivery, RetryableDelivery
from app.outbox.models import OutboxMessage
from app.outbox.registry import DeliveryContext, DeliveryResult, register_handler

log = logging.getLogger("ejiaren.webhooks")

SIGNATURE_HEADER = "X-Ejiaren-Signature"
DELIVERY_HEADER = "X-Ejiaren-Delivery"
EVENT_HEADER = "X-Ejiaren-Event"
_RETRY_STATUSES = frozenset({408, 425, 429})


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_header(secrets_: list[str], body: bytes) -> str:
    """One ``sha256=`` value per secret, the current secret's first, joined by
    commas (no spaces). With one secret it is exactly ``sign``'s value."""
    return ",".join(sign(s, body) for s in secrets_)


def signing_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets that sign a delivery at ``now``: the current one, and the
    replaced one while its overlap lasts."""
    if previous and previous_expires_at is not None and now < previous_expires_at:
        return [secret, previous]
    return [secret]


# ------------------------------------------------------------------ HTTP client

# The clients of the current ``shared_client()`` block, by what they are built from.
_shared: ContextVar[dict[tuple[bool, float], httpx.AsyncClient] | None] = ContextVar(
    "webhook_shared_clients", default=None
)


def _new_client(settings: Settings) -> httpx.AsyncClient:
    # Not ``ctx.http``: the receiver's address is checked as it is connected to.
    # A cookie a receiver sets is never stored, so a shared client sends the
    # next receiver exactly what a client of its own would.
    return httpx.AsyncClient(
        transport=net.VettedTransport(allow_private=settings.env != "prod"),
        timeout=settings.webhook_timeout_seconds,
        follow_redirects=False,
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
    )


@contextlib.asynccontextmanager
async def shared_client() -> AsyncIterator[None]:
    """Deliveries made inside this block share one client (one per ``env`` and
    timeout they are made with), so a pass of the outbox to the same receiver
    pays for one connection and TLS handshake, not one per message. The
    clients are closed when the block ends."""
    clients: dict[tuple[bool, float], httpx.AsyncClient] = {}
    token = _shared.set(clients)
    try:
        yield
    finally:
        _shared.reset(token)
        # Every client is closed, even when closing another one fails.
        async with contextlib.AsyncExitStack() as stack:
            for http in clients.values():
                stack.push_async_callback(http.aclose)


@contextlib.asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The block's shared client, or outside a block one closed after the delivery."""
    shared = _shared.get()
    if shared is None:
        async with _new_client(settings) as http:
            yield http
        return
    key = (settings.env != "prod", settings.webhook_timeout_seconds)
    if key not in shared:
        shared[key] = _new_client(settings)
    yield shared[key]


# ------------------------------------------------------------------ delivery


async def deliver(message: OutboxMessage, ctx: DeliveryContext) -> DeliveryResult:
    payload = message.payload
    async with ctx.db.session(write=False) as session:
        row = (
            await session.execute(
                select(
                    Webhook.id,
                    Webhook.url,
                    Webhook.secret,
                    Webhook.previous_secret,
                    Webhook.previous_secret_expires_at,
                    Webhook.deleted_at,
                )
                .join(ApiClient, ApiClient.id == Webhook.client_id)
                .where(
                    Webhook.id == payload["webhook_id"],
                    ApiClient.revoked_at.is_(None),
                    or_(ApiClient.expires_at.is_(None), ApiClient.expires_at > clock.now()),
                )
            )
        ).first()
    if row is None or row.deleted_at is not None:
        raise PermanentDelivery("webhook 已删除，或接入方的 API Key 已吊销或过期")
    hook = _Target(id=row.id, url=row.url, secret=row.secret)
    signers = signing_secrets(
        row.secret, row.previous_secret, row.previous_secret_expires_at, clock.now()
    )
    if row.previous_secret is not None and len(signers) == 1:
        async with ctx.db.session(write=True) as session:
            await forget_expired_secrets(session, hook.id)
            await session.commit()
    body = json.dumps(
        {
            "id": message.delivery_id,
            "event": payload["event"],
            "created_at": payload["created_at"],
            "data": payload["data"],
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    problem = shape_problem(hook.url)
    if problem is not None:
        await _log(ctx, hook, message, None, problem, 0)
        raise PermanentDelivery(problem)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "ejiaren-webhooks/1",
        SIGNATURE_HEADER: signature_header(signers, body),
        DELIVERY_HEADER: message.delivery_id,
        EVENT_HEADER: payload["event"],
    }
    started = time.monotonic()
    try:
        async with _client(ctx.settings) as http:
            response = await http.post(hook.url, content=body, headers=headers)
    except net.AddressRefused as exc:
        log.warning("webhook %s not delivered: %s", hook.id, exc)
        await _log(ctx, hook, message, None, PRIVATE_PROBLEM, _ms(started))
        raise PermanentDelivery(PRIVATE_PROBLEM) from None
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        await _log(ctx, hook, message, None, error, _ms(started))
        raise RetryableDelivery(error) from exc
    status = response.status_code
    if 200 <= status < 300:
        await _log(ctx, hook, message, status, None, _ms(started))
        return DeliveryResult({"status_code": status})
    error = f"HTTP {status}"
    await _log(ctx, hook, message, status, error, _ms(started))
    if status >= 500 or status in _RETRY_STATUSES:
        raise RetryableDelivery(error, retry_after=_retry_after(response))
    raise PermanentDelivery(error)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


@dataclass(frozen=True)
class _Target:
    id: int
    url: str
    secret: str


async def _log(
    ctx: DeliveryContext,
    hook: _Target,
    message: OutboxMessage,
    status: int | None,
    error: str | None,
    duration_ms: int,
) -> None:
    async with ctx.db.session(write=True) as session:
        session.add(
            WebhookDelivery(
                webhook_id=hook.id,
                delivery_id=message.delivery_id,
                event=message.payload["event"],
                attempt=message.attempts,
                status_code=status,
                error=error,
                duration_ms=duration_ms,
                created_at=clock.now(),
            )
        )
        await session.commit()


register_handler(KIND, deliver)
