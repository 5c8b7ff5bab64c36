"""Content security on submitted text, through the fake WeChat server."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.reports.models import Report
from app.reports.moderation import recheck_pending
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def test_risky_text_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    r = await submit(client, world.h(world.resident), description="这里有违禁内容的描述")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "content.risky"
    count = await session.scalar(
        select(func.count()).select_from(Report).where(Report.reporter_id == world.resident.id)
    )
    assert count == 0


async def test_review_text_is_hidden_from_followers_until_cleared(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    r = await submit(
        client,
        world.h(world.resident),
        description="这段文字需要待审处理一下",
        location=wgs(IN_GRID),
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["moderation"] == "review"
    assert report["description"] == "这段文字需要待审处理一下"  # the author sees it
    sent = [q for q in app.state.wechat.fake.requests if q.path == "/wxa/msg_sec_check"]
    assert sent[-1].body["openid"] == world.resident.openid
    assert sent[-1].body["version"] == 2

    other = world.h(world.other_resident)
    r = await client.post(f"/api/v1/reports/{report['id']}/follow", headers=other)
    assert r.json()["description"] == "（内容审核中）"
    staff = await client.get(f"/api/v1/reports/{report['id']}", headers=world.h(world.worker))
    assert staff.json()["description"] == "这段文字需要待审处理一下"

    r = await client.post(
        f"/api/v1/admin/reports/{report['id']}/review",
        json={"approve": True},
        headers=world.h(world.worker),
    )
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/admin/reports/{report['id']}/review",
        json={"approve": True},
        headers=world.h(world.community_admin),
    )
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/reports/{report['id']}", headers=other)
    assert r.json()["description"] == "这段文字需要待审处理一下"


async def test_wechat_down_accepts_then_checks_later(
    client: httpx.AsyncClient, world: World, app: FastAPI, session: AsyncSession
) -> None:
    app.state.wechat.fake.fail_next(1, http_status=500, path="/wxa/msg_sec_check")
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["moderation"] == "pending"
    assert await recheck_pending(app.state.db, app.state.wechat) >= 1
    report = await session.get(Report, r.json()["id"])
    assert report is not None
    await session.refresh(report)
    assert report.moderation == "pass"


async def test_staff_text_is_not_sent_to_wechat(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    before = len(app.state.wechat.fake.requests)
    r = await submit(
        client,
        world.h(world.worker),
        location=wgs(IN_GRID),
        description="巡查发现井盖缺失，需尽快处理",
    )
    assert r.status_code == 201, r.text
    assert len(app.state.wechat.fake.requests) == before
