"""Following a case (关注): the list of cases a resident follows, and the case
a resident's report was marked a duplicate of, which they then follow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.reports.models import Category, ReportFollow
from app.users.models import Membership
from tests.factories import auth, make_user
from tests.integrations.helpers import make_api_client
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _following(
    client: httpx.AsyncClient, headers: dict[str, str], **params: str | int | None
) -> dict[str, Any]:
    r = await client.get("/api/v1/reports/following", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def _reject_as_duplicate(
    client: httpx.AsyncClient, world: World, duplicate: int, original: int
) -> None:
    body = {"reason": "与已受理的诉求重复", "duplicate_of": original}
    r = await act(client, world.h(world.community_admin), duplicate, "reject", body)
    assert r.status_code == 200, r.text


async def test_a_duplicate_s_reporter_follows_the_original(
    client: httpx.AsyncClient, world: World
) -> None:
    original = await submit(
        client, world.h(world.resident), location=wgs(IN_GRID), address="沁水湾小区3号楼"
    )
    duplicate = await submit(client, world.h(world.other_resident), location=wgs(IN_GRID))
    original_id, duplicate_id = original.json()["id"], duplicate.json()["id"]
    other = world.h(world.other_resident)
    assert (await client.get(f"/api/v1/reports/{original_id}", headers=other)).status_code == 404
    assert (await _following(client, other))["items"] == []

    await _reject_as_duplicate(client, world, duplicate_id, original_id)

    listed = (await _following(client, other))["items"]
    assert [item["id"] for item in listed] == [original_id]
    assert listed[0]["address"] is None  # a follower's view
    r = await client.get(f"/api/v1/reports/{original_id}", headers=other)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dispatched"
    # The progress of the original is what they now follow.
    assert (await act(client, world.h(world.worker), original_id, "accept")).status_code == 200
    listed = (await _following(client, other, status="in_progress"))["items"]
    assert [item["id"] for item in listed] == [original_id]
    assert (await _following(client, other, status="dispatched"))["items"] == []
    # Their own rejected case stays theirs, not followed.
    mine = await client.get("/api/v1/reports/mine", headers=other)
    assert [item["id"] for item in mine.json()["items"]] == [duplicate_id]


async def test_a_resident_s_own_duplicate_follows_nothing(
    client: httpx.AsyncClient, world: World
) -> None:
    resident = world.h(world.resident)
    first = (await submit(client, resident, location=wgs(IN_GRID))).json()["id"]
    second = (await submit(client, resident, location=wgs(IN_GRID))).json()["id"]
    await _reject_as_duplicate(client, world, second, first)
    assert (await _following(client, resident))["items"] == []


async def test_a_duplicate_of_a_private_category_follows_nothing(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    """邻里纠纷 made private by the admins: a resident may not follow it, so a
    duplicate does not open it to them either."""
    await session.execute(update(Category).where(Category.code == "neighbour").values(public=False))
    await session.flush()
    fields = {"category": "neighbour", "location": wgs(IN_GRID)}
    original = (await submit(client, world.h(world.resident), **fields)).json()["id"]
    duplicate = (await submit(client, world.h(world.other_resident), **fields)).json()["id"]
    await _reject_as_duplicate(client, world, duplicate, original)
    other = world.h(world.other_resident)
    assert (await _following(client, other))["items"] == []
    assert (await client.get(f"/api/v1/reports/{original}", headers=other)).status_code == 404


async def test_the_following_list_pages_and_forgets_an_unfollowed_case(
    client: httpx.AsyncClient, world: World
) -> None:
    ids = [
        (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
        for _ in range(3)
    ]
    other = world.h(world.other_resident)
    for rid in ids:
        r = await client.post(f"/api/v1/reports/{rid}/follow", headers=other)
        assert r.status_code == 200, r.text
    first = await _following(client, other, limit=2)
    assert [item["id"] for item in first["items"]] == [ids[2], ids[1]]
    second = await _following(client, other, limit=2, cursor=first["next_cursor"])
    assert [item["id"] for item in second["items"]] == [ids[0]]
    assert second["next_cursor"] is None

    r = await client.delete(f"/api/v1/reports/{ids[1]}/follow", headers=other)
    assert r.status_code == 204, r.text
    assert [i["id"] for i in (await _following(client, other))["items"]] == [ids[2], ids[0]]
    # Nobody else's follows show.
    assert (await _following(client, world.h(world.resident)))["items"] == []


async def test_the_following_list_needs_a_login(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/reports/following")
    assert r.status_code == 401
    assert r.json()["error"]["code"]


async def test_a_case_joining_another_brings_its_duplicates_and_followers(
    client: httpx.AsyncClient, world: World, session: AsyncSession, settings: Settings
) -> None:
    """B was the original of C and followed by D; B then turns out to duplicate
    A: C now points at A, and C's and D's residents follow A."""
    third = await make_user(session, name="王居民")
    fourth = await make_user(session, name="赵居民")
    a = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    b = (await submit(client, world.h(world.other_resident), location=wgs(IN_GRID))).json()["id"]
    c = (await submit(client, auth(settings, third), location=wgs(IN_GRID))).json()["id"]
    r = await client.post(f"/api/v1/reports/{b}/follow", headers=auth(settings, fourth))
    assert r.status_code == 200, r.text
    await _reject_as_duplicate(client, world, c, b)
    await _reject_as_duplicate(client, world, b, a)

    r = await client.get(f"/api/v1/reports/{c}", headers=auth(settings, third))
    assert r.json()["duplicate_of"] == a
    for resident in (world.other_resident, third, fourth):
        listed = (await _following(client, auth(settings, resident)))["items"]
        assert a in [item["id"] for item in listed], resident.name


@pytest.mark.parametrize(
    ("kind", "category"), [("errand", "errand"), ("consultation", "consultation")]
)
async def test_a_consultation_or_an_errand_is_never_shown_to_other_residents(
    client: httpx.AsyncClient, world: World, session: AsyncSession, kind: str, category: str
) -> None:
    """They name a resident's family, address and documents: not nearby, not
    followable (even by id), and a follow left from before opens nothing."""
    here = wgs(IN_GRID)
    body = "家中老人独居，请帮忙代缴本月水电费，住沁水湾3号楼2单元501"
    r = await submit(
        client,
        world.h(world.resident),
        kind=kind,
        category=category,
        description=body,
        location=here,
    )
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    other = world.h(world.other_resident)
    r = await client.get(
        "/api/v1/reports/nearby",
        headers=other,
        params={"lat": here["lat"], "lng": here["lng"], "coord": "wgs84", "category": category},
    )
    assert r.status_code == 200, r.text
    assert r.json()["items"] == []
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=other)
    assert r.status_code == 404, r.text

    session.add(ReportFollow(report_id=rid, user_id=world.other_resident.id))
    await session.flush()
    assert (await client.get(f"/api/v1/reports/{rid}", headers=other)).status_code == 404
    assert (await _following(client, other))["items"] == []


async def test_an_errand_under_a_category_made_an_issue_stays_private(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    """The case's own kind counts, not only its category's: a category whose
    kind an admin changed (before that was refused) does not open the errands
    filed under it, and a refused follow never answers with the staff view."""
    here = wgs(IN_GRID)
    r = await submit(
        client,
        world.h(world.resident),
        kind="errand",
        category="errand",
        description="请帮忙代缴水电费，住3号楼501",
        location=here,
    )
    rid = r.json()["id"]
    await session.execute(update(Category).where(Category.code == "errand").values(kind="issue"))
    await session.flush()
    other = world.h(world.other_resident)
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=other)
    assert r.status_code == 404, r.text
    assert "address" not in r.text
    r = await client.get(
        "/api/v1/reports/nearby",
        headers=other,
        params={"lat": here["lat"], "lng": here["lng"], "coord": "wgs84", "category": "errand"},
    )
    assert r.json()["items"] == []


async def test_a_category_with_cases_keeps_its_kind(
    client: httpx.AsyncClient, world: World, session: AsyncSession, settings: Settings
) -> None:
    root = await make_user(session, kind="staff", name="系统管理员")
    session.add(Membership(user_id=root.id, role="superadmin", region_id=None))
    await session.flush()
    r = await client.patch(
        "/api/v1/admin/categories/errand", json={"kind": "issue"}, headers=auth(settings, root)
    )
    assert r.status_code == 200, r.text  # no case yet
    r = await client.patch(
        "/api/v1/admin/categories/errand", json={"kind": "errand"}, headers=auth(settings, root)
    )
    assert r.status_code == 200, r.text
    r = await submit(client, world.h(world.resident), kind="errand", category="errand")
    assert r.status_code == 201, r.text
    r = await client.patch(
        "/api/v1/admin/categories/errand", json={"kind": "issue"}, headers=auth(settings, root)
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "category.kind_in_use"
    r = await client.patch(
        "/api/v1/admin/categories/errand", json={"name": "代办服务"}, headers=auth(settings, root)
    )
    assert r.status_code == 200, r.text


async def test_who_a_merged_case_brings_along_follows_only_as_they_could(
    client: httpx.AsyncClient, world: World, session: AsyncSession, settings: Settings
) -> None:
    """Residents only (not an integrator's account, not a deleted one), and
    only to a case they could follow: an open one."""
    deleted = await make_user(session, name="已注销")
    _, key = await make_api_client(session, world.tree.community)
    original = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()
    merged = (await submit(client, world.h(world.other_resident), location=wgs(IN_GRID))).json()
    r = await client.post(f"/api/v1/reports/{merged['id']}/follow", headers=auth(settings, deleted))
    assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/reports",
        headers={"X-API-Key": key},
        json={
            "kind": "issue",
            "category": "environment",
            "description": "热线转来：小区门口垃圾堆积",
            "location": wgs(IN_GRID),
        },
    )
    assert r.status_code == 201, r.text
    from_key = r.json()["id"]
    assert (await client.delete("/api/v1/me", headers=auth(settings, deleted))).status_code == 204
    await _reject_as_duplicate(client, world, from_key, merged["id"])
    await _reject_as_duplicate(client, world, merged["id"], original["id"])
    follows = set(
        await session.scalars(
            select(ReportFollow.user_id).where(ReportFollow.report_id == original["id"])
        )
    )
    assert follows == {world.other_resident.id}
    # The merged case is finished: nobody follows it any more.
    assert not list(
        await session.scalars(
            select(ReportFollow.user_id).where(ReportFollow.report_id == merged["id"])
        )
    )

    # A duplicate of a case already resolved: its reporter is not made to follow it.
    worker = world.h(world.worker)
    assert (await act(client, worker, original["id"], "accept")).status_code == 200
    assert (
        await act(client, worker, original["id"], "resolve", {"note": "已清运"})
    ).status_code == 200
    third = await make_user(session)
    late = (await submit(client, auth(settings, third), location=wgs(IN_GRID))).json()
    await _reject_as_duplicate(client, world, late["id"], original["id"])
    assert third.id not in set(
        await session.scalars(
            select(ReportFollow.user_id).where(ReportFollow.report_id == original["id"])
        )
    )


@pytest.mark.parametrize(
    "params",
    [{"status": "lost"}, {"limit": "0"}, {"limit": "abc"}, {"cursor": "not-a-cursor"}],
)
async def test_bad_input_to_the_following_list_is_a_422(
    client: httpx.AsyncClient, world: World, params: dict[str, str]
) -> None:
    r = await client.get(
        "/api/v1/reports/following", headers=world.h(world.other_resident), params=params
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] and error["message"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"])  # a Chinese message
