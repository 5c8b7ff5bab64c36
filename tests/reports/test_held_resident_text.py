"""Content security kept for the rating comment and the reopen reason (DESIGN
§8): text held for review, or not yet checked because WeChat was down, is read
only by its author and the staff; an API key reads the placeholder, a follower
none of it. The background recheck and an admin's review release it. The fake
WeChat flags ``待审`` for review and ``违禁`` as risky."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.reports.moderation import recheck_pending
from tests.integrations.helpers import key_header, make_api_client
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs

HIDDEN = "（内容审核中）"
COMMENT = "处理得还行但是待审一下"
REASON = "问题待审后又出现了"


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


@pytest.fixture
async def key(session: AsyncSession, world: World) -> dict[str, str]:
    _, clear = await make_api_client(session, world.tree.community, ["reports:read"])
    return key_header(clear)


async def _followed_and_resolved(client: httpx.AsyncClient, world: World) -> int:
    """A case the other resident follows, resolved by its grid worker."""
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid: int = r.json()["id"]
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=world.h(world.other_resident))
    assert r.status_code == 200, r.text
    worker = world.h(world.worker)
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "resolve", {"note": "已清运"})
    assert r.status_code == 200, r.text
    return rid


async def _read(client: httpx.AsyncClient, headers: dict[str, str], rid: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/reports/{rid}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _note(case: dict[str, Any], event_type: str) -> Any:
    return [e["note"] for e in case["timeline"] if e["type"] == event_type][-1]


def _event(case: dict[str, Any], event_type: str) -> dict[str, Any]:
    return [e for e in case["timeline"] if e["type"] == event_type][-1]  # type: ignore[no-any-return]


async def test_rating_comment_held_for_review_is_for_author_and_staff_only(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    r = await act(
        client, world.h(world.resident), rid, "rating", {"score": "satisfied", "comment": COMMENT}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rating"]["comment"] == COMMENT
    assert r.json()["rating"]["moderation"] == "review"

    for reader in (world.resident, world.worker, world.community_admin):
        case = await _read(client, world.h(reader), rid)
        assert case["rating"]["comment"] == COMMENT
        assert _note(case, "rated") == COMMENT

    case = await _read(client, key, rid)
    assert case["rating"]["comment"] == HIDDEN
    assert case["rating"]["moderation"] == "review"
    assert _note(case, "rated") == HIDDEN
    assert _event(case, "rated")["moderation"] == "review"
    assert COMMENT not in str(case)

    case = await _read(client, world.h(world.other_resident), rid)  # a follower
    assert case["rating"]["comment"] is None
    assert _note(case, "rated") is None
    assert COMMENT not in str(case)
    # Nor whether the resident's text was held.
    assert case["rating"]["moderation"] is None
    assert _event(case, "rated")["moderation"] == "pass"


async def test_approved_text_and_staff_notes_stay_readable(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    r = await act(
        client, world.h(world.resident), rid, "rating", {"score": "satisfied", "comment": "很及时"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rating"]["moderation"] == "pass"
    case = await _read(client, key, rid)
    assert case["rating"]["comment"] == "很及时"
    assert _note(case, "rated") == "很及时"
    assert _note(case, "resolved") == "已清运"
    assert {e["moderation"] for e in case["timeline"]} == {"pass"}


async def test_a_new_rating_replaces_the_held_comment(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    resident = world.h(world.resident)
    r = await act(client, resident, rid, "rating", {"score": "satisfied", "comment": COMMENT})
    assert r.status_code == 200, r.text
    r = await act(client, resident, rid, "reopen", {"reason": "又堆起来了"})
    assert r.status_code == 200, r.text
    r = await act(client, world.h(world.worker), rid, "resolve", {"note": "再次清运"})
    assert r.status_code == 200, r.text
    r = await act(client, resident, rid, "rating", {"score": "unsatisfied"})
    assert r.status_code == 200, r.text
    assert r.json()["rating"] == {**r.json()["rating"], "comment": None, "moderation": None}
    case = await _read(client, key, rid)
    assert case["rating"]["comment"] is None
    assert [e["note"] for e in case["timeline"] if e["type"] == "rated"] == [HIDDEN, None]
    assert _note(case, "reopened") == "又堆起来了"


async def test_pending_rating_comment_is_rechecked_then_shown(
    client: httpx.AsyncClient, world: World, app: FastAPI, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    app.state.wechat.fake.fail_next(1, http_status=500, path="/wxa/msg_sec_check")
    r = await act(
        client, world.h(world.resident), rid, "rating", {"score": "satisfied", "comment": "很及时"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rating"]["moderation"] == "pending"
    case = await _read(client, key, rid)
    assert (case["rating"]["comment"], _note(case, "rated")) == (HIDDEN, HIDDEN)
    assert (await _read(client, world.h(world.worker), rid))["rating"]["comment"] == "很及时"

    assert await recheck_pending(app.state.db, app.state.wechat) >= 1
    case = await _read(client, key, rid)
    assert case["rating"]["moderation"] == "pass"
    assert (case["rating"]["comment"], _note(case, "rated")) == ("很及时", "很及时")
    assert await recheck_pending(app.state.db, app.state.wechat) == 0


async def test_pending_text_found_risky_on_recheck_stays_hidden(
    client: httpx.AsyncClient, world: World, app: FastAPI, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    resident = world.h(world.resident)
    app.state.wechat.fake.fail_next(2, http_status=500, path="/wxa/msg_sec_check")
    r = await act(client, resident, rid, "rating", {"score": "satisfied", "comment": "违禁评价"})
    assert r.status_code == 200, r.text
    r = await act(client, resident, rid, "reopen", {"reason": "违禁原因"})
    assert r.status_code == 200, r.text
    assert _event(r.json(), "reopened")["moderation"] == "pending"

    assert await recheck_pending(app.state.db, app.state.wechat) >= 2
    case = await _read(client, key, rid)
    assert case["rating"]["moderation"] == "blocked"
    assert case["rating"]["comment"] == HIDDEN
    assert (_note(case, "rated"), _note(case, "reopened")) == (HIDDEN, HIDDEN)
    assert _event(case, "reopened")["moderation"] == "blocked"
    assert "违禁" not in str(case)
    # As a blocked description: its author and the staff still read it.
    case = await _read(client, world.h(world.worker), rid)
    assert (case["rating"]["comment"], _note(case, "reopened")) == ("违禁评价", "违禁原因")


async def test_recheck_waits_while_wechat_is_still_down(
    client: httpx.AsyncClient, world: World, app: FastAPI, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    app.state.wechat.fake.fail_next(1, http_status=500, path="/wxa/msg_sec_check")
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": "又堆起来了"})
    assert r.status_code == 200, r.text
    app.state.wechat.fake.fail_next(1, http_status=500, path="/wxa/msg_sec_check")
    assert await recheck_pending(app.state.db, app.state.wechat) == 0
    assert _note(await _read(client, key, rid), "reopened") == HIDDEN
    assert await recheck_pending(app.state.db, app.state.wechat) == 1
    assert _note(await _read(client, key, rid), "reopened") == "又堆起来了"


async def test_reopen_reason_held_for_review_in_the_timeline(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": REASON})
    assert r.status_code == 200, r.text
    assert _note(r.json(), "reopened") == REASON
    assert _event(r.json(), "reopened")["moderation"] == "review"

    for reader in (world.resident, world.worker):
        assert _note(await _read(client, world.h(reader), rid), "reopened") == REASON
    case = await _read(client, key, rid)
    assert _note(case, "reopened") == HIDDEN
    assert _note(case, "resolved") == "已清运"  # the worker's note is not held
    assert REASON not in str(case)
    case = await _read(client, world.h(world.other_resident), rid)
    assert _note(case, "reopened") is None
    assert _event(case, "reopened")["moderation"] == "pass"
    assert REASON not in str(case)


async def test_admin_review_releases_the_held_text_of_the_case(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    resident = world.h(world.resident)
    r = await act(client, resident, rid, "rating", {"score": "unsatisfied", "comment": COMMENT})
    assert r.status_code == 200, r.text
    r = await act(client, resident, rid, "reopen", {"reason": REASON})
    assert r.status_code == 200, r.text
    assert r.json()["moderation"] == "pass"  # the description itself was never held

    review = f"/api/v1/admin/reports/{rid}/review"
    r = await client.post(review, json={"approve": True}, headers=world.h(world.worker))
    assert r.status_code == 403, r.text
    r = await client.post(review, json={"approve": True}, headers=world.h(world.community_admin))
    assert r.status_code == 200, r.text
    assert r.json()["rating"]["moderation"] == "pass"
    reviewed = _event(r.json(), "reviewed")
    assert reviewed["data"]["approved"] is True

    case = await _read(client, key, rid)
    assert case["rating"]["comment"] == COMMENT
    assert (_note(case, "rated"), _note(case, "reopened")) == (COMMENT, REASON)

    r = await client.post(review, json={"approve": True}, headers=world.h(world.community_admin))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "report.not_under_review"


async def test_admin_review_can_keep_held_text_hidden(
    client: httpx.AsyncClient, world: World, key: dict[str, str]
) -> None:
    rid = await _followed_and_resolved(client, world)
    r = await act(client, world.h(world.resident), rid, "reopen", {"reason": REASON})
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/admin/reports/{rid}/review",
        json={"approve": False},
        headers=world.h(world.community_admin),
    )
    assert r.status_code == 200, r.text
    assert _event(r.json(), "reopened")["moderation"] == "blocked"
    assert _note(await _read(client, key, rid), "reopened") == HIDDEN
    assert _note(await _read(client, world.h(world.worker), rid), "reopened") == REASON
