"""GET /services, /services/categories, /services/{id}; GET, POST /admin/services
and PATCH /admin/services/{id}."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.convenience.helpers import World, make_service, make_world

SERVICES = "/api/v1/services"
ADMIN = "/api/v1/admin/services"

BODY: dict[str, Any] = {
    "name": "城乡居民养老保险待遇资格认证",
    "category": "社会保障",
    "description": "领取城乡居民养老金的老人每年认证一次。",
    "materials": ["本人身份证", "社会保障卡"],
    "where": "街道党群服务中心一楼 3 号窗口",
    "hours": "工作日 08:30–17:30",
    "phone": "0391-5551234",
    "bookable": True,
    "errand": True,
}


@pytest.fixture
async def w(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


# ---------------------------------------------------------------- public


async def test_public_list_search_and_filters(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    pension = await make_service(session, w.tree.street, name="养老保险资格认证")
    medical = await make_service(
        session,
        w.tree.community,
        name="医保参保登记",
        category="医疗保障",
        description="城乡居民基本医疗保险参保、续保",
    )
    other = await make_service(
        session,
        w.tree.other_community,
        name="残疾人证办理",
        category="残疾人服务",
        description="新办、换领残疾人证",
    )
    hidden = await make_service(session, None, name="已下架的养老事项", active=False)

    r = await client.get(SERVICES)  # no login
    assert r.status_code == 200, r.text
    ids = [i["id"] for i in r.json()["items"]]
    assert ids[:3] == [other.id, medical.id, pension.id]  # newest first
    assert hidden.id not in ids

    r = await client.get(SERVICES, params={"q": "养老"})
    assert [i["id"] for i in r.json()["items"]] == [pension.id]
    # Description and category match too; every term must match.
    r = await client.get(SERVICES, params={"q": "基本医疗"})
    assert [i["id"] for i in r.json()["items"]] == [medical.id]
    r = await client.get(SERVICES, params={"q": "医保 续保"})
    assert [i["id"] for i in r.json()["items"]] == [medical.id]
    r = await client.get(SERVICES, params={"q": "医保 养老"})
    assert r.json()["items"] == []
    # LIKE wildcards are literal text.
    r = await client.get(SERVICES, params={"q": "%"})
    assert r.status_code == 200 and r.json()["items"] == []
    r = await client.get(SERVICES, params={"category": "医疗保障"})
    assert [i["id"] for i in r.json()["items"]] == [medical.id]

    # In the first community: global and street services and its own, not the neighbour's.
    r = await client.get(SERVICES, params={"region_id": w.tree.grid.id})
    ids = [i["id"] for i in r.json()["items"]]
    assert pension.id in ids and medical.id in ids and other.id not in ids


async def test_public_list_pages(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    made = [
        await make_service(session, w.tree.street, name=f"事项{i}", category="翻页")
        for i in range(5)
    ]
    r = await client.get(SERVICES, params={"category": "翻页", "limit": 2})
    first = r.json()
    assert [i["id"] for i in first["items"]] == [made[4].id, made[3].id]
    r = await client.get(
        SERVICES, params={"category": "翻页", "limit": 2, "cursor": first["next_cursor"]}
    )
    assert [i["id"] for i in r.json()["items"]] == [made[2].id, made[1].id]
    r = await client.get(SERVICES, params={"limit": 101})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


async def test_public_list_bad_input(client: httpx.AsyncClient, w: World) -> None:
    r = await client.get(SERVICES, params={"q": "长" * 101})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.get(SERVICES, params={"region_id": 99999999})
    assert r.status_code == 404 and r.json()["error"]["code"] == "region.not_found"
    r = await client.get(SERVICES, params={"cursor": "!!"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "pagination.bad_cursor"


async def test_categories(client: httpx.AsyncClient, session: AsyncSession, w: World) -> None:
    await make_service(session, w.tree.street, category="分类甲")
    await make_service(session, w.tree.street, category="分类甲")
    await make_service(session, w.tree.street, category="分类乙")
    await make_service(session, w.tree.street, category="分类丙", active=False)
    r = await client.get(f"{SERVICES}/categories")
    assert r.status_code == 200, r.text
    counts = {i["category"]: i["count"] for i in r.json()["items"]}
    assert counts["分类甲"] == 2 and counts["分类乙"] == 1 and "分类丙" not in counts
    assert r.json()["next_cursor"] is None


async def test_detail(client: httpx.AsyncClient, session: AsyncSession, w: World) -> None:
    service = await make_service(session, w.tree.street)
    r = await client.get(f"{SERVICES}/{service.id}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == service.name
    assert body["materials"] == ["身份证"]
    assert body["where"] == "党群服务中心"
    assert body["created_at"].endswith("+08:00")
    withdrawn = await make_service(session, w.tree.street, active=False)
    for sid in (withdrawn.id, 99999999):
        r = await client.get(f"{SERVICES}/{sid}")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "service.not_found"
    r = await client.get(f"{SERVICES}/abc")
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


# ---------------------------------------------------------------- admin


async def test_create_in_own_region_by_default(client: httpx.AsyncClient, w: World) -> None:
    r = await client.post(ADMIN, json=BODY, headers=w.h(w.community_admin))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["region_id"] == w.tree.community.id
    assert {k: body[k] for k in BODY} == BODY
    assert body["active"] is True
    r = await client.get(f"{SERVICES}/{body['id']}")
    assert r.status_code == 200


async def test_create_with_region_and_everywhere(client: httpx.AsyncClient, w: World) -> None:
    r = await client.post(
        ADMIN, json={**BODY, "region_id": w.tree.grid.id}, headers=w.h(w.street_admin)
    )
    assert r.status_code == 201, r.text
    assert r.json()["region_id"] == w.tree.grid.id
    # A superadmin who names no region makes a service for everywhere.
    r = await client.post(ADMIN, json=BODY, headers=w.h(w.superadmin))
    assert r.status_code == 201, r.text
    assert r.json()["region_id"] is None


async def test_create_outside_scope_is_404(client: httpx.AsyncClient, w: World) -> None:
    r = await client.post(
        ADMIN, json={**BODY, "region_id": w.tree.other_community.id}, headers=w.h(w.community_admin)
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"


async def test_admin_of_two_regions_must_choose(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    from tests.factories import grant

    await grant(session, w.community_admin, "community_admin", w.tree.other_community)
    r = await client.post(ADMIN, json=BODY, headers=w.h(w.community_admin))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "region.required"
    r = await client.post(
        ADMIN, json={**BODY, "region_id": w.tree.other_community.id}, headers=w.h(w.community_admin)
    )
    assert r.status_code == 201


async def test_create_needs_an_admin(client: httpx.AsyncClient, w: World) -> None:
    r = await client.post(ADMIN, json=BODY)
    assert r.status_code == 401
    for user in (w.resident, w.worker):
        r = await client.post(ADMIN, json=BODY, headers=w.h(user))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "auth.admin_only"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "名" * 65}, "name"),
        ({"category": None}, "category"),
        ({"materials": ["身份证", ""]}, "materials.1"),
        ({"materials": ["材料"] * 31}, "materials"),
        ({"bookable": "maybe"}, "bookable"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_create_bad_input(
    client: httpx.AsyncClient, w: World, change: dict[str, Any], field: str
) -> None:
    r = await client.post(ADMIN, json={**BODY, **change}, headers=w.h(w.community_admin))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [f["field"] for f in error["details"]["fields"]]


async def test_create_is_idempotent(client: httpx.AsyncClient, w: World) -> None:
    headers = {**w.h(w.community_admin), "Idempotency-Key": "svc-1"}
    first = await client.post(ADMIN, json=BODY, headers=headers)
    again = await client.post(ADMIN, json=BODY, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    other = await client.post(ADMIN, json={**BODY, "name": "另一个"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency.key_reused"


async def test_patch(client: httpx.AsyncClient, session: AsyncSession, w: World) -> None:
    service = await make_service(session, w.tree.community)
    url = f"{ADMIN}/{service.id}"
    r = await client.patch(
        url,
        json={"name": "新名称", "where": "社区服务站", "phone": None, "errand": True},
        headers=w.h(w.community_admin),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["where"], body["phone"], body["errand"]) == (
        "新名称",
        "社区服务站",
        None,
        True,
    )
    assert body["category"] == "社会保障"  # untouched

    # Withdrawn: gone from the public catalogue, still in the admin list.
    r = await client.patch(url, json={"active": False}, headers=w.h(w.street_admin))
    assert r.status_code == 200 and r.json()["active"] is False
    assert (await client.get(f"{SERVICES}/{service.id}")).status_code == 404
    r = await client.get(ADMIN, params={"active": False}, headers=w.h(w.community_admin))
    assert service.id in [i["id"] for i in r.json()["items"]]


async def test_patch_scope_role_and_input(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    service = await make_service(session, w.tree.community)
    everywhere = await make_service(session, None)
    url = f"{ADMIN}/{service.id}"
    r = await client.patch(url, json={"name": "x"}, headers=w.h(w.other_community_admin))
    assert r.status_code == 404 and r.json()["error"]["code"] == "service.not_found"
    # Only a superadmin manages a service for everywhere.
    r = await client.patch(
        f"{ADMIN}/{everywhere.id}", json={"name": "x"}, headers=w.h(w.street_admin)
    )
    assert r.status_code == 404
    r = await client.patch(
        f"{ADMIN}/{everywhere.id}", json={"name": "x"}, headers=w.h(w.superadmin)
    )
    assert r.status_code == 200
    r = await client.patch(url, json={"name": "x"}, headers=w.h(w.resident))
    assert r.status_code == 403
    r = await client.patch(url, json={"name": "x"})
    assert r.status_code == 401
    r = await client.patch(url, json={"name": None}, headers=w.h(w.community_admin))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.patch(
        url, json={"region_id": w.tree.other_community.id}, headers=w.h(w.community_admin)
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "region.not_found"


async def test_admin_list_is_scoped(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    mine = await make_service(session, w.tree.grid)
    theirs = await make_service(session, w.tree.other_community)
    everywhere = await make_service(session, None)
    r = await client.get(ADMIN, headers=w.h(w.community_admin))
    assert r.status_code == 200, r.text
    ids = [i["id"] for i in r.json()["items"]]
    assert mine.id in ids and theirs.id not in ids and everywhere.id not in ids
    r = await client.get(ADMIN, headers=w.h(w.superadmin))
    ids = [i["id"] for i in r.json()["items"]]
    assert {mine.id, theirs.id, everywhere.id} <= set(ids)
    assert (await client.get(ADMIN, headers=w.h(w.worker))).status_code == 403
    assert (await client.get(ADMIN)).status_code == 401


async def test_search_folds_width_and_case(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    ct = await make_service(
        session, w.tree.street, name="CT检查预约", category="医疗卫生", description="社区卫生服务站"
    )
    for q in ("ｃｔ", "ct", "CT检查", "  ct  "):
        r = await client.get(SERVICES, params={"q": q, "category": "医疗卫生"})
        assert [i["id"] for i in r.json()["items"]] == [ct.id], q
    # A blank query is no filter at all.
    r = await client.get(SERVICES, params={"q": "   ", "category": "医疗卫生"})
    assert [i["id"] for i in r.json()["items"]] == [ct.id]
