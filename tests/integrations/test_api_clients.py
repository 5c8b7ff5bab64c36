"""API clients: managing keys, and what a key may do (DESIGN §9, §11)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import clock
from app.core.settings import Settings
from app.integrations.models import ApiClient
from app.integrations.service import hash_key
from app.reports.models import Report
from app.users.models import User
from tests.auth.helpers import app_with, error_code
from tests.factories import make_staff, make_tree
from tests.integrations.helpers import key_header, make_api_client
from tests.reports.helpers import IN_GRID, NOWHERE, World, make_world, submit, wgs

API = "/api/v1"
IN_FAR_GRID = (112.925, 35.005)  # inside tree.far_grid, in the other community


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


# ------------------------------------------------------------------ managing keys


async def test_district_admin_creates_lists_reads_and_revokes_a_key(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    body = {
        "name": " 12345 热线 ",
        "scopes": ["reports:read", "reports:read", "stats:read"],
        "region_id": world.tree.community.id,
    }
    r = await client.post(f"{API}/admin/api-clients", json=body, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith(created["key_prefix"] + "_")
    assert len(key) > 40
    assert created["name"] == "12345 热线"
    assert created["scopes"] == ["reports:read", "stats:read"]
    assert created["region"] == {
        "id": world.tree.community.id,
        "name": world.tree.community.name,
        "level": "community",
    }

    # Stored hashed: the key itself is nowhere in the row.
    row = await session.get(ApiClient, created["id"])
    assert row is not None
    assert row.key_hash == hash_key(key)
    assert key not in (row.key_hash, row.key_prefix)
    # Its system account is the reporter of the cases it files, not a resident.
    account = await session.get(User, row.user_id)
    assert account is not None and account.kind == "api_client"

    r = await client.get(f"{API}/admin/api-clients", headers=h)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None
    assert "key" not in listed["items"][0]
    r = await client.get(f"{API}/admin/api-clients/{created['id']}", headers=h)
    assert r.status_code == 200 and "key" not in r.json()

    r = await client.get(f"{API}/stats/summary", headers=key_header(key))
    assert r.status_code == 200, r.text
    r = await client.delete(f"{API}/admin/api-clients/{created['id']}", headers=h)
    assert r.status_code == 204
    r = await client.get(f"{API}/stats/summary", headers=key_header(key))
    assert r.status_code == 401
    assert error_code(r) == "api_key.invalid"
    r = await client.get(f"{API}/admin/api-clients/{created['id']}", headers=h)
    assert r.json()["revoked_at"] is not None


async def test_key_management_is_for_district_admins_within_their_scope(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    body = {"name": "x", "scopes": ["reports:read"], "region_id": world.tree.community.id}
    r = await client.post(
        f"{API}/admin/api-clients", json=body, headers=world.h(world.street_admin)
    )
    assert r.status_code == 403
    assert error_code(r) == "auth.key_manager_only"
    r = await client.post(f"{API}/admin/api-clients", json=body, headers=world.h(world.resident))
    assert r.status_code == 403
    r = await client.post(f"{API}/admin/api-clients", json=body)
    assert r.status_code == 401

    # A district admin of another district: the region is not theirs.
    other = await make_tree(session)
    stranger = await make_staff(session, "district_admin", other.district)
    r = await client.post(f"{API}/admin/api-clients", json=body, headers=world.h(stranger))
    assert r.status_code == 404
    assert error_code(r) == "region.not_found"
    mine, _ = await make_api_client(session, world.tree.community)
    r = await client.get(f"{API}/admin/api-clients/{mine.id}", headers=world.h(stranger))
    assert r.status_code == 404
    r = await client.delete(f"{API}/admin/api-clients/{mine.id}", headers=world.h(stranger))
    assert r.status_code == 404
    r = await client.get(f"{API}/admin/api-clients", headers=world.h(stranger))
    assert r.json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["reports:delete"], "region_id": 1},
        {"name": "x", "scopes": [], "region_id": 1},
        {"name": "", "scopes": ["reports:read"], "region_id": 1},
        {"name": "x", "scopes": ["reports:read"]},
        # An expiry without a time zone is ambiguous: refused, not guessed.
        {"name": "x", "scopes": ["reports:read"], "region_id": 1, "expires_at": "2030-01-01T00:00"},
        {"name": "x", "scopes": ["reports:read"], "region_id": 1, "expires_at": "soon"},
        # One step past the calendar's last day once converted to UTC (was a 500).
        {
            "name": "x",
            "scopes": ["reports:read"],
            "region_id": 1,
            "expires_at": "9999-12-31T23:59:59-12:00",
        },
    ],
)
async def test_bad_key_requests_are_422(
    client: httpx.AsyncClient, session: AsyncSession, world: World, body: dict[str, object]
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    r = await client.post(f"{API}/admin/api-clients", json=body, headers=world.h(admin))
    assert r.status_code == 422
    assert error_code(r) == "validation_error"


async def test_a_key_stops_working_when_it_expires(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    admin = await make_staff(session, "district_admin", world.tree.district)
    h = world.h(admin)
    clock.set_now(datetime(2026, 11, 22, 4, 0, tzinfo=UTC))
    body = {"name": "项目期", "scopes": ["stats:read"], "region_id": world.tree.community.id}
    r = await client.post(
        f"{API}/admin/api-clients",
        json={**body, "expires_at": "2026-11-22T11:00:00+08:00"},
        headers=h,
    )
    assert r.status_code == 422 and error_code(r) == "api_key.expiry_in_past"
    r = await client.post(
        f"{API}/admin/api-clients",
        json={**body, "expires_at": "2026-12-31T00:00:00+08:00"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["expires_at"] == "2026-12-30T16:00:00Z"
    r = await client.get(f"{API}/stats/summary", headers=key_header(created["key"]))
    assert r.status_code == 200, r.text
    clock.set_now(datetime(2026, 12, 30, 16, 0, tzinfo=UTC))
    r = await client.get(f"{API}/stats/summary", headers=key_header(created["key"]))
    assert r.status_code == 401 and error_code(r) == "api_key.expired"
    h = world.h(admin)  # a fresh login: the first token has expired by now too
    r = await client.get(f"{API}/admin/api-clients/{created['id']}", headers=h)
    assert r.json()["expires_at"] == "2026-12-30T16:00:00Z" and r.json()["revoked_at"] is None
    # A key made without an expiry keeps working.
    r = await client.post(f"{API}/admin/api-clients", json=body, headers=h)
    assert r.status_code == 201 and r.json()["expires_at"] is None
    r = await client.get(f"{API}/stats/summary", headers=key_header(r.json()["key"]))
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------ using a key


async def test_key_reads_reports_in_its_region_only_with_names_masked(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    resident = world.h(world.resident)
    inside = (await submit(client, resident, location=wgs(IN_GRID))).json()
    outside = (await submit(client, resident, location=wgs(IN_FAR_GRID))).json()
    _, key = await make_api_client(session, world.tree.community, ["reports:read"])

    r = await client.get(f"{API}/reports/{inside['id']}", headers=key_header(key))
    assert r.status_code == 200, r.text
    read = r.json()
    assert read["reporter"]["name"] != "张居民"
    assert read["reporter"]["name"].startswith("张")
    created = next(e for e in read["timeline"] if e["type"] == "created")
    assert created["actor"]["name"] != "张居民"
    r = await client.get(f"{API}/reports/{outside['id']}", headers=key_header(key))
    assert r.status_code == 404
    assert error_code(r) == "report.not_found"

    r = await client.get(f"{API}/admin/reports", headers=key_header(key))
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == [inside["id"]]
    r = await client.get(
        f"{API}/admin/reports",
        params={"region_id": world.tree.other_community.id},
        headers=key_header(key),
    )
    assert r.status_code == 404


async def test_key_without_the_scope_or_on_a_route_not_for_keys_is_403(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    _, key = await make_api_client(session, world.tree.community, ["services:read"])
    h = key_header(key)
    for method, path in [
        ("GET", f"{API}/reports/1"),
        ("GET", f"{API}/admin/reports"),
        ("GET", f"{API}/stats/summary"),
        ("GET", f"{API}/policies"),
    ]:
        r = await client.request(method, path, headers=h)
        assert r.status_code == 403, (path, r.text)
        assert error_code(r) == "api_key.scope_missing"
    r = await submit(client, h, location=wgs(IN_GRID))
    assert r.status_code == 403
    assert error_code(r) == "api_key.scope_missing"

    _, full = await make_api_client(session, world.tree.community)
    for method, path in [
        ("GET", f"{API}/reports/mine"),
        ("GET", f"{API}/worker/tasks"),
        ("GET", f"{API}/me"),
        ("POST", f"{API}/reports/1/accept"),
        ("GET", f"{API}/admin/api-clients"),
    ]:
        r = await client.request(method, path, headers=key_header(full))
        assert r.status_code == 403, (path, r.text)
        assert error_code(r) == "api_key.route_not_allowed"


async def test_unknown_key_is_401_and_public_routes_check_a_given_key(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    r = await client.get(f"{API}/reports/1", headers=key_header("ejk_00000000_nope"))
    assert r.status_code == 401
    assert error_code(r) == "api_key.invalid"
    # Public routes stay open without a key …
    assert (await client.get(f"{API}/services")).status_code == 200
    assert (await client.get(f"{API}/policies")).status_code == 200
    # … and check a key when one is given.
    r = await client.get(f"{API}/services", headers=key_header("ejk_00000000_nope"))
    assert r.status_code == 401
    _, key = await make_api_client(session, world.tree.community, ["services:read"])
    assert (await client.get(f"{API}/services", headers=key_header(key))).status_code == 200
    r = await client.get(f"{API}/policies", headers=key_header(key))
    assert r.status_code == 403
    _, pkey = await make_api_client(session, world.tree.community, ["policies:read"])
    assert (await client.get(f"{API}/policies", headers=key_header(pkey))).status_code == 200
    r = await client.get(f"{API}/service-points/nearby?lat=35&lng=112.9", headers=key_header(pkey))
    assert r.status_code == 403


async def test_key_files_a_case_dispatched_like_any_other_inside_its_region(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    api_client, key = await make_api_client(session, world.tree.community)
    h = key_header(key)
    r = await submit(client, h, location=wgs(IN_GRID), address="玉溪苑3号楼")
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["status"] == "dispatched"
    assert case["assignee"]["id"] == world.worker.id
    assert case["reporter"]["id"] == api_client.user_id
    r = await client.get(f"{API}/reports/{case['id']}", headers=h)
    assert r.status_code == 200

    r = await submit(client, h, location=wgs(IN_FAR_GRID))
    assert r.status_code == 422
    assert error_code(r) == "api_key.outside_region"


async def test_a_street_key_files_no_case_at_a_point_outside_every_grid(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """A point in no grid waits in the street's queue, which lies inside a
    street-level key's region: it is still not a place in the region (only
    grids have boundaries), and the case is refused, not queued."""
    _, key = await make_api_client(session, world.tree.street)
    h = key_header(key)
    before = await session.scalar(select(func.count()).select_from(Report))
    r = await submit(client, h, location=wgs(NOWHERE))
    assert r.status_code == 422, r.text
    assert error_code(r) == "api_key.outside_region"
    assert await session.scalar(select(func.count()).select_from(Report)) == before
    r = await submit(client, h, location=wgs(IN_FAR_GRID))  # a grid of the street
    assert r.status_code == 201, r.text


async def test_key_reads_stats_of_its_region(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    resident = world.h(world.resident)
    await submit(client, resident, location=wgs(IN_GRID))
    await submit(client, resident, location=wgs(IN_FAR_GRID))
    _, key = await make_api_client(session, world.tree.community, ["stats:read"])
    r = await client.get(f"{API}/stats/summary", headers=key_header(key))
    assert r.status_code == 200, r.text
    assert r.json()["received"] == 1
    r = await client.get(
        f"{API}/stats/summary",
        params={"region_id": world.tree.other_community.id},
        headers=key_header(key),
    )
    assert r.status_code == 404


async def test_each_key_has_its_own_rate_limit_and_last_used_time(
    settings: Settings,
    bind_sessions: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: World,
) -> None:
    one, key = await make_api_client(session, world.tree.community, ["stats:read"])
    _, other = await make_api_client(session, world.tree.community, ["stats:read"])
    assert one.last_used_at is None
    # Windows are fixed minutes: the requests must not straddle one's end.
    clock.set_now(datetime(2026, 11, 20, 2, 0, 5, tzinfo=UTC))
    async with app_with(settings, bind_sessions, rate_limit_api_key="2/minute") as (_, c):
        for _ in range(2):
            assert (await c.get(f"{API}/stats/summary", headers=key_header(key))).status_code == 200
        r = await c.get(f"{API}/stats/summary", headers=key_header(key))
        assert r.status_code == 429
        assert error_code(r) == "api_key.rate_limited"
        assert int(r.headers["Retry-After"]) >= 1
        assert (await c.get(f"{API}/stats/summary", headers=key_header(other))).status_code == 200
    used = await session.scalar(select(ApiClient.last_used_at).where(ApiClient.id == one.id))
    assert used is not None
