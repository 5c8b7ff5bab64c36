"""Webhooks: report events for a client's region, signed and delivered through
the outbox (DESIGN §9). This module is the admin side — creating, listing,
rotating and deleting webhooks, their delivery log — and the checks both sides
share; events are queued by ``webhook_events`` and sent by ``webhook_delivery``.

- The listener runs inside the transaction that changed the case and only
  writes outbox rows (kind ``webhook``), so a rolled-back change sends nothing.
- The handler posts ``{"id", "event", "created_at", "data"}`` with
  ``X-Ejiaren-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` and the
  delivery id (also the body's ``id``, the same on every retry); each attempt
  is written to the delivery log. 2xx is done; 408, 429, 5xx and network errors
  are retried with the outbox's back-off; any other answer is final.
- In ``prod`` a URL whose host resolves to a loopback, private, link-local or
  otherwise non-public address is refused when the webhook is created, and
  each delivery connects only to an address checked in the same step as it was
  resolved (``net.VettedTransport``): a name that answers differently later
  (DNS rebinding) cannot reach a private address. Redirects are not followed.
- Rotating the secret keeps the old one signing for an overlap (0–168 hours):
  the header then holds ``sha256=<new>,sha256=<old>``, so a receiver that
  knows either secret finds a match and can switch without missing a
  delivery. Past the overlap only the new secret signs, and the old one is
  cleared (at the next delivery, and by the worker's purge).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import clock, net
from app.core.errors import Invalid, NotFound
from app.core.pagination import Page, cursor_id, id_page
from app.integrations import service as clients
from app.integrations.models import Webhook, WebhookDelivery
from app.integrations.schemas import (
    DeliveryRead,
    SecretRotate,
    SecretRotated,
    WebhookCreate,
    WebhookRead,
)

log = logging.getLogger("ejiaren.webhooks")

KIND = "webhook"


# ------------------------------------------------------------------ SSRF


def shape_problem(url: str) -> str | None:
    """What rules ``url`` out whatever it resolves to, or None. Whatever passes
    has a scheme, a host and a port that ``urlsplit`` reads without an error."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "地址中不能包含空白或控制字符"
    try:
        parts = urlsplit(url)
        hostname, _ = parts.hostname, parts.port  # each raises on a malformed URL
    except ValueError:
        return "地址格式不正确"
    if parts.scheme not in ("http", "https") or not hostname:
        return "地址须为 http(s) URL"
    if parts.username or parts.password:
        return "地址中不能包含用户名或密码"
    return None


PRIVATE_PROBLEM = "该地址指向内网或本机，不允许"


async def url_problem(url: str, *, env: str) -> str | None:
    """Why ``url`` may not receive webhooks, or None. Outside ``prod`` any
    http(s) URL is allowed (local receivers in development and tests). Only a
    first answer for the admin: deliveries check again as they connect."""
    problem = shape_problem(url)
    if problem is not None or env != "prod":
        return problem
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await net.vetted_addresses(parts.hostname, port, allow_private=False)
    except net.AddressRefused:
        return PRIVATE_PROBLEM
    except OSError:
        return "无法解析该地址的主机名"
    return None


# ------------------------------------------------------------------ admin side


def webhook_not_found() -> NotFound:
    return NotFound("webhook.not_found", "Webhook 不存在")


def webhook_read(hook: Webhook) -> WebhookRead:
    return WebhookRead(
        id=hook.id, url=hook.url, events=list(hook.events), created_at=hook.created_at
    )


async def create_webhook(
    session: AsyncSession, *, principal: Principal, client_id: int, body: WebhookCreate, env: str
) -> tuple[Webhook, str]:
    client, _ = await clients.get_client(session, principal=principal, client_id=client_id)
    if client.revoked_at is not None:
        raise Invalid("api_client.revoked", "该接入方的 Key 已吊销")
    if "reports:read" not in client.scopes:
        raise Invalid("webhook.scope_required", "接收诉求事件需要 reports:read 权限")
    problem = await url_problem(body.url, env=env)
    if problem is not None:
        raise Invalid("webhook.url_not_allowed", problem, details={"url": body.url})
    # Checked again under the client's row lock (``revoke_client`` takes it too),
    # taken only now so the address lookup above never holds it: a revocation
    # that committed meanwhile is seen, one still running waits for us. The
    # foreign key alone would not do: its KEY SHARE lock lets the revocation's
    # UPDATE through.
    client, _ = await clients.get_client(
        session, principal=principal, client_id=client_id, lock=True
    )
    if client.revoked_at is not None:
        raise Invalid("api_client.revoked", "该接入方的 Key 已吊销")
    secret = secrets.token_hex(32)
    hook = Webhook(
        client_id=client.id,
        url=body.url,
        events=list(body.events),
        secret=secret,
        created_at=clock.now(),
    )
    session.add(hook)
    await session.flush()
    return hook, secret


async def list_webhooks(
    session: AsyncSession, *, principal: Principal, client_id: int
) -> list[Webhook]:
    await clients.get_client(session, principal=principal, client_id=client_id)
    stmt = (
        select(Webhook)
        .where(Webhook.client_id == client_id, Webhook.deleted_at.is_(None))
        .order_by(Webhook.id.desc())
    )
    return list(await session.scalars(stmt))


async def get_webhook(
    session: AsyncSession, *, principal: Principal, client_id: int, webhook_id: int
) -> Webhook:
    await clients.get_client(session, principal=principal, client_id=client_id)
    hook = await session.get(Webhook, webhook_id)
    if hook is None or hook.client_id != client_id:
        raise webhook_not_found()
    return hook


async def rotate_secret(
    session: AsyncSession,
    *,
    principal: Principal,
    client_id: int,
    webhook_id: int,
    body: SecretRotate,
) -> SecretRotated:
    """A new secret for a live webhook; the current one keeps signing for
    ``overlap_hours``. A rotation during an overlap replaces the older secret
    at once: only the last two are ever valid. The answer is the only time the
    new secret is returned. The client's row is locked first, as for a
    revocation, so a secret is never issued for a key revoked at that moment;
    then the webhook's (PostgreSQL), so of two rotations at once the second
    replaces the first's secret, never its own."""
    client, _ = await clients.get_client(
        session, principal=principal, client_id=client_id, lock=True
    )
    hook = await session.scalar(
        select(Webhook)
        .where(Webhook.id == webhook_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if hook is None or hook.client_id != client_id or hook.deleted_at is not None:
        raise webhook_not_found()
    if client.revoked_at is not None:
        raise Invalid("api_client.revoked", "该接入方的 Key 已吊销")
    now = clock.now()
    until = now + timedelta(hours=body.overlap_hours)
    secret = secrets.token_hex(32)
    if body.overlap_hours > 0:
        hook.previous_secret = hook.secret
        hook.previous_secret_expires_at = until
    else:
        hook.previous_secret = None
        hook.previous_secret_expires_at = None
    hook.secret = secret
    await session.flush()
    log.info(
        "webhook %s secret rotated by user %s, old secret valid until %s",
        hook.id,
        principal.id,
        until.isoformat(),
    )
    return SecretRotated(
        id=hook.id, secret=secret, rotated_at=now, previous_secret_expires_at=until
    )


async def forget_expired_secrets(session: AsyncSession, webhook_id: int | None = None) -> int:
    """Clear replaced secrets whose overlap is over: of every webhook (the
    worker's pass) or of one (a delivery that found it expired). One that a
    rotation renewed in the meantime is left alone."""
    stmt = (
        update(Webhook)
        .where(
            Webhook.previous_secret_expires_at.is_not(None),
            Webhook.previous_secret_expires_at <= clock.now(),
        )
        .values(previous_secret=None, previous_secret_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if webhook_id is not None:
        stmt = stmt.where(Webhook.id == webhook_id)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_webhook(
    session: AsyncSession, *, principal: Principal, client_id: int, webhook_id: int
) -> None:
    hook = await get_webhook(
        session, principal=principal, client_id=client_id, webhook_id=webhook_id
    )
    if hook.deleted_at is None:
        hook.deleted_at = clock.now()
    await session.flush()


async def list_deliveries(
    session: AsyncSession,
    *,
    principal: Principal,
    client_id: int,
    webhook_id: int,
    cursor: str | None,
    limit: int,
) -> Page[DeliveryRead]:
    await get_webhook(session, principal=principal, client_id=client_id, webhook_id=webhook_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    last = cursor_id(cursor)
    if last is not None:
        stmt = stmt.where(WebhookDelivery.id < last)
    rows = list(await session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))
    return id_page(
        rows,
        limit,
        lambda d: DeliveryRead(
            id=d.id,
            delivery_id=d.delivery_id,
            event=d.event,
            attempt=d.attempt,
            status_code=d.status_code,
            error=d.error,
            duration_ms=d.duration_ms,
            at=d.created_at,
        ),
    )
