"""Content security on the other texts a resident writes on their case (DESIGN
§8): the rating comment and the reopen reason go through WeChat's
``msg_sec_check`` like the description. The fake flags ``违禁`` as risky and
``待审`` for review."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _resolved(client: httpx.AsyncClient, world: World) -> int:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    worker = world.h(world.worker)
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "resolve", {"note": "已清运"})
    assert r.status_code == 200, r.text
    return rid  # type: ignore[no-any-return]


def _checked(app: FastAPI) -> list[Any]:
    return [
        q.body["content"] for q in app.state.wechat.fake.requests if q.path == "/wxa/msg_sec_check"
    ]


async def _as_author(client: httpx.AsyncClient, world: World, rid: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.resident))
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("rating", {"score": "unsatisfied", "comment": "这是违禁内容"}),
        ("reopen", {"reason": "这是违禁内容"}),
    ],
)
async def test_risky_text_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, world: World, app: FastAPI, action: str, body: dict[str, Any]
) -> None:
    rid = await _resolved(client, world)
    r = await act(client, world.h(world.resident), rid, action, body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "content.risky"
    assert _checked(app)[-1] == "这是违禁内容"
    case = await _as_author(client, world, rid)
    assert case["status"] == "resolved"
    assert (case["rating"], case["reopen_count"]) == (None, 0)
    assert [e["type"] for e in case["timeline"]][-1] == "resolved"


async def test_text_held_for_review_is_accepted(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    rid = await _resolved(client, world)
    resident = world.h(world.resident)
    r = await act(client, resident, rid, "rating", {"score": "unsatisfied", "comment": "需要待审"})
    assert r.status_code == 200, r.text
    assert r.json()["rating"]["comment"] == "需要待审"
    r = await act(client, resident, rid, "reopen", {"reason": "问题待审后又出现"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    assert _checked(app)[-2:] == ["需要待审", "问题待审后又出现"]


async def test_wechat_down_accepts_the_text(
    client: httpx.AsyncClient, world: World, app: FastAPI
) -> None:
    rid = await _resolved(client, world)
    app.state.wechat.fake.fail_next(1, http_status=500, path="/wxa/msg_sec_check")
    r = await act(
        client, world.h(world.resident), rid, "rating", {"score": "satisfied", "comment": "很及时"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("rating", {"score": "unsatisfied", "comment": "别人的诉求我也评一下"}),
        ("reopen", {"reason": "别人的诉求我也要重办"}),
    ],
)
async def test_no_wechat_call_for_a_case_that_is_not_the_callers(
    client: httpx.AsyncClient, world: World, app: FastAPI, action: str, body: dict[str, Any]
) -> None:
    """Guessing ids must not spend the service's content-security quota: the
    case is found (and is the caller's) before the text goes to WeChat."""
    rid = await _resolved(client, world)
    before = len(_checked(app))
    for case_id in (rid, rid + 100_000):
        r = await act(client, world.h(world.other_resident), case_id, action, body)
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "report.not_found"
    assert len(_checked(app)) == before
