"""GET /regions/tree."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import make_region, make_tree
from tests.org.helpers import TREE_URL


def _shape(node: dict[str, Any]) -> tuple[Any, ...]:
    return (node["id"], node["level"], tuple(_shape(c) for c in node["children"]))


async def test_the_whole_tree_is_nested_without_boundaries(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    tree = await make_tree(session)
    other_district = await make_region(session, level="district", name="孟州市")

    r = await client.get(TREE_URL)

    assert r.status_code == 200
    body = r.json()
    assert body["next_cursor"] is None
    assert [_shape(n) for n in body["items"]] == [
        (
            tree.district.id,
            "district",
            (
                (
                    tree.street.id,
                    "street",
                    (
                        (
                            tree.community.id,
                            "community",
                            ((tree.grid.id, "grid", ()), (tree.other_grid.id, "grid", ())),
                        ),
                        (tree.other_community.id, "community", ((tree.far_grid.id, "grid", ()),)),
                    ),
                ),
            ),
        ),
        (other_district.id, "district", ()),
    ]
    grid = body["items"][0]["children"][0]["children"][0]["children"][0]
    assert grid["name"] == "第一网格"
    assert "boundary" not in grid and "path" not in grid


async def test_a_subtree_starts_at_the_given_region(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    tree = await make_tree(session)

    r = await client.get(TREE_URL, params={"region_id": tree.community.id})

    assert r.status_code == 200
    (node,) = r.json()["items"]
    assert (node["id"], node["name"], node["level"]) == (
        tree.community.id,
        tree.community.name,
        "community",
    )
    assert [c["id"] for c in node["children"]] == [tree.grid.id, tree.other_grid.id]


async def test_a_grid_subtree_is_the_grid_alone(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    tree = await make_tree(session)

    r = await client.get(TREE_URL, params={"region_id": tree.far_grid.id})

    assert [_shape(n) for n in r.json()["items"]] == [(tree.far_grid.id, "grid", ())]


async def test_an_unknown_region_is_404(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await make_tree(session)

    r = await client.get(TREE_URL, params={"region_id": 987654321})

    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"


async def test_a_non_numeric_region_id_is_422(client: httpx.AsyncClient) -> None:
    r = await client.get(TREE_URL, params={"region_id": "abc"})

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


async def test_an_empty_database_gives_an_empty_list(client: httpx.AsyncClient) -> None:
    r = await client.get(TREE_URL)

    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}
