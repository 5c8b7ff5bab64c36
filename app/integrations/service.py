"""API clients: keys for third parties (DESIGN §9, §11).

A key is ``ejk_<8 hex>_<43 random characters>``: 256 random bits, so a plain
SHA-256 of it is a safe thing to store (no password stretching needed), and
the lookup is one indexed equality. ``ejk_<8 hex>`` is kept in clear to tell
keys apart in lists.

Keys are managed by superadmins and district admins, for regions inside their
own scope. Each client gets a system account (``user_account.kind =
'api_client'``), the reporter of the cases it files.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, timedelta

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ApiClientRef, Grant, Principal
from app.core import clock
from app.core.errors import Invalid, NotFound, Unauthorized
from app.core.masking import mask_name
from app.core.pagination import Page, cursor_id, id_page
from app.core.ratelimit import Rate
from app.core.settings import Settings
from app.integrations.models import ApiClient
from app.integrations.schemas import ApiClientCreate, ApiClientRead, RegionBrief
from app.org.models import Region
from app.privacy.service import DELETED_NICKNAME
from app.reports.models import Report
from app.reports.schemas import ReportRead
from app.users.models import User

KEY_LABEL = "ejk_"
CLIENT_USER_KIND = "api_client"
MANAGER_ROLES = frozenset({"superadmin", "district_admin"})
TOUCH_EVERY = timedelta(seconds=60)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh key and its display prefix."""
    prefix = f"{KEY_LABEL}{secrets.token_hex(4)}"
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


def client_not_found() -> NotFound:
    return NotFound("api_client.not_found", "接入方不存在")


def client_read(client: ApiClient, region: Region) -> ApiClientRead:
    return ApiClientRead(
        id=client.id,
        name=client.name,
        key_prefix=client.key_prefix,
        scopes=list(client.scopes),
        region=RegionBrief(id=region.id, name=region.name, level=region.level),
        created_at=client.created_at,
        last_used_at=client.last_used_at,
        revoked_at=client.revoked_at,
        expires_at=client.expires_at,
    )


async def create_client(
    session: AsyncSession, *, principal: Principal, body: ApiClientCreate
) -> tuple[ApiClient, Region, str]:
    """The new client, its region and its key (the only time the key exists in clear)."""
    region = await session.get(Region, body.region_id)
    if region is None or not principal.covers(region.path, roles=MANAGER_ROLES):
        raise NotFound("region.not_found", "区划不存在", details={"region_id": body.region_id})
    if body.expires_at is not None and body.expires_at <= clock.now():
        raise Invalid(
            "api_key.expiry_in_past",
            "过期时间须晚于现在",
            details={"expires_at": body.expires_at.isoformat()},
        )
    user = User(kind=CLIENT_USER_KIND, nickname=body.name, name=body.name)
    session.add(user)
    await session.flush()
    key, prefix = new_key()
    client = ApiClient(
        name=body.name,
        key_prefix=prefix,
        key_hash=hash_key(key),
        scopes=list(body.scopes),
        region_id=region.id,
        user_id=user.id,
        created_by=principal.id,
        created_at=clock.now(),
        expires_at=body.expires_at.astimezone(UTC) if body.expires_at else None,
    )
    session.add(client)
    await session.flush()
    return client, region, key


async def list_clients(
    session: AsyncSession, *, principal: Principal, cursor: str | None, limit: int
) -> Page[ApiClientRead]:
    stmt = (
        select(ApiClient, Region)
        .join(Region, Region.id == ApiClient.region_id)
        .where(principal.region_clause(Region.path, roles=MANAGER_ROLES))
    )
    last = cursor_id(cursor)
    if last is not None:
        stmt = stmt.where(ApiClient.id < last)
    rows = (await session.execute(stmt.order_by(ApiClient.id.desc()).limit(limit + 1))).all()
    return id_page(rows, limit, lambda row: client_read(*row), last_id=lambda row: row[0].id)


async def get_client(
    session: AsyncSession, *, principal: Principal, client_id: int, lock: bool = False
) -> tuple[ApiClient, Region]:
    """A client the caller manages; 404 otherwise, so existence never leaks.
    ``lock``: the client's row is locked ``FOR UPDATE`` (PostgreSQL; on SQLite
    a writer holds the database) and read afresh."""
    stmt = (
        select(ApiClient, Region)
        .join(Region, Region.id == ApiClient.region_id)
        .where(ApiClient.id == client_id)
    )
    if lock:
        stmt = stmt.with_for_update(of=ApiClient).execution_options(populate_existing=True)
    row = (await session.execute(stmt)).first()
    if row is None or not principal.covers(row[1].path, roles=MANAGER_ROLES):
        raise client_not_found()
    return row[0], row[1]


async def revoke_client(session: AsyncSession, *, principal: Principal, client_id: int) -> None:
    # Locked like a webhook's creation (``webhooks.create_webhook``): of the two
    # at once, either the webhook exists before the revocation or it is refused.
    client, _ = await get_client(session, principal=principal, client_id=client_id, lock=True)
    if client.revoked_at is None:
        client.revoked_at = clock.now()
    await session.flush()


async def authenticate(
    request: Request, session: AsyncSession, settings: Settings, key: str
) -> Principal:
    """The principal of ``key``: 401 when unknown or revoked, 429 over the key's rate."""
    row = (
        await session.execute(
            select(ApiClient, Region, User)
            .join(Region, Region.id == ApiClient.region_id)
            .join(User, User.id == ApiClient.user_id)
            .where(ApiClient.key_hash == hash_key(key.strip()))
        )
    ).first()
    # End the read before the side transactions below (see optional_principal).
    await session.commit()
    if row is None or row[0].revoked_at is not None:
        raise Unauthorized("api_key.invalid", "API Key 无效或已吊销")
    client, region, user = row
    if client.expires_at is not None and client.expires_at <= clock.now():
        raise Unauthorized("api_key.expired", "API Key 已过期，请联系管理员重新签发")
    await request.app.state.limiter.hit(
        f"apikey:{client.id}",
        Rate.parse(settings.rate_limit_api_key),
        code="api_key.rate_limited",
        message="API Key 调用太频繁，请稍后再试",
    )
    now = clock.now()
    if client.last_used_at is None or now - client.last_used_at >= TOUCH_EVERY:
        await _touch(request, client.id, now)
    return Principal(
        user=user,
        grants=[
            Grant(
                membership_id=0,
                role="api_client",
                region_id=region.id,
                region_path=region.path,
                region_level=region.level,
                region_name=region.name,
            )
        ],
        api_client=ApiClientRef(
            id=client.id,
            name=client.name,
            scopes=frozenset(client.scopes),
            region_id=region.id,
            region_path=region.path,
        ),
    )


async def _touch(request: Request, client_id: int, now: object) -> None:
    """Last-used time, at most once a minute per key, in its own short transaction."""
    async with request.app.state.db.session(write=True) as side:
        await side.execute(
            update(ApiClient).where(ApiClient.id == client_id).values(last_used_at=now)
        )
        await side.commit()


def check_case_region(principal: Principal, report: Report) -> None:
    """A key files cases only inside its region: one landing elsewhere (its point
    lies outside, or it has no point and waits in a queue above the region) is
    refused, and the request's transaction rolls it back. A point in no grid
    at all is outside too: only grids have boundaries, so nothing says such a
    point is in the region (it would otherwise wait in the street's queue,
    which lies inside any street- or district-level key's region)."""
    ref = principal.api_client
    if ref is None:
        return
    unplaced = report.lat is not None and report.grid_id is None
    if unplaced or not report.region_path.startswith(ref.region_path):
        raise Invalid(
            "api_key.outside_region",
            "诉求位置不在该 API Key 的区域内，请提供区域内的位置",
            details={"region_id": ref.region_id},
        )


def _masked(name: str | None) -> str | None:
    # A deleted account's placeholder names nobody: shown as it is.
    return name if name == DELETED_NICKNAME else mask_name(name)


def redact_for_client(principal: Principal, report: ReportRead) -> ReportRead:
    """What a key reads of a case filed by a resident: names masked (DESIGN §11
    keeps full names for the resident and the staff handling the case)."""
    if principal.api_client is None or report.reporter is None:
        return report
    if report.reporter.id == principal.id:
        return report
    reporter = report.reporter.model_copy(update={"name": _masked(report.reporter.name)})
    timeline = None
    if report.timeline is not None:
        timeline = [
            e.model_copy(
                update={"actor": e.actor.model_copy(update={"name": _masked(e.actor.name)})}
            )
            if e.actor is not None and e.actor.id == report.reporter.id
            else e
            for e in report.timeline
        ]
    return report.model_copy(update={"reporter": reporter, "timeline": timeline})
