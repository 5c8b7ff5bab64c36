"""The demo data behind `ejiaren serve --demo`: accounts for every role, grids,
and published policies a resident can find; seeding twice changes nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.demo import seed
from app.policies.models import Policy
from app.policies.samples import DOCS
from app.users.models import User


async def test_demo_seed_is_usable_and_repeatable(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    rows = await seed(session)
    assert {"admin", "street", "community1", "worker11", "demo-resident-1"} <= {r[0] for r in rows}
    published = select(func.count()).select_from(Policy).where(Policy.status == "published")
    assert await session.scalar(published) == len(DOCS)
    users = await session.scalar(select(func.count()).select_from(User))

    again = await seed(session)
    assert again == rows
    assert await session.scalar(published) == len(DOCS)
    assert await session.scalar(select(func.count()).select_from(User)) == users

    r = await client.get("/api/v1/policies", params={"q": "医保怎么报销"})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["title"] == "城乡居民基本医疗保险报销办法"
    r = await client.post(
        "/api/v1/auth/password/login", json={"username": "worker11", "password": "demo1234"}
    )
    assert r.status_code == 200, r.text
