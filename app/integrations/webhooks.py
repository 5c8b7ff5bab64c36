"""Webhooks: report events for a client's region, signed and delivered through
the outbox (DESIGN §9).

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

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core import clock, net
from app.core.errors import Invalid, NotFound
from app.core.pagination import Page, cursor_id, id_page
from app.core.rawsql import Raw, json_value
from app.integrations import service as clients
from app.integrations.models import ApiClient, Webhook, WebhookDelivery
from app.integrations.schemas import (
    DeliveryRead,
    SecretRotate,
    SecretRotated,
    WebhookCreate,
    WebhookRead,
)
from app.outbox import listeners
from app.outbox.errors import PermanentDelivery, RetryableDelivery
from app.outbox.models import OutboxMessage
from app.outbox.registry import DeliveryContext, DeliveryResult, register_handler
from app.outbox.service import enqueue
from app.reports.models import Category, Report, ReportEvent
from app.reports.service import report_number

log = logging.getLogger("ejiaren.webhooks")

KIND = "webhook"
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


# ------------------------------------------------------------------ SSRF


def _shape_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "地址须为 http(s) URL"
    if parts.username or parts.password:
        return "地址中不能包含用户名或密码"
    return None


_PRIVATE_PROBLEM = "该地址指向内网或本机，不允许"


async def url_problem(url: str, *, env: str) -> str | None:
    """Why ``url`` may not receive webhooks, or None. Outside ``prod`` any
    http(s) URL is allowed (local receivers in development and tests). Only a
    first answer for the admin: deliveries check again as they connect."""
    problem = _shape_problem(url)
    if problem is not None or env != "prod":
        return problem
    parts = urlsplit(url)
    assert parts.hostname is not None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        await net.vetted_addresses(parts.hostname, port, allow_private=False)
    except net.AddressRefused:
        return _PRIVATE_PROBLEM
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
    new secret is returned. The row is locked (PostgreSQL), so of two
    rotations at once the second replaces the first's secret, never its own."""
    client, _ = await clients.get_client(session, principal=principal, client_id=client_id)
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


# ------------------------------------------------------------------ events → outbox


_HOOKS_KEY = "ejiaren_live_webhooks"


def event_names(event: ReportEvent) -> list[str]:
    names = []
    if event.type == "created":
        names.append("report.created")
    if event.type == "dispatched":
        names.append("report.dispatched")
    if event.type == "rated":
        names.append("report.rated")
    if event.to_status and event.from_status and event.to_status != event.from_status:
        names.append("report.status_changed")
    return names


async def on_report_event(session: AsyncSession, report: Report, event: ReportEvent) -> None:
    """Queue one message per matching webhook: live, of a live client whose
    region holds the case, subscribed to the event."""
    names = event_names(event)
    if not names:
        return
    hooks = [h for h in await _live_hooks(session) if report.region_path.startswith(h["path"])]
    if not hooks:
        return
    data = await _event_data(session, report, event)
    for hook in hooks:
        events = json_value(hook["events"])
        for name in names:
            if name in events:
                await enqueue(
                    session,
                    kind=KIND,
                    target=hook["url"],
                    payload={
                        "webhook_id": hook["id"],
                        "event": name,
                        "created_at": event.created_at.isoformat(),
                        "data": data,
                    },
                )


async def _live_hooks(session: AsyncSession) -> list[Any]:
    """Live webhooks of live clients (not revoked, key not expired), with their
    client's region path. Read on
    every case event, so through ``Raw``, and once per transaction (a new case
    has two events)."""
    raw = await Raw.of(session)
    cached = session.info.get(_HOOKS_KEY)
    if cached is not None and cached[0] is raw:
        return cached[1]  # type: ignore[no-any-return]
    rows = await raw.fetch(
        "SELECT w.id, w.url, w.events, r.path FROM webhook w"
        " JOIN api_client c ON c.id = w.client_id JOIN region r ON r.id = c.region_id"
        " WHERE w.deleted_at IS NULL AND c.revoked_at IS NULL"
        " AND (c.expires_at IS NULL OR c.expires_at > $1)",
        clock.now(),
    )
    session.info[_HOOKS_KEY] = (raw, rows)
    return rows


async def _event_data(session: AsyncSession, report: Report, event: ReportEvent) -> dict[str, Any]:
    """The case as an integrator may know it, without residents' personal data
    (they read the rest with GET /reports/{id})."""
    category = await session.get(Category, report.category_id)
    return {
        "report": {
            "id": report.id,
            "number": report_number(report),
            "kind": report.kind,
            "category": category.code if category else None,
            "status": report.status,
            "grid_id": report.grid_id,
            "created_at": report.created_at.isoformat(),
            "response_due_at": report.response_due_at.isoformat()
            if report.response_due_at
            else None,
            "resolve_due_at": report.resolve_due_at.isoformat() if report.resolve_due_at else None,
            "rating": report.rating_score,
        },
        "event": {
            "id": event.id,
            "type": event.type,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "at": event.created_at.isoformat(),
        },
    }


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
    problem = _shape_problem(hook.url)
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
        # Not ``ctx.http``: the receiver's address is checked as it is connected to.
        async with httpx.AsyncClient(
            transport=net.VettedTransport(allow_private=ctx.settings.env != "prod"),
            timeout=ctx.settings.webhook_timeout_seconds,
            follow_redirects=False,
        ) as http:
            response = await http.post(hook.url, content=body, headers=headers)
    except net.AddressRefused as exc:
        log.warning("webhook %s not delivered: %s", hook.id, exc)
        await _log(ctx, hook, message, None, _PRIVATE_PROBLEM, _ms(started))
        raise PermanentDelivery(_PRIVATE_PROBLEM) from None
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
listeners.listen(on_report_event)
