from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.reports.models import Category
from tests.users.helpers import DEPARTMENTS, make_department, make_world


async def test_community_admin_creates_department(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.post(
        DEPARTMENTS,
        json={
            "name": " 城市管理局 ",
            "region_id": w.tree.community.id,
            "category_codes": ["environment", "fume_noise", "environment"],
        },
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["name"] == "城市管理局"
    assert body["region_id"] == w.tree.community.id
    assert body["category_codes"] == ["environment", "fume_noise"]
    assert isinstance(body["id"], int)

    r = await client.get(f"{DEPARTMENTS}/{body['id']}", headers=w.as_(w.community_admin))
    assert r.status_code == 200
    assert r.json()["name"] == "城市管理局"


async def test_duplicate_name_in_region_is_409_but_other_region_is_fine(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    await make_department(session, w.tree.community, "供电所")
    headers = w.as_(w.street_admin)
    r = await client.post(
        DEPARTMENTS,
        json={"name": "供电所", "region_id": w.tree.community.id, "category_codes": []},
        headers=headers,
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "department.name_taken"
    r = await client.post(
        DEPARTMENTS,
        json={"name": "供电所", "region_id": w.tree.other_community.id, "category_codes": []},
        headers=headers,
    )
    assert r.status_code == 201


@pytest.mark.parametrize(
    "codes",
    [
        ["City"],  # upper case
        ["a" * 33],  # too long
        [""],  # empty
        ["有中文"],
        [f"c{i}" for i in range(51)],  # too many
        "noise",  # not a list
    ],
)
async def test_bad_category_codes_are_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, codes: object
) -> None:
    w = await make_world(session, settings)
    r = await client.post(
        DEPARTMENTS,
        json={"name": "住建局", "region_id": w.tree.community.id, "category_codes": codes},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


async def test_a_code_no_category_has_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """A typo would leave the department silently receiving no cases."""
    w = await make_world(session, settings)
    r = await client.post(
        DEPARTMENTS,
        json={
            "name": "城管局",
            "region_id": w.tree.community.id,
            "category_codes": ["environment", "enviroment", "nope"],
        },
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "department.unknown_category"
    assert error["details"] == {"category_codes": ["enviroment", "nope"]}
    assert "enviroment" in error["message"]


async def test_fifty_codes_of_32_chars_are_accepted(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    codes = [f"{i:02d}" + "x" * 30 for i in range(50)]
    session.add_all(Category(code=code, name=f"类别{code[:2]}") for code in codes)
    await session.flush()
    r = await client.post(
        DEPARTMENTS,
        json={"name": "住建局", "region_id": w.tree.community.id, "category_codes": codes},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 201, r.text
    assert r.json()["category_codes"] == codes


async def test_department_cannot_sit_on_a_grid(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    r = await client.post(
        DEPARTMENTS,
        json={"name": "网格站", "region_id": w.tree.grid.id, "category_codes": []},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "department.bad_level"


async def test_create_outside_scope(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    body = {"name": "水务站", "region_id": w.tree.other_community.id, "category_codes": []}
    r = await client.post(DEPARTMENTS, json=body, headers=w.as_(w.community_admin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    # A region id that does not exist answers the same.
    missing = {**body, "region_id": w.tree.far_grid.id + 10_000}
    r = await client.post(DEPARTMENTS, json=missing, headers=w.as_(w.community_admin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    # Above the community admin, inside the street admin's subtree.
    body["region_id"] = w.tree.street.id
    r = await client.post(DEPARTMENTS, json=body, headers=w.as_(w.community_admin))
    assert r.status_code == 404
    r = await client.post(DEPARTMENTS, json=body, headers=w.as_(w.street_admin))
    assert r.status_code == 201


async def test_only_admins(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    body = {"name": "水务站", "region_id": w.tree.community.id, "category_codes": []}
    r = await client.post(DEPARTMENTS, json=body)
    assert r.status_code == 401
    r = await client.get(DEPARTMENTS)
    assert r.status_code == 401
    for user in (w.worker, w.resident):
        r = await client.post(DEPARTMENTS, json=body, headers=w.as_(user))
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "auth.admin_only"
        r = await client.get(DEPARTMENTS, headers=w.as_(user))
        assert r.status_code == 403


async def test_list_is_scoped_and_filtered(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    mine = await make_department(session, w.tree.community, "社区甲工作站")
    theirs = await make_department(session, w.tree.other_community, "社区乙工作站")
    street = await make_department(session, w.tree.street, "街道城管中队")

    def ids(r: httpx.Response) -> list[int]:
        assert r.status_code == 200, r.text
        return [d["id"] for d in r.json()["items"]]

    r = await client.get(DEPARTMENTS, headers=w.as_(w.community_admin))
    assert ids(r) == [mine.id]
    assert r.json()["next_cursor"] is None
    r = await client.get(DEPARTMENTS, headers=w.as_(w.street_admin))
    assert ids(r) == [street.id, theirs.id, mine.id]
    r = await client.get(
        DEPARTMENTS,
        params={"region_id": w.tree.other_community.id},
        headers=w.as_(w.street_admin),
    )
    assert ids(r) == [theirs.id]
    r = await client.get(DEPARTMENTS, headers=w.as_(w.superadmin))
    assert {street.id, theirs.id, mine.id} <= set(ids(r))

    # Another community's region, or a department there, does not exist for this admin.
    r = await client.get(
        DEPARTMENTS,
        params={"region_id": w.tree.other_community.id},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    r = await client.get(f"{DEPARTMENTS}/{theirs.id}", headers=w.as_(w.community_admin))
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "department.not_found"
    r = await client.get(f"{DEPARTMENTS}/{theirs.id}", headers=w.as_(w.street_admin))
    assert r.status_code == 200


async def test_list_pages(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w = await make_world(session, settings)
    made = [await make_department(session, w.tree.community, f"部门{i}") for i in range(5)]
    headers = w.as_(w.community_admin)
    seen: list[int] = []
    cursor = None
    for _ in range(3):
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get(DEPARTMENTS, params=params, headers=headers)
        assert r.status_code == 200
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
    assert cursor is None
    assert seen == [d.id for d in reversed(made)]

    r = await client.get(DEPARTMENTS, params={"limit": 101}, headers=headers)
    assert r.status_code == 422
    r = await client.get(DEPARTMENTS, params={"cursor": "not-a-cursor"}, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "pagination.bad_cursor"
