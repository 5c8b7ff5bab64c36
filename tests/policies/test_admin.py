"""/admin/policies: create, edit, publish and archive, by admins in their scope."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.policies.models import PolicyTag, PolicyTerm
from tests.policies.helpers import ADMIN, Callers, make_callers, policy_body, search


@pytest.fixture
async def callers(session: AsyncSession, settings: Settings) -> Callers:
    return await make_callers(session, settings)


async def create(client: httpx.AsyncClient, c: Callers, user: Any, **fields: Any) -> dict[str, Any]:
    r = await client.post(ADMIN, json=policy_body(**fields), headers=c.h(user))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_create_is_a_draft_in_the_admins_region(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    body = await create(client, callers, callers.street_admin, tags=["医保", "医保", "ＡＢ"])
    assert body["status"] == "draft"
    assert body["published_at"] is None
    assert body["region_id"] == callers.tree.street.id
    assert body["region_name"] == callers.tree.street.name
    assert body["tags"] == ["医保", "AB"]  # duplicates dropped, full-width folded
    assert body["category"] == "医疗保障"
    # A draft is not public, not even by id.
    r = await client.get(f"/api/v1/policies/{body['id']}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "policy.not_found"
    assert (await search(client, q="医保"))["items"] == []


async def test_publish_makes_it_searchable_and_archive_hides_it(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    c = callers
    pid = (await create(client, c, c.district_admin))["id"]
    r = await client.post(f"{ADMIN}/{pid}/publish", headers=c.h(c.district_admin))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "published"
    assert r.json()["published_at"] is not None
    assert [i["id"] for i in (await search(client, q="医保报销"))["items"]] == [pid]
    r = await client.get(f"/api/v1/policies/{pid}")
    assert r.status_code == 200
    assert r.json()["body"].startswith("## 一、报销范围")
    assert "status" not in r.json()

    r = await client.post(f"{ADMIN}/{pid}/archive", headers=c.h(c.district_admin))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "archived"
    assert r.json()["archived_at"] is not None
    assert (await search(client, q="医保报销"))["items"] == []
    assert (await client.get(f"/api/v1/policies/{pid}")).status_code == 404
    postings = await session.scalar(
        select(func.count()).select_from(PolicyTerm).where(PolicyTerm.policy_id == pid)
    )
    assert postings == 0


@pytest.mark.parametrize(
    ("steps", "action", "message"),
    [
        (["publish"], "publish", "该政策已发布"),
        (["publish", "archive"], "publish", "已归档的政策不能再发布"),
        (["publish", "archive"], "archive", "该政策已归档"),
        (["archive"], "archive", "该政策已归档"),
    ],
)
async def test_illegal_transitions_are_409(
    client: httpx.AsyncClient,
    callers: Callers,
    steps: list[str],
    action: str,
    message: str,
) -> None:
    c = callers
    pid = (await create(client, c, c.district_admin))["id"]
    for step in steps:
        r = await client.post(f"{ADMIN}/{pid}/{step}", headers=c.h(c.district_admin))
        assert r.status_code == 200, r.text
    r = await client.post(f"{ADMIN}/{pid}/{action}", headers=c.h(c.district_admin))
    assert r.status_code == 409
    error = r.json()["error"]
    assert error["code"] == "policy.illegal_transition"
    assert error["message"] == message
    assert error["details"]["action"] == action


async def test_a_draft_may_be_archived_without_publishing(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    pid = (await create(client, c, c.district_admin))["id"]
    r = await client.post(f"{ADMIN}/{pid}/archive", headers=c.h(c.district_admin))
    assert r.status_code == 200
    assert r.json()["published_at"] is None


async def test_patch_of_a_published_policy_is_searched_by_its_new_text(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    c = callers
    pid = (await create(client, c, c.district_admin))["id"]
    await client.post(f"{ADMIN}/{pid}/publish", headers=c.h(c.district_admin))
    r = await client.patch(
        f"{ADMIN}/{pid}",
        json={"title": "高龄津贴发放办法", "body": "年满80周岁的老人按月领取。", "tags": ["老人"]},
        headers=c.h(c.district_admin),
    )
    assert r.status_code == 200, r.text
    assert r.json()["title"] == "高龄津贴发放办法"
    assert r.json()["category"] == "医疗保障"  # unchanged
    assert (await search(client, q="报销"))["items"] == []
    items = (await search(client, q="高龄补贴"))["items"]
    assert [i["id"] for i in items] == [pid]
    assert items[0]["title_highlight"] == "<em>高龄津贴</em>发放办法"
    tags = await session.scalars(select(PolicyTag.tag).where(PolicyTag.policy_id == pid))
    assert list(tags) == ["老人"]
    assert [i["id"] for i in (await search(client, tag="老人"))["items"]] == [pid]


async def test_patch_clears_optional_fields_and_checks_dates(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    pid = (
        await create(
            client, c, c.district_admin, effective_from="2026-01-01", effective_to="2026-12-31"
        )
    )["id"]
    h = c.h(c.district_admin)
    r = await client.patch(f"{ADMIN}/{pid}", json={"issuer": None, "effective_to": None}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["issuer"] is None
    assert r.json()["effective_to"] is None
    # Only the end date given, earlier than the stored start date.
    r = await client.patch(f"{ADMIN}/{pid}", json={"effective_to": "2025-06-30"}, headers=h)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "policy.bad_dates"
    r = await client.patch(f"{ADMIN}/{pid}", json={"title": None}, headers=h)
    assert r.status_code == 422


async def test_archived_policy_cannot_be_edited(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    pid = (await create(client, c, c.district_admin))["id"]
    await client.post(f"{ADMIN}/{pid}/archive", headers=c.h(c.district_admin))
    r = await client.patch(
        f"{ADMIN}/{pid}", json={"title": "新标题"}, headers=c.h(c.district_admin)
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "policy.archived"


@pytest.mark.parametrize(
    "fields",
    [
        {"title": ""},
        {"title": "   "},
        {"title": "标" * 101},
        {"title": "第一行\n第二行"},
        {"title": "标题\x00"},
        {"body": ""},
        {"category": ""},
        {"category": "类" * 33},
        {"tags": ["标签"] * 11},
        {"tags": ["长" * 17]},
        {"tags": ["㈱" * 16]},  # 48 characters once folded
        {"effective_from": "2026-05-01", "effective_to": "2026-04-30"},
        {"effective_from": "2026-13-01"},
        {"unknown": 1},
        {"region_id": "abc"},
    ],
)
async def test_bad_input_is_422(
    client: httpx.AsyncClient, callers: Callers, fields: dict[str, Any]
) -> None:
    r = await client.post(
        ADMIN, json=policy_body(**fields), headers=callers.h(callers.district_admin)
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_missing_title_is_422(client: httpx.AsyncClient, callers: Callers) -> None:
    body = policy_body()
    del body["title"]
    r = await client.post(ADMIN, json=body, headers=callers.h(callers.district_admin))
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["field"] == "title"


async def test_region_outside_scope_is_404(client: httpx.AsyncClient, callers: Callers) -> None:
    c = callers
    r = await client.post(
        ADMIN,
        json=policy_body(region_id=c.tree.other_community.id),
        headers=c.h(c.community_admin),
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    r = await client.post(
        ADMIN, json=policy_body(region_id=987654321), headers=c.h(c.community_admin)
    )
    assert r.status_code == 404
    # A grid inside the admin's community is fine.
    r = await client.post(
        ADMIN, json=policy_body(region_id=c.tree.grid.id), headers=c.h(c.community_admin)
    )
    assert r.status_code == 201


async def test_region_wide_policies_are_for_superadmins(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    r = await client.post(ADMIN, json=policy_body(region_id=None), headers=c.h(c.district_admin))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "policy.region_required"
    body = await create(client, c, c.superadmin)
    assert body["region_id"] is None
    assert body["region_name"] is None
    # Nobody but a superadmin manages it.
    r = await client.patch(
        f"{ADMIN}/{body['id']}", json={"title": "新"}, headers=c.h(c.district_admin)
    )
    assert r.status_code == 404


async def test_admin_of_several_regions_must_say_which(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    from tests.factories import grant

    c = callers
    await grant(session, c.community_admin, "community_admin", c.tree.other_community)
    r = await client.post(ADMIN, json=policy_body(), headers=c.h(c.community_admin))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "policy.region_required"
    r = await client.post(
        ADMIN,
        json=policy_body(region_id=c.tree.other_community.id),
        headers=c.h(c.community_admin),
    )
    assert r.status_code == 201


async def test_policy_outside_scope_is_404_for_every_action(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    pid = (await create(client, c, c.community_admin))["id"]
    h = c.h(c.other_community_admin)
    for method, path, payload in [
        ("GET", f"{ADMIN}/{pid}", None),
        ("PATCH", f"{ADMIN}/{pid}", {"title": "改"}),
        ("POST", f"{ADMIN}/{pid}/publish", None),
        ("POST", f"{ADMIN}/{pid}/archive", None),
    ]:
        r = await client.request(method, path, json=payload, headers=h)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"]["code"] == "policy.not_found"
    # The street admin above both communities manages it.
    r = await client.post(f"{ADMIN}/{pid}/publish", headers=c.h(c.street_admin))
    assert r.status_code == 200
    r = await client.post(f"{ADMIN}/987654321/publish", headers=c.h(c.street_admin))
    assert r.status_code == 404


async def test_workers_and_residents_get_403_anonymous_401(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    pid = (await create(client, c, c.district_admin))["id"]
    calls = [
        ("GET", ADMIN, None),
        ("POST", ADMIN, policy_body()),
        ("GET", f"{ADMIN}/{pid}", None),
        ("PATCH", f"{ADMIN}/{pid}", {"title": "改"}),
        ("POST", f"{ADMIN}/{pid}/publish", None),
        ("POST", f"{ADMIN}/{pid}/archive", None),
    ]
    for method, path, payload in calls:
        for user in (c.worker, c.resident):
            r = await client.request(method, path, json=payload, headers=c.h(user))
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"]["code"] == "auth.admin_only"
        r = await client.request(method, path, json=payload)
        assert r.status_code == 401, (method, path)
        r = await client.request(
            method, path, json=payload, headers={"Authorization": "Bearer nonsense"}
        )
        assert r.status_code == 401, (method, path)


async def test_create_with_idempotency_key_returns_the_first_policy(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    headers = {**c.h(c.district_admin), "Idempotency-Key": "policy-create-1"}
    first = await client.post(ADMIN, json=policy_body(), headers=headers)
    again = await client.post(ADMIN, json=policy_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = await client.post(ADMIN, json=policy_body(title="另一个"), headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency.key_reused"


async def test_admin_list_shows_drafts_in_scope_newest_first(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    mine = [(await create(client, c, c.community_admin, title=f"政策{i}"))["id"] for i in range(3)]
    theirs = (await create(client, c, c.other_community_admin))["id"]
    await client.post(f"{ADMIN}/{mine[0]}/publish", headers=c.h(c.community_admin))
    r = await client.get(ADMIN, params={"limit": 2}, headers=c.h(c.community_admin))
    assert r.status_code == 200
    page = r.json()
    assert [i["id"] for i in page["items"]] == [mine[2], mine[1]]
    r = await client.get(
        ADMIN, params={"cursor": page["next_cursor"]}, headers=c.h(c.community_admin)
    )
    assert [i["id"] for i in r.json()["items"]] == [mine[0]]
    assert r.json()["next_cursor"] is None
    r = await client.get(ADMIN, params={"status": "published"}, headers=c.h(c.community_admin))
    assert [i["id"] for i in r.json()["items"]] == [mine[0]]
    r = await client.get(ADMIN, params={"q": "政策1"}, headers=c.h(c.community_admin))
    assert [i["id"] for i in r.json()["items"]] == [mine[1]]
    r = await client.get(ADMIN, headers=c.h(c.street_admin))
    assert {i["id"] for i in r.json()["items"]} == {*mine, theirs}
    r = await client.get(ADMIN, params={"status": "deleted"}, headers=c.h(c.street_admin))
    assert r.status_code == 422


async def test_moving_a_published_policy_moves_it_in_search(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    c = callers
    h = c.h(c.street_admin)
    pid = (await create(client, c, c.street_admin, region_id=c.tree.community.id))["id"]
    await client.post(f"{ADMIN}/{pid}/publish", headers=h)

    async def found_by(user: Any) -> bool:
        r = await client.get("/api/v1/policies", params={"q": "医保"}, headers=c.h(user))
        return pid in [i["id"] for i in r.json()["items"]]

    assert await found_by(c.resident) and not await found_by(c.far_resident)
    r = await client.patch(
        f"{ADMIN}/{pid}", json={"region_id": c.tree.other_community.id}, headers=h
    )
    assert r.status_code == 200, r.text
    assert await found_by(c.far_resident) and not await found_by(c.resident)
