"""GET /grids/locate: which grid a point is in, and who its workers are."""

from __future__ import annotations

import math

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org import service
from app.org.geo import wgs84_to_gcj02
from app.org.locator import LocatorCache
from tests.factories import Tree, auth, make_region, make_staff, make_tree, square
from tests.org.helpers import (
    IMPORT_URL,
    LOCATE_URL,
    boundaries_changed,
    cell,
    centre,
    collection,
    feature,
    superadmin,
)

# make_tree: 第一网格 [112.90, 112.91] × [35.00, 35.01], 第二网格 east of it,
# 第三网格 (another community) east of that; ids increase in that order.


async def _locate(
    client: httpx.AsyncClient, lng: float, lat: float, coord: str | None = "wgs84"
) -> httpx.Response:
    params: dict[str, str | float] = {"lat": lat, "lng": lng}
    if coord is not None:
        params["coord"] = coord
    return await client.get(LOCATE_URL, params=params)


@pytest.fixture
async def tree(session: AsyncSession) -> Tree:
    return await make_tree(session)


async def test_a_point_inside_a_grid_names_grid_community_street_and_workers(
    client: httpx.AsyncClient, session: AsyncSession, tree: Tree
) -> None:
    leader = await make_staff(session, "grid_leader", tree.grid, name="王芳", phone="13812345678")
    worker = await make_staff(session, "grid_worker", tree.grid, name="李强", phone="13900001234")
    part = await make_staff(session, "grid_worker_part", tree.grid, name="赵敏", phone=None)
    community_leader = await make_staff(
        session, "grid_leader", tree.community, name="陈刚", phone="13700007777"
    )
    disabled = await make_staff(session, "grid_worker", tree.grid, name="离职")
    disabled.disabled = True
    await make_staff(session, "grid_worker", tree.other_grid, name="隔壁网格员")
    await make_staff(session, "community_admin", tree.community, name="社区书记")
    await make_staff(session, "grid_leader", tree.other_community, name="别的社区网格长")
    await session.flush()

    r = await _locate(client, 112.905, 35.005)

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["grid"] == {"id": tree.grid.id, "name": tree.grid.name}
    assert body["community"] == {"id": tree.community.id, "name": tree.community.name}
    assert body["street"] == {"id": tree.street.id, "name": tree.street.name}
    assert body["district"] == {"id": tree.district.id, "name": tree.district.name}
    assert body["workers"] == [
        {"id": leader.id, "name": "王芳", "role": "grid_leader", "phone_masked": "138****5678"},
        {
            "id": community_leader.id,
            "name": "陈刚",
            "role": "grid_leader",
            "phone_masked": "137****7777",
        },
        {"id": worker.id, "name": "李强", "role": "grid_worker", "phone_masked": "139****1234"},
        {"id": part.id, "name": "赵敏", "role": "grid_worker_part", "phone_masked": None},
    ]


async def test_a_person_holding_two_roles_is_listed_once_under_the_senior_one(
    client: httpx.AsyncClient, session: AsyncSession, tree: Tree
) -> None:
    from tests.factories import grant

    person = await make_staff(session, "grid_worker", tree.grid, name="双职")
    await grant(session, person, "grid_leader", tree.grid)

    r = await _locate(client, 112.905, 35.005)

    assert [(w["id"], w["role"]) for w in r.json()["workers"]] == [(person.id, "grid_leader")]


@pytest.mark.parametrize(
    ("lng", "lat", "which"),
    [
        pytest.param(112.905, 35.005, "grid", id="inside first"),
        pytest.param(112.915, 35.005, "other_grid", id="inside second"),
        pytest.param(112.925, 35.005, "far_grid", id="inside third"),
        pytest.param(112.91, 35.005, "grid", id="edge first|second: smaller id"),
        pytest.param(112.92, 35.005, "other_grid", id="edge second|third: smaller id"),
        pytest.param(112.91, 35.01, "grid", id="top corner first|second"),
        pytest.param(112.90, 35.005, "grid", id="western outer edge"),
        pytest.param(112.93, 35.00, "far_grid", id="south-east outer corner"),
    ],
)
async def test_points_inside_and_on_edges(
    client: httpx.AsyncClient, tree: Tree, lng: float, lat: float, which: str
) -> None:
    r = await _locate(client, lng, lat)

    assert r.status_code == 200, r.text
    assert r.json()["grid"]["id"] == getattr(tree, which).id


@pytest.mark.parametrize(
    ("lng", "lat"),
    [(112.95, 35.005), (112.905, 35.02), (112.8999, 35.005), (116.40, 39.91)],
    ids=["east", "north", "just west", "beijing"],
)
async def test_a_point_outside_every_grid_is_404(
    client: httpx.AsyncClient, tree: Tree, lng: float, lat: float
) -> None:
    r = await _locate(client, lng, lat)

    assert r.status_code == 404
    error = r.json()["error"]
    assert error["code"] == "grid.not_found"
    assert "网格" in error["message"]


async def test_gcj02_input_is_converted_before_locating(
    client: httpx.AsyncClient, tree: Tree
) -> None:
    # The middle of 第一网格 in WGS-84 reads about 560 m further east in GCJ-02,
    # which is inside 第二网格 if taken as WGS-84.
    gcj_lng, gcj_lat = wgs84_to_gcj02(112.905, 35.005)

    as_gcj = await _locate(client, gcj_lng, gcj_lat, coord="gcj02")
    by_default = await _locate(client, gcj_lng, gcj_lat, coord=None)
    as_wgs = await _locate(client, gcj_lng, gcj_lat, coord="wgs84")

    assert as_gcj.json()["grid"]["id"] == tree.grid.id
    assert by_default.json()["grid"]["id"] == tree.grid.id
    assert as_wgs.json()["grid"]["id"] == tree.other_grid.id


@pytest.mark.parametrize(
    "params",
    [
        {"lat": 35.005, "lng": 112.905, "coord": "bd09"},
        {"lat": 35.005, "lng": 112.905, "coord": ""},
        {"lng": 112.905},
        {"lat": "north", "lng": 112.905},
    ],
    ids=["bd09", "empty coord", "no lat", "lat not a number"],
)
async def test_bad_parameters_are_422(
    client: httpx.AsyncClient, tree: Tree, params: dict[str, object]
) -> None:
    r = await client.get(LOCATE_URL, params=params)  # type: ignore[arg-type]

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    ("lng", "lat"),
    [(151.21, -33.87), (35.005, 112.905), (0.0, 0.0), (112.905, 95.0), (math.nan, 35.0)],
    ids=["sydney", "swapped", "null island", "lat over 90", "nan"],
)
async def test_a_point_outside_china_is_422(
    client: httpx.AsyncClient, tree: Tree, lng: float, lat: float
) -> None:
    r = await _locate(client, lng, lat, coord="gcj02")

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "geo.outside_china"


async def test_the_index_is_rebuilt_when_the_boundary_stamp_changes(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession, tree: Tree
) -> None:
    assert (await _locate(client, 112.935, 35.005)).status_code == 404
    new = await make_region(
        session,
        level="grid",
        name="第四网格",
        parent=tree.other_community,
        boundary=square(112.93, 35.00),
    )
    # Written behind the index's back: the cached index is kept until the stamp moves.
    assert (await _locate(client, 112.935, 35.005)).status_code == 404

    await boundaries_changed(session)

    r = await _locate(client, 112.935, 35.005)
    assert r.status_code == 200
    assert r.json()["grid"]["id"] == new.id
    cache = app.state.grid_locator
    assert isinstance(cache, LocatorCache) and cache.builds == 2


async def test_an_import_is_visible_to_the_next_lookup(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    lng, lat = centre(3, 3)
    assert (await _locate(client, lng, lat)).status_code == 404
    headers = auth(settings, await superadmin(session))

    imported = await client.post(
        IMPORT_URL, json=collection(feature("第九网格", cell(3, 3))), headers=headers
    )
    assert imported.status_code == 200

    r = await _locate(client, lng, lat)
    assert r.status_code == 200
    assert r.json()["grid"]["name"] == "第九网格"
    assert r.json()["workers"] == []


async def test_service_locate_takes_wgs84_for_dispatch(session: AsyncSession, tree: Tree) -> None:
    await boundaries_changed(session)  # the module-wide cache may hold another test's grids
    cache = LocatorCache()

    found = await service.locate(session, 112.915, 35.005, cache=cache)
    missing = await service.locate(session, 113.5, 35.005, cache=cache)
    default_cache = await service.locate(session, 112.915, 35.005)

    assert found is not None and found.id == tree.other_grid.id
    assert missing is None
    assert default_cache is not None and default_cache.id == tree.other_grid.id


async def test_the_index_is_built_chunk_by_chunk(
    session: AsyncSession, tree: Tree, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Boundaries are read and converted a chunk at a time; grids from every
    chunk are found, and a broken boundary in one chunk costs only itself."""
    monkeypatch.setattr(service, "GEOMETRY_CHUNK", 1)
    tree.far_grid.boundary = {"type": "Polygon", "coordinates": [[[1, 2]]]}  # unreadable
    await session.flush()
    await boundaries_changed(session)
    cache = LocatorCache()
    found = [await service.locate(session, lng, 35.005, cache=cache) for lng in (112.905, 112.915)]
    assert [g.id if g else None for g in found] == [tree.grid.id, tree.other_grid.id]
    assert await service.locate(session, 112.925, 35.005, cache=cache) is None
    assert cache.builds == 1


async def test_locate_needs_no_login_and_ignores_a_token(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, tree: Tree
) -> None:
    worker = await make_staff(session, "grid_worker", tree.grid)

    r = await client.get(
        LOCATE_URL,
        params={"lat": 35.005, "lng": 112.905, "coord": "wgs84"},
        headers=auth(settings, worker),
    )

    assert r.status_code == 200
