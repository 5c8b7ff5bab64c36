"""Open311 GeoReport v2 over raw HTTP: POST and tokens, reads with a key, the
XML shapes and the spec's errors (field names as the spec gives them)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.integrations.models import Open311Request
from app.reports.models import Report
from tests.integrations.helpers import make_api_client
from tests.reports.helpers import IN_GRID, NOWHERE, World, make_world, submit, upload, wgs

BASE = "/open311/v2"
REQUEST_FIELDS = {
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
}
IN_FAR_GRID = (112.925, 35.005)


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def form(key: str | None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "service_code": "environment",
        "lat": str(IN_GRID[1]),
        "long": str(IN_GRID[0]),
        "description": "小区门口垃圾堆积三天无人清运",
        **fields,
    }
    if key is not None:
        body["api_key"] = key
    return {k: v for k, v in body.items() if v is not None}


def assert_spec_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    assert body[0]["description"]


async def test_post_dispatches_like_any_case_and_the_token_finds_it(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    api_client, key = await make_api_client(session, world.tree.community)
    data = form(
        key,
        address_string="玉溪苑3号楼",
        media_url="https://hotline.example.cn/photos/1.jpg",
        email="someone@example.cn",
        first_name="三",
        last_name="张",
        phone="13912345678",
        **{"attribute[hotline_no]": "12345-0001", "jurisdiction_id": "qinyang"},
    )
    r = await client.post(f"{BASE}/requests.json", data=data)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    [created] = r.json()
    # Our services are realtime: the id, and no token (the spec gives one or the other).
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    rid = int(created["service_request_id"])

    report = await session.get(Report, rid)
    assert report is not None
    assert report.status == "dispatched" and report.assignee_id == world.worker.id
    assert report.reporter_id == api_client.user_id
    assert report.source == "open311"
    assert report.address == "玉溪苑3号楼"
    row = await session.scalar(select(Open311Request).where(Open311Request.report_id == rid))
    assert row is not None and row.attributes == {"hotline_no": "12345-0001"}
    # Contact details are not kept anywhere.
    assert "13912345678" not in str(row.attributes) + report.description + (report.address or "")

    # A token stored with the case (as earlier answers gave out) still finds it.
    r = await client.get(f"{BASE}/tokens/{row.token}.json")
    assert r.status_code == 200, r.text
    assert r.json() == [{"service_request_id": str(rid), "token": row.token}]
    r = await client.get(f"{BASE}/tokens/{row.token}.xml")
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    assert root.find("request/service_request_id").text == str(rid)  # type: ignore[union-attr]
    assert_spec_error(await client.get(f"{BASE}/tokens/nope.json"), 404)

    # Read back with a key: every spec field, WGS-84 position, deadline.
    r = await client.get(f"{BASE}/requests/{rid}.json", params={"api_key": key})
    assert r.status_code == 200, r.text
    [one] = r.json()
    assert set(one) == REQUEST_FIELDS
    assert one["status"] == "open"
    assert one["lat"] == pytest.approx(IN_GRID[1]) and one["long"] == pytest.approx(IN_GRID[0])
    assert one["address"] == "玉溪苑3号楼"
    assert one["media_url"] == "https://hotline.example.cn/photos/1.jpg"
    assert one["expected_datetime"] is not None and one["expected_datetime"].endswith("+08:00")
    assert one["agency_responsible"] == world.tree.grid.name
    assert "dispatched" in one["status_notes"]


async def test_post_answers_in_xml(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    _, key = await make_api_client(session, world.tree.community)
    r = await client.post(f"{BASE}/requests.xml", data=form(key))
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    assert [c.tag for c in root] == ["request"]
    assert {c.tag for c in root[0]} == {"service_request_id", "service_notice", "account_id"}


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"service_code": None}, 400),
        ({"service_code": "no_such_code"}, 404),
        ({"lat": None, "long": None}, 400),
        ({"long": None}, 400),
        ({"lat": "north"}, 400),
        ({"description": "短"}, 400),
        ({"description": None}, 400),
        ({"lat": "48.85", "long": "2.35"}, 400),  # Paris: outside China
        ({"lat": str(IN_FAR_GRID[1]), "long": str(IN_FAR_GRID[0])}, 400),  # outside the key
        ({"media_url": "ftp://x/y.jpg"}, 400),
    ],
)
async def test_bad_posts_get_the_spec_errors(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    fields: dict[str, Any],
    status: int,
) -> None:
    _, key = await make_api_client(session, world.tree.community)
    r = await client.post(f"{BASE}/requests.json", data=form(key, **fields))
    assert_spec_error(r, status)


async def test_post_needs_a_key_with_reports_write(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    assert_spec_error(await client.post(f"{BASE}/requests.json", data=form(None)), 403)
    r = await client.post(f"{BASE}/requests.json", data=form("ejk_00000000_wrong"))
    assert_spec_error(r, 403)
    _, reader = await make_api_client(session, world.tree.community, ["reports:read"])
    assert_spec_error(await client.post(f"{BASE}/requests.json", data=form(reader)), 403)
    r = await client.post(f"{BASE}/requests.xml", data=form(None))
    assert r.status_code == 403
    root = ET.fromstring(r.content)
    assert root.tag == "errors"
    error = root.find("error")
    assert error is not None
    assert error.find("code").text == "403"  # type: ignore[union-attr]
    assert error.find("description").text  # type: ignore[union-attr]


async def test_get_requests_filters_pages_and_keeps_to_the_key_region(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    resident = world.h(world.resident)
    first = (await submit(client, resident, location=wgs(IN_GRID))).json()
    second = (await submit(client, resident, location=wgs(IN_GRID))).json()
    far = (await submit(client, resident, location=wgs(IN_FAR_GRID))).json()
    r = await client.post(f"/api/v1/reports/{first['id']}/cancel", headers=resident)
    assert r.status_code == 200, r.text
    _, key = await make_api_client(session, world.tree.community, ["reports:read"])

    async def ids(**params: Any) -> list[str]:
        r = await client.get(f"{BASE}/requests.json", params={"api_key": key, **params})
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    assert await ids() == [str(second["id"]), str(first["id"])]
    assert await ids(status="open") == [str(second["id"])]
    assert await ids(status="closed") == [str(first["id"])]
    assert await ids(status="open,closed") == [str(second["id"]), str(first["id"])]
    assert await ids(service_code="power_outage") == []
    assert await ids(page_size=1) == [str(second["id"])]
    assert await ids(page_size=1, page=2) == [str(first["id"])]
    assert await ids(service_request_id=f"{first['id']},{far['id']}") == [str(first["id"])]
    assert await ids(start_date="2000-01-01T00:00:00Z", end_date="2000-02-01T00:00:00Z") == []
    r = await client.get(f"{BASE}/requests/{far['id']}.json", headers={"X-API-Key": key})
    assert_spec_error(r, 404)

    for params in (
        {"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-06-01T00:00:00Z"},
        {"start_date": "yesterday"},
        {"status": "pending"},
        {"page_size": "1001"},
        {"service_request_id": "a,b"},
    ):
        r = await client.get(f"{BASE}/requests.json", params={"api_key": key, **params})
        assert_spec_error(r, 400)

    r = await client.get(f"{BASE}/requests.xml", params={"api_key": key})
    root = ET.fromstring(r.content)
    assert root.tag == "service_requests"
    assert {c.tag for c in root[0]} == REQUEST_FIELDS


async def test_reading_requests_without_a_key_is_refused_unless_public(
    client: httpx.AsyncClient, world: World
) -> None:
    assert_spec_error(await client.get(f"{BASE}/requests.json"), 403)
    assert_spec_error(await client.get(f"{BASE}/requests/1.json"), 403)


async def test_a_photo_is_served_as_a_signed_absolute_url(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    resident = world.h(world.resident)
    photo = await upload(client, resident)
    case = (await submit(client, resident, location=wgs(IN_GRID), media_ids=[photo["id"]])).json()
    _, key = await make_api_client(session, world.tree.community, ["reports:read"])
    r = await client.get(f"{BASE}/requests/{case['id']}.json", params={"api_key": key})
    [one] = r.json()
    assert one["media_url"].startswith("http://testserver/api/v1/media/")
    assert "sig=" in one["media_url"]
    assert (await client.get(one["media_url"])).status_code == 200


async def test_discovery_services_and_unknown_paths(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{BASE}/discovery.json")
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    [endpoint] = body["endpoints"]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = ET.fromstring((await client.get(f"{BASE}/discovery.xml")).content)
    assert root.tag == "discovery"
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == [
        "text/xml",
        "application/json",
    ]

    root = ET.fromstring((await client.get(f"{BASE}/services.xml")).content)
    assert root.tag == "services" and root[0].tag == "service"
    codes = {s.findtext("service_code") for s in root}
    assert "environment" in codes
    r = await client.get(f"{BASE}/services/environment.json")
    assert r.json() == {"service_code": "environment", "attributes": []}
    root = ET.fromstring((await client.get(f"{BASE}/services/environment.xml")).content)
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "environment"
    assert_spec_error(await client.get(f"{BASE}/services/nope.json"), 404)
    assert_spec_error(await client.get(f"{BASE}/nothing/here.json"), 404)
    assert_spec_error(await client.get(f"{BASE}/services.yaml"), 404)


async def test_a_post_refused_after_locating_leaves_no_case(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    # The key is for one community; the point lies in another one's grid. The
    # refusal comes after the case was located and dispatched: nothing of it
    # may stay, or the integrator, who got no id, files it again on retry.
    _, key = await make_api_client(session, world.tree.community)
    before = await session.scalar(select(func.count()).select_from(Report))
    for suffix in ("json", "xml"):
        r = await client.post(
            f"{BASE}/requests.{suffix}",
            data=form(key, lat=str(IN_FAR_GRID[1]), long=str(IN_FAR_GRID[0])),
        )
        assert r.status_code == 400, r.text
        if suffix == "json":
            assert_spec_error(r, 400)
    session.expire_all()
    assert await session.scalar(select(func.count()).select_from(Report)) == before
    assert await session.scalar(select(func.count()).select_from(Open311Request)) == 0


async def test_control_characters_a_resident_typed_leave_the_xml_well_formed(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """JSON carries a control character escaped; XML cannot hold one at all: a
    single case (or category name) with one made every XML answer unreadable."""
    _, key = await make_api_client(session, world.tree.community)
    text = "油烟\u0001\u001b直排\ufffe测试"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = await client.get(f"{BASE}/requests/{rid}.xml", params={"api_key": key})
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)  # raises on a document that is not well-formed
    assert root[0].findtext("description") == "油烟直排测试"
    r = await client.get(f"{BASE}/requests/{rid}.json", params={"api_key": key})
    assert r.json()[0]["description"] == text  # JSON keeps what was written


async def test_a_key_below_the_street_files_address_only_cases_into_its_own_region(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """A case with an address and no point has no grid; it used to wait in the
    street's queue, outside a community's or a grid's key region, so such a key
    could never file one. It waits in the key's region now: a community key's
    case in the community's queue (its admin dispatches it), a grid key's with
    the grid's worker. A point in no grid is still refused."""
    form = {"service_code": "environment", "description": "小区门口垃圾堆积三天无人清运"}
    for region, status, owner in (
        (world.tree.community, "submitted", None),
        (world.tree.grid, "dispatched", world.worker.id),
    ):
        _, key = await make_api_client(session, region, ["reports:write", "reports:read"])
        r = await client.post(
            f"{BASE}/requests.json",
            data={**form, "api_key": key, "address_string": "怀庆街道 3 号楼"},
        )
        assert r.status_code == 201, r.text
        report = await session.get(Report, int(r.json()[0]["service_request_id"]))
        assert report is not None
        await session.refresh(report)
        assert report.region_path.startswith(region.path), (report.region_path, region.path)
        assert (report.status, report.assignee_id) == (status, owner)
        r = await client.post(
            f"{BASE}/requests.json",
            data={**form, "api_key": key, "lat": NOWHERE[1], "long": NOWHERE[0]},
        )
        assert_spec_error(r, 400)
    listed = await client.get("/api/v1/admin/reports", headers=world.h(world.community_admin))
    queued = [i for i in listed.json()["items"] if i["status"] == "submitted"]
    assert len(queued) == 1, listed.text
