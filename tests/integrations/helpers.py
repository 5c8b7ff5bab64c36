"""Factories for third-party tests: API clients with a known key."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.integrations.models import ApiClient
from app.integrations.service import CLIENT_USER_KIND, hash_key, new_key
from app.org.models import Region
from app.users.models import User

ALL_SCOPES = ("reports:read", "reports:write", "stats:read", "policies:read", "services:read")


async def make_api_client(
    session: AsyncSession,
    region: Region,
    scopes: Iterable[str] = ALL_SCOPES,
    *,
    name: str = "12345 热线平台",
) -> tuple[ApiClient, str]:
    """A client over ``region`` and its key in clear."""
    user = User(kind=CLIENT_USER_KIND, nickname=name, name=name)
    session.add(user)
    await session.flush()
    key, prefix = new_key()
    client = ApiClient(
        name=name,
        key_prefix=prefix,
        key_hash=hash_key(key),
        scopes=sorted(set(scopes)),
        region_id=region.id,
        user_id=user.id,
        created_at=clock.now(),
    )
    session.add(client)
    await session.flush()
    return client, key


def key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}
