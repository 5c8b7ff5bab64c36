"""POST /admin/regions/import: validation, idempotent re-import, scope."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org import router as org_router
from app.org.grid_import import import_grids
from app.org.models import Region
from tests.factories import auth, make_region, make_staff, make_tree
from tests.org.helpers import (
    COMMUNITY,
    DISTRICT,
    IMPORT_URL,
    STREET,
    cell,
    collection,
    corner,
    feature,
    grid_by_name,
    grids,
    region_count,
    stamp,
    superadmin,
    three_grids,
)


async def _import(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.post(IMPORT_URL, json=body, headers=headers)


@pytest.fixture
async def root_headers(session: AsyncSession, settings: Settings) -> dict[str, str]:
    return auth(settings, await superadmin(session))


# --- a valid file ---------------------------------------------------------------


async def test_import_creates_the_tree_and_grids(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    before = await stamp(session)

    r = await _import(client, root_headers, three_grids())

    assert r.status_code == 200, r.text
    assert r.json() == {"created": 3, "updated": 0, "unchanged": 0, "grids": 3}
    regions = (await session.execute(select(Region).order_by(Region.id))).scalars().all()
    by_level: dict[str, list[Region]] = {}
    for region in regions:
        by_level.setdefault(region.level, []).append(region)
    (district,) = by_level["district"]
    (street,) = by_level["street"]
    assert (district.name, district.parent_id, district.path) == (
        DISTRICT,
        None,
        f"/{district.id}/",
    )
    assert (street.name, street.parent_id, street.path) == (
        STREET,
        district.id,
        f"/{district.id}/{street.id}/",
    )
    assert sorted(c.name for c in by_level["community"]) == sorted([COMMUNITY, "沁水湾社区"])
    for community in by_level["community"]:
        assert community.parent_id == street.id
        assert community.path == f"{street.path}{community.id}/"
    first = await grid_by_name(session, COMMUNITY, "第一网格")
    assert first.code == "G-001"
    assert first.households == 410
    assert first.boundary == cell(0, 0)
    assert first.boundary_sha and len(first.boundary_sha) == 64
    assert first.path.startswith(street.path) and first.path.endswith(f"/{first.id}/")
    # Two grids named 第一网格 in different communities are different grids.
    other = await grid_by_name(session, "沁水湾社区", "第一网格")
    assert other.id != first.id and other.code is None
    # Every process must learn that boundaries changed.
    after = await stamp(session)
    assert after[0] == before[0] + 1 and after[1] != before[1]


async def test_import_accepts_multipolygons_holes_and_altitude(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    outer = cell(0, 0, 3, 3)["coordinates"][0]
    hole = [corner(1, 1), corner(1, 2), corner(2, 2), corner(2, 1), corner(1, 1)]
    with_altitude = [[*p, 87.5] for p in cell(5, 0)["coordinates"][0]]
    multi = {
        "type": "MultiPolygon",
        "coordinates": [cell(7, 0)["coordinates"], cell(9, 0)["coordinates"]],
    }
    body = collection(
        feature("环形网格", {"type": "Polygon", "coordinates": [outer, hole]}),
        # The hole of the ring-shaped grid is another grid: they only share edges.
        feature("中心网格", cell(1, 1)),
        feature("带高程网格", {"type": "Polygon", "coordinates": [with_altitude]}),
        feature("飞地网格", multi),
    )

    r = await _import(client, root_headers, body)

    assert r.status_code == 200, r.text
    assert r.json()["created"] == 4
    stored = await grid_by_name(session, COMMUNITY, "带高程网格")
    assert stored.boundary == cell(5, 0)  # altitude dropped
    multi_stored = await grid_by_name(session, COMMUNITY, "飞地网格")
    assert multi_stored.boundary == multi


async def test_command_line_import_needs_no_principal(session: AsyncSession) -> None:
    result = await import_grids(session, three_grids())

    assert (result.created, result.grids) == (3, 3)
    assert len(await grids(session)) == 3


# --- files that are refused -------------------------------------------------------


def _without(key: str) -> dict[str, Any]:
    bad = feature("第二网格", cell(1, 0))
    del bad["properties"][key]
    return bad


def _ring(points: list[list[Any]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [points]}


def _swapped() -> dict[str, Any]:
    ring = [[lat, lng] for lng, lat in cell(1, 0)["coordinates"][0]]
    return _ring(ring)


# (name, second feature of a file whose first feature is valid, expected code)
BAD_FEATURES: list[tuple[str, Callable[[], dict[str, Any]], str]] = [
    ("missing street", lambda: _without("street"), "regions.missing_property"),
    ("missing grid name", lambda: _without("grid"), "regions.missing_property"),
    (
        "blank community",
        lambda: feature("第二网格", cell(1, 0), community="  "),
        "regions.missing_property",
    ),
    (
        "households not a number",
        lambda: feature("第二网格", cell(1, 0), households="many"),  # type: ignore[arg-type]
        "regions.invalid_property",
    ),
    (
        "point geometry",
        lambda: feature("第二网格", {"type": "Point", "coordinates": corner(1, 0)}),
        "regions.invalid_geometry",
    ),
    (
        "self-intersecting bow tie",
        lambda: feature(
            "第二网格",
            _ring([corner(1, 0), corner(2, 1), corner(2, 0), corner(1, 1), corner(1, 0)]),
        ),
        "regions.invalid_geometry",
    ),
    (
        "too few points",
        lambda: feature("第二网格", _ring([corner(1, 0), corner(2, 0), corner(1, 0)])),
        "regions.invalid_geometry",
    ),
    (
        "non-numeric coordinate",
        lambda: feature("第二网格", _ring([["113.6", 34.7], *cell(1, 0)["coordinates"][0][1:]])),
        "regions.invalid_geometry",
    ),
    (
        "unclosed ring",
        lambda: feature("第二网格", _ring(cell(1, 0)["coordinates"][0][:4])),
        "regions.unclosed_ring",
    ),
    (
        "outside China (Sydney)",
        lambda: feature(
            "第二网格",
            _ring([[151.2, -33.9], [151.21, -33.9], [151.21, -33.89], [151.2, -33.9]]),
        ),
        "regions.outside_china",
    ),
    (
        "web mercator metres instead of degrees",
        lambda: feature(
            "第二网格",
            _ring(
                [[12645000, 4123000], [12646000, 4123000], [12646000, 4124000], [12645000, 4123000]]
            ),
        ),
        "regions.outside_china",
    ),
    ("lat and lng swapped", lambda: feature("第二网格", _swapped()), "regions.swapped_coordinates"),
    (
        "same name path twice",
        lambda: feature("第一网格", cell(1, 0)),
        "regions.duplicate_grid",
    ),
    (
        "same code twice",
        lambda: feature("第二网格", cell(1, 0), code="G-001"),
        "regions.duplicate_grid",
    ),
    (
        "overlaps the first grid",
        lambda: feature("第二网格", cell(0.5, 0)),
        "regions.overlapping_grids",
    ),
    (
        "contains the first grid",
        lambda: feature("第二网格", cell(-1, -1, 3, 3)),
        "regions.overlapping_grids",
    ),
    ("not a feature", lambda: {"type": "Polygon"}, "regions.invalid_feature"),
]


@pytest.mark.parametrize(
    ("second", "code"), [(b, c) for _, b, c in BAD_FEATURES], ids=[n for n, _, _ in BAD_FEATURES]
)
async def test_a_bad_feature_refuses_the_whole_file(
    client: httpx.AsyncClient,
    session: AsyncSession,
    root_headers: dict[str, str],
    second: Callable[[], dict[str, Any]],
    code: str,
) -> None:
    regions_before, stamp_before = await region_count(session), await stamp(session)
    body = collection(feature("第一网格", cell(0, 0), code="G-001"), second())

    r = await _import(client, root_headers, body)

    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["details"]["feature_index"] == 1
    assert "features[1]" in error["message"]
    assert error["details"]["problems"][0]["code"] == code
    # All or nothing: not even the valid first grid, nor its district, was written.
    assert await region_count(session) == regions_before
    assert await stamp(session) == stamp_before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "regions.invalid_json"),
        (b'{"type": "FeatureCollection", "features": [NaN]}', "regions.invalid_json"),
        (b'[{"type": "Feature"}]', "regions.not_feature_collection"),
        (
            b'{"type": "Feature", "properties": {}, "geometry": null}',
            "regions.not_feature_collection",
        ),
        (b'{"type": "FeatureCollection", "features": {}}', "regions.not_feature_collection"),
        (b'{"type": "FeatureCollection", "features": []}', "regions.no_features"),
        # Nesting deeper than the parser can follow (was a 500).
        (b"[" * 100_000 + b"]" * 100_000, "regions.invalid_json"),
    ],
    ids=["not json", "NaN", "array", "single feature", "features not a list", "empty", "deep"],
)
async def test_a_body_that_is_not_a_feature_collection_is_refused(
    client: httpx.AsyncClient,
    session: AsyncSession,
    root_headers: dict[str, str],
    body: bytes,
    code: str,
) -> None:
    regions_before = await region_count(session)

    r = await client.post(
        IMPORT_URL, content=body, headers={**root_headers, "Content-Type": "application/json"}
    )

    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert await region_count(session) == regions_before


async def test_every_problem_is_listed_with_its_feature(
    client: httpx.AsyncClient, root_headers: dict[str, str]
) -> None:
    body = collection(
        feature("第一网格", cell(0, 0)),
        _without("district"),
        feature("第三网格", _ring(cell(2, 0)["coordinates"][0][:4])),
        feature("第四网格", cell(0.5, 0)),
    )

    r = await _import(client, root_headers, body)

    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert details["feature_index"] == 1
    assert details["problem_count"] == 3
    assert [(p["feature_index"], p["code"]) for p in details["problems"]] == [
        (1, "regions.missing_property"),
        (2, "regions.unclosed_ring"),
        (3, "regions.overlapping_grids"),
    ]
    assert details["problems"][2]["other_index"] == 0


async def test_a_grid_overlapping_a_stored_grid_not_in_the_file_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (
        await _import(client, root_headers, collection(feature("第一网格", cell(0, 0))))
    ).status_code == 200
    stored = await grid_by_name(session, COMMUNITY, "第一网格")
    regions_before = await region_count(session)

    r = await _import(
        client,
        root_headers,
        collection(feature("新网格", cell(0.5, 0.5), community="另一社区")),
    )

    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "regions.overlapping_grids"
    assert error["details"]["problems"][0]["existing_grid_id"] == stored.id
    assert await region_count(session) == regions_before


async def test_stored_grids_may_be_neighbours_or_be_moved_out_of_the_way(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    first = collection(feature("第一网格", cell(0, 0), code="A"))
    assert (await _import(client, root_headers, first)).status_code == 200

    neighbour = collection(feature("第二网格", cell(1, 0)))
    assert (await _import(client, root_headers, neighbour)).status_code == 200

    # Grid A moves east, and a new grid takes its old place: no overlap with what
    # will be stored, so the file is accepted.
    shuffle = collection(feature("第一网格", cell(5, 0), code="A"), feature("第三网格", cell(0, 0)))
    r = await _import(client, root_headers, shuffle)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": 1, "updated": 1, "unchanged": 0, "grids": 2}


# --- re-import ---------------------------------------------------------------------


async def test_reimporting_the_same_file_changes_nothing(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (await _import(client, root_headers, three_grids())).status_code == 200
    ids_before = [g.id for g in await grids(session)]
    regions_before, stamp_before = await region_count(session), await stamp(session)

    r = await _import(client, root_headers, three_grids())

    assert r.status_code == 200
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 3, "grids": 3}
    assert [g.id for g in await grids(session)] == ids_before
    assert await region_count(session) == regions_before
    # Nothing changed, so no process needs to rebuild its index.
    assert await stamp(session) == stamp_before


async def test_reimport_updates_changed_grids_and_keeps_missing_ones(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (await _import(client, root_headers, three_grids())).status_code == 200
    before = {g.name + str(g.parent_id): g.id for g in await grids(session)}
    stamp_before = await stamp(session)
    # 第一网格 gets a bigger polygon, 第二网格 more households, and the grid of
    # 沁水湾社区 is left out of the file.
    second = collection(
        feature("第一网格", cell(0, 0, 1, 2), code="G-001", households=410),
        feature("第二网格", cell(1, 0), code="G-002", households=400),
    )

    r = await _import(client, root_headers, second)

    assert r.status_code == 200, r.text
    assert r.json() == {"created": 0, "updated": 2, "unchanged": 0, "grids": 2}
    after = await grids(session)
    assert {g.name + str(g.parent_id): g.id for g in after} == before  # same ids, none lost
    assert (await grid_by_name(session, COMMUNITY, "第一网格")).boundary == cell(0, 0, 1, 2)
    assert (await grid_by_name(session, COMMUNITY, "第二网格")).households == 400
    kept = await grid_by_name(session, "沁水湾社区", "第一网格")
    assert kept.boundary == cell(2, 0)
    assert (await stamp(session))[0] == stamp_before[0] + 1


async def test_a_grid_with_a_code_is_matched_by_code_even_when_renamed_or_moved(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (await _import(client, root_headers, three_grids())).status_code == 200
    original = await grid_by_name(session, COMMUNITY, "第一网格")
    count_before = len(await grids(session))
    renamed = collection(
        feature("阳光网格", cell(0, 0), code="G-001", households=410, community="新建社区")
    )

    r = await _import(client, root_headers, renamed)

    assert r.status_code == 200, r.text
    assert r.json() == {"created": 0, "updated": 1, "unchanged": 0, "grids": 1}
    moved = await grid_by_name(session, "新建社区", "阳光网格")
    assert moved.id == original.id
    community = await session.get(Region, moved.parent_id)
    assert community is not None
    assert moved.path == f"{community.path}{moved.id}/"
    assert len(await grids(session)) == count_before


async def test_two_grids_may_swap_names_in_one_import(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (await _import(client, root_headers, three_grids())).status_code == 200
    first = await grid_by_name(session, COMMUNITY, "第一网格")
    swapped = collection(
        feature("第二网格", cell(0, 0), code="G-001", households=410),
        feature("第一网格", cell(1, 0), code="G-002", households=385),
    )

    r = await _import(client, root_headers, swapped)

    assert r.status_code == 200, r.text
    assert r.json()["updated"] == 2
    assert (await grid_by_name(session, COMMUNITY, "第二网格")).id == first.id


async def test_a_grid_without_a_code_is_matched_by_its_name_path_and_may_get_one(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (await _import(client, root_headers, three_grids())).status_code == 200
    grid = await grid_by_name(session, "沁水湾社区", "第一网格")
    body = collection(
        feature("第一网格", cell(2, 0), community="沁水湾社区", households=402, code="G-003")
    )

    r = await _import(client, root_headers, body)

    assert r.json() == {"created": 0, "updated": 1, "unchanged": 0, "grids": 1}
    assert (await grid_by_name(session, "沁水湾社区", "第一网格")).id == grid.id
    assert (await grid_by_name(session, "沁水湾社区", "第一网格")).code == "G-003"


async def test_a_conflicting_code_on_the_same_name_path_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (await _import(client, root_headers, three_grids())).status_code == 200
    body = collection(feature("第一网格", cell(0, 0), code="G-999"))

    r = await _import(client, root_headers, body)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "regions.code_conflict"
    assert (await grid_by_name(session, COMMUNITY, "第一网格")).code == "G-001"


async def test_renaming_onto_a_name_another_grid_keeps_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    assert (await _import(client, root_headers, three_grids())).status_code == 200
    body = collection(feature("第二网格", cell(0, 0), code="G-001"))

    r = await _import(client, root_headers, body)

    assert r.status_code == 422
    assert r.json()["error"]["code"] == "regions.name_taken"


# --- who may import ------------------------------------------------------------------


async def test_anonymous_callers_get_401(client: httpx.AsyncClient, session: AsyncSession) -> None:
    r = await _import(client, {}, three_grids())

    assert r.status_code == 401
    assert await region_count(session) == 0


@pytest.mark.parametrize("role", ["grid_worker", "community_admin", "street_admin"])
async def test_staff_below_district_admin_get_403(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, role: str
) -> None:
    tree = await make_tree(session)
    region = {"grid_worker": tree.grid, "community_admin": tree.community}.get(role, tree.street)
    user = await make_staff(session, role, region)
    regions_before = await region_count(session)

    r = await _import(client, auth(settings, user), three_grids(district=tree.district.name))

    assert r.status_code == 403
    assert r.json()["error"]["code"] in {"auth.admin_only", "regions.import_forbidden"}
    assert await region_count(session) == regions_before


async def test_a_district_admin_imports_grids_of_their_own_district(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "district_admin", tree.district)

    body = three_grids(district=tree.district.name, street="覃怀街道")

    r = await _import(client, auth(settings, admin), body)

    assert r.status_code == 200, r.text
    assert r.json()["created"] == 3
    in_district = [g for g in await grids(session) if g.path.startswith(tree.district.path)]
    assert len(in_district) == 3 + 3  # the factory tree's grids and the imported ones


async def test_a_district_admin_of_another_district_gets_403_and_nothing_is_written(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "district_admin", tree.district)
    regions_before = await region_count(session)
    body = three_grids(district=tree.district.name)
    body["features"][2]["properties"]["district"] = "孟州市"

    r = await _import(client, auth(settings, admin), body)

    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "regions.out_of_scope"
    assert error["details"]["feature_index"] == 2
    assert await region_count(session) == regions_before


async def test_a_district_admin_cannot_pull_a_grid_of_another_district_by_its_code(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    root_headers: dict[str, str],
) -> None:
    assert (await _import(client, root_headers, three_grids(district="孟州市"))).status_code == 200
    tree = await make_tree(session)
    admin = await make_staff(session, "district_admin", tree.district)
    body = collection(feature("第一网格", cell(0, 0), code="G-001", district=tree.district.name))

    r = await _import(client, auth(settings, admin), body)

    assert r.status_code == 403
    assert r.json()["error"]["code"] == "regions.out_of_scope"


async def test_the_import_body_is_documented_for_front_ends(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"][IMPORT_URL]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["type"] == {"const": "FeatureCollection"}
    assert operation["tags"] == ["regions"]
    assert {"401", "403", "422"} <= set(operation["responses"])


def test_bad_feature_table_is_not_aliased() -> None:
    # The table builds fresh dicts per case; a shared mutable feature would let
    # one case leak into the next.
    a, b = BAD_FEATURES[0][1](), BAD_FEATURES[0][1]()
    assert a == copy.deepcopy(b) and a is not b


async def test_a_name_used_at_another_level_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, root_headers: dict[str, str]
) -> None:
    tree = await make_tree(session)
    # A grid hanging directly under the street, named like the community of the file.
    await make_region(session, level="grid", name="错层社区", parent=tree.street)
    regions_before = await region_count(session)
    body = collection(
        feature(
            "第一网格",
            cell(0, 0),
            district=tree.district.name,
            street=tree.street.name,
            community="错层社区",
        )
    )

    r = await _import(client, root_headers, body)

    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "regions.level_conflict"
    assert error["details"]["problems"][0]["expected_level"] == "community"
    assert await region_count(session) == regions_before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
async def test_an_oversized_body_is_413(
    client: httpx.AsyncClient,
    root_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    chunked: bool,
) -> None:
    monkeypatch.setattr(org_router, "MAX_IMPORT_BYTES", 2_000)
    payload = json.dumps(three_grids(filler="x" * 3_000)).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 500):
            yield payload[start : start + 500]

    r = await client.post(
        IMPORT_URL,
        content=chunks() if chunked else payload,
        headers={**root_headers, "Content-Type": "application/json"},
    )

    assert r.status_code == 413
    assert r.json()["error"]["code"] == "regions.payload_too_large"
