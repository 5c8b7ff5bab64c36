"""End-to-end paths of a case over HTTP (the reports issue's "done when")."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.reports.helpers import (
    IN_GRID,
    IN_OTHER_GRID,
    NOWHERE,
    World,
    act,
    gcj,
    make_world,
    submit,
    upload,
    wgs,
)


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def test_photo_submit_dispatch_accept_progress_resolve_rate(
    client: httpx.AsyncClient, world: World
) -> None:
    # A resident logs in through WeChat (the built-in fake answers offline).
    r = await client.post("/api/v1/auth/wechat/login", json={"code": "lifecycle-resident"})
    assert r.status_code == 200, r.text
    resident = {"Authorization": f"Bearer {r.json()['access_token']}"}
    photo = await upload(client, resident)

    r = await submit(
        client, resident, media_ids=[photo["id"]], location=gcj(IN_GRID), address="玉溪苑3号楼"
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["status"] == "dispatched"
    assert report["grid"]["id"] == world.tree.grid.id
    assert report["assignee"]["id"] == world.worker.id
    assert report["number"].startswith("E")
    assert report["response_due_at"] is not None
    assert [m["id"] for m in report["media"]] == [photo["id"]]
    rid = report["id"]

    worker = world.h(world.worker)
    r = await act(client, worker, rid, "accept")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    assert r.json()["resolve_due_at"] is not None
    r = await act(client, worker, rid, "progress", {"note": "已联系物业安排清运"})
    assert r.status_code == 200, r.text
    r = await act(client, worker, rid, "resolve", {"note": "垃圾已清运完毕"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"

    r = await act(client, resident, rid, "rating", {"score": "satisfied", "comment": "很及时"})
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "closed"
    assert done["rating"]["score"] == "satisfied"

    r = await client.get(f"/api/v1/reports/{rid}", headers=resident)
    assert r.status_code == 200
    timeline = r.json()["timeline"]
    assert [e["type"] for e in timeline] == [
        "created",
        "dispatched",
        "accepted",
        "progress",
        "resolved",
        "rated",
    ]
    assert timeline[1]["data"]["rule"] == "grid_worker"
    assert timeline[1]["data"]["grid"]["id"] == world.tree.grid.id
    assert timeline[-1]["to_status"] == "closed"


async def test_point_in_other_grid_goes_to_that_grids_worker(
    client: httpx.AsyncClient, world: World
) -> None:
    r = await submit(client, world.h(world.resident), location=wgs(IN_OTHER_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == world.other_worker.id


async def test_no_grid_waits_for_manual_dispatch(client: httpx.AsyncClient, world: World) -> None:
    r = await submit(client, world.h(world.resident), location=wgs(NOWHERE))
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["status"] == "submitted"
    assert report["assignee"] is None
    rid = report["id"]

    admin = world.h(world.street_admin)
    r = await client.get("/api/v1/admin/reports", params={"status": "submitted"}, headers=admin)
    assert r.status_code == 200
    assert rid in [i["id"] for i in r.json()["items"]]

    r = await act(client, admin, rid, "dispatch", {"assignee_id": world.worker.id})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"
    assert r.json()["assignee"]["id"] == world.worker.id
    # The worker now finds it in their inbox.
    r = await client.get("/api/v1/worker/tasks", headers=world.h(world.worker))
    assert rid in [i["id"] for i in r.json()["items"]]


async def test_home_grid_used_when_no_location(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    world.resident.home_grid_id = world.tree.other_grid.id
    await session.flush()
    r = await submit(client, world.h(world.resident))
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == world.other_worker.id


async def test_reopen_after_unsatisfied_rating(client: httpx.AsyncClient, world: World) -> None:
    resident, worker = world.h(world.resident), world.h(world.worker)
    rid = (await submit(client, resident, location=wgs(IN_GRID))).json()["id"]
    accepted_at = (await act(client, worker, rid, "accept")).json()["accepted_at"]
    await act(client, worker, rid, "resolve", {"note": "已处理"})
    r = await act(client, resident, rid, "rating", {"score": "unsatisfied"})
    assert r.json()["status"] == "closed"

    r = await act(client, resident, rid, "reopen", {"reason": "垃圾又堆起来了"})
    assert r.status_code == 200, r.text
    again = r.json()
    assert again["status"] == "in_progress"
    assert again["assignee"]["id"] == world.worker.id
    assert again["reopen_count"] == 1
    # When the worker accepted it stays what it was: a reopen is not a late acceptance.
    assert again["accepted_at"] == accepted_at
    # Rating twice for one resolution is refused …
    r = await act(client, resident, rid, "rating", {"score": "satisfied"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "report.illegal_transition"
    # … but allowed after the next resolution; the latest rating counts.
    await act(client, worker, rid, "resolve", {"note": "已彻底清理并加装垃圾桶"})
    r = await act(client, resident, rid, "rating", {"score": "satisfied"})
    assert r.status_code == 200
    assert r.json()["rating"]["score"] == "satisfied"


async def test_illegal_transition_is_409(client: httpx.AsyncClient, world: World) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    r = await act(client, world.h(world.worker), rid, "resolve", {"note": "直接办结"})
    assert r.status_code == 409
    body = r.json()["error"]
    assert body["code"] == "report.illegal_transition"
    assert "待签收" in body["message"]


async def test_cancel_before_accept_only(client: httpx.AsyncClient, world: World) -> None:
    resident = world.h(world.resident)
    rid = (await submit(client, resident, location=wgs(IN_GRID))).json()["id"]
    r = await act(client, resident, rid, "cancel")
    assert r.status_code == 200
    assert r.json()["status"] == "cancelled"
    rid2 = (await submit(client, resident, location=wgs(IN_GRID))).json()["id"]
    await act(client, world.h(world.worker), rid2, "accept")
    r = await act(client, resident, rid2, "cancel")
    assert r.status_code == 409


async def test_return_goes_back_to_community_queue(client: httpx.AsyncClient, world: World) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    r = await act(client, world.h(world.worker), rid, "return", {"reason": "不属于本网格"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "submitted"
    assert r.json()["assignee"] is None
    r = await client.get(
        "/api/v1/admin/reports",
        params={"status": "submitted"},
        headers=world.h(world.community_admin),
    )
    assert rid in [i["id"] for i in r.json()["items"]]


async def test_escalate_then_community_admin_accepts(
    client: httpx.AsyncClient, world: World
) -> None:
    worker = world.h(world.worker)
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    await act(client, worker, rid, "accept")
    r = await act(client, worker, rid, "escalate", {"reason": "需多部门联动", "to": "community"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "escalated"
    # Another community's admin may not take it; this community's admin may.
    r = await act(client, world.h(world.other_community_admin), rid, "accept")
    assert r.status_code == 404
    r = await act(client, world.h(world.community_admin), rid, "accept")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    assert r.json()["assignee"]["id"] == world.community_admin.id


async def test_extension_needs_approval_one_level_up(
    client: httpx.AsyncClient, world: World
) -> None:
    worker = world.h(world.worker)
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    accepted = (await act(client, worker, rid, "accept")).json()
    r = await act(client, worker, rid, "extension", {"hours": 24, "reason": "等待配件"})
    assert r.status_code == 200, r.text
    ext_id = r.json()["pending_extension"]["id"]
    # The grid leader is not one level up from a grid worker's case for approval.
    r = await act(
        client, world.h(world.leader), rid, f"extension/{ext_id}/decision", {"approve": True}
    )
    assert r.status_code == 403
    r = await act(
        client,
        world.h(world.community_admin),
        rid,
        f"extension/{ext_id}/decision",
        {"approve": True},
    )
    assert r.status_code == 200, r.text
    from datetime import datetime, timedelta

    before = datetime.fromisoformat(accepted["resolve_due_at"])
    after = datetime.fromisoformat(r.json()["resolve_due_at"])
    assert after - before == timedelta(hours=24)


async def test_transfer_keeps_status(client: httpx.AsyncClient, world: World) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    r = await act(
        client,
        world.h(world.worker),
        rid,
        "transfer",
        {"assignee_id": world.leader.id, "reason": "网格长亲自处理"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"
    assert r.json()["assignee"]["id"] == world.leader.id
    # Not to someone outside the caller's scope.
    r = await act(
        client,
        world.h(world.leader),
        rid,
        "transfer",
        {"assignee_id": world.far_worker.id, "reason": "转给别的社区"},
    )
    assert r.status_code == 404


async def test_reject_as_duplicate(client: httpx.AsyncClient, world: World) -> None:
    resident = world.h(world.resident)
    first = (await submit(client, resident, location=wgs(IN_GRID))).json()["id"]
    second = (await submit(client, resident, location=wgs(IN_GRID))).json()["id"]
    r = await act(
        client,
        world.h(world.community_admin),
        second,
        "reject",
        {"reason": "重复提交", "duplicate_of": first},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    assert r.json()["duplicate_of"] == first
    r = await act(client, world.h(world.worker), first, "reject", {"reason": "无效"})
    assert r.status_code == 403


async def test_sos_is_one_tap_and_leader_may_act(client: httpx.AsyncClient, world: World) -> None:
    r = await client.post(
        "/api/v1/reports",
        headers=world.h(world.resident),
        json={"kind": "sos", "category": "sos", "location": wgs(IN_GRID)},
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["assignee"]["id"] == world.worker.id
    r = await client.get(f"/api/v1/reports/{report['id']}", headers=world.h(world.resident))
    dispatched = r.json()["timeline"][1]
    assert world.leader.id in dispatched["data"]["notify"]
    r = await client.get("/api/v1/worker/tasks", headers=world.h(world.leader))
    assert report["id"] in [i["id"] for i in r.json()["items"]]
    r = await act(client, world.h(world.leader), report["id"], "accept")
    assert r.status_code == 200, r.text


async def test_consultation_answer_and_helpful(client: httpx.AsyncClient, world: World) -> None:
    resident = world.h(world.resident)
    r = await client.post(
        "/api/v1/reports",
        headers=resident,
        json={
            "kind": "consultation",
            "category": "consultation",
            "description": "高龄津贴怎么申请，需要什么材料？",
            "location": wgs(IN_GRID),
        },
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = await act(
        client,
        world.h(world.worker),
        rid,
        "answer",
        {"note": "携带身份证、户口本到社区党群服务中心办理"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "resolved"
    # Answered at once, so accepted and resolved on time: it has a deadline.
    assert r.json()["resolve_due_at"] is not None
    due, resolved = (datetime.fromisoformat(r.json()[k]) for k in ("resolve_due_at", "resolved_at"))
    assert due > resolved
    r = await act(client, resident, rid, "helpful")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"
    assert r.json()["helpful"] is True


async def test_follow_shows_public_view(client: httpx.AsyncClient, world: World) -> None:
    rid = (
        await submit(client, world.h(world.resident), location=wgs(IN_GRID), address="玉溪苑3号楼")
    ).json()["id"]
    other = world.h(world.other_resident)
    r = await client.get(
        "/api/v1/reports/nearby",
        headers=other,
        params={"lat": IN_GRID[1], "lng": IN_GRID[0], "coord": "wgs84", "category": "environment"},
    )
    assert r.status_code == 200, r.text
    assert rid in [i["id"] for i in r.json()["items"]]
    assert (await client.get(f"/api/v1/reports/{rid}", headers=other)).status_code == 404
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=other)
    assert r.status_code == 200, r.text
    public = r.json()
    assert public["reporter"] is None and public["assignee"] is None
    assert public["address"] is None
    assert all(
        e["note"] is None and (e["actor"] or {}).get("id") is None for e in public["timeline"]
    )
    assert "13912345678" not in r.text
    r = await client.delete(f"/api/v1/reports/{rid}/follow", headers=other)
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/reports/{rid}", headers=other)).status_code == 404


async def test_idempotent_submit_returns_first_result(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = {**world.h(world.resident), "Idempotency-Key": "submit-1"}
    first = await submit(client, headers, location=wgs(IN_GRID))
    again = await submit(client, headers, location=wgs(IN_GRID))
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    r = await client.get("/api/v1/reports/mine", headers=world.h(world.resident))
    assert [i["id"] for i in r.json()["items"]] == [first.json()["id"]]
    other = await submit(client, headers, location=wgs(IN_GRID), description="另一段描述内容")
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency.key_reused"
