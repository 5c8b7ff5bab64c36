"""Open311 inputs that used to be 500s (a NUL character, an id beyond 64
bits) and text that content security holds back, which Open311 must hide as
the resident views do."""

from __future__ import annotations

from xml.etree import ElementTree as ET

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.core.textguard import NUL_MESSAGE
from app.reports.models import Report
from app.reports.service import HIDDEN_TEXT
from tests.integrations.helpers import make_api_client
from tests.open311.test_open311 import BASE, assert_spec_error, form
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

NUL = "\x00"
TOO_BIG = [str(2**63), "99999999999999999999", "1" + "0" * 40]


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def assert_xml_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "errors"
    assert root.findtext("error/code") == str(status)


@pytest.mark.parametrize("rid", [*TOO_BIG, "-" + str(2**63 + 1), "²", "١٢"])
async def test_an_id_beyond_int64_is_not_found(
    client: httpx.AsyncClient, session: AsyncSession, world: World, rid: str
) -> None:
    _, key = await make_api_client(session, world.tree.community)
    r = await client.get(f"{BASE}/requests/{rid}.json", params={"api_key": key})
    assert_spec_error(r, 404)
    r = await client.get(f"{BASE}/requests/{rid}.xml", params={"api_key": key})
    assert_xml_error(r, 404)


@pytest.mark.parametrize("ids", [*TOO_BIG, f"1,{2**63}", f"-{2**63 + 1}", "²", "1_0", "+1"])
async def test_a_list_of_ids_beyond_int64_is_a_bad_request(
    client: httpx.AsyncClient, session: AsyncSession, world: World, ids: str
) -> None:
    _, key = await make_api_client(session, world.tree.community)
    params = {"api_key": key, "service_request_id": ids}
    assert_spec_error(await client.get(f"{BASE}/requests.json", params=params), 400)
    assert_xml_error(await client.get(f"{BASE}/requests.xml", params=params), 400)


async def test_the_largest_int64_id_is_simply_not_found(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    _, key = await make_api_client(session, world.tree.community)
    top = str(2**63 - 1)
    r = await client.get(f"{BASE}/requests/{top}.json", params={"api_key": key})
    assert_spec_error(r, 404)
    params = {"api_key": key, "service_request_id": f"{top}, 1 "}
    r = await client.get(f"{BASE}/requests.json", params=params)
    assert r.status_code == 200, r.text
    assert r.json() == []


def assert_nul_error(r: httpx.Response) -> None:
    assert_spec_error(r, 400)
    assert r.json()[0]["description"] == NUL_MESSAGE


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/services/%00.json", {}),
        ("/services/environment%00.json", {}),
        ("/tokens/%00.json", {}),
        ("/requests/1%00.json", {"api_key": "K"}),
        ("/requests.json", {"service_code": f"environment{NUL}"}),
        ("/requests.json", {"api_key": f"K{NUL}"}),
        ("/services.json", {"x": NUL}),
    ],
)
async def test_a_nul_in_path_or_query_is_a_spec_error(
    client: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    assert_nul_error(await client.get(f"{BASE}{path}", params=params))
    xml = path.replace(".json", ".xml")
    assert_xml_error(await client.get(f"{BASE}{xml}", params=params), 400)


@pytest.mark.parametrize(
    "fields",
    [
        {"description": f"小区门口垃圾堆积{NUL}三天无人清运"},
        {"description": NUL * 6},
        {"address_string": f"玉溪苑{NUL}3号楼"},
        {"attribute[hotline_no]": f"12345{NUL}"},
        {f"attribute[x{NUL}]": "1"},
    ],
)
async def test_a_nul_in_a_posted_form_is_a_spec_error(
    client: httpx.AsyncClient, session: AsyncSession, world: World, fields: dict[str, str]
) -> None:
    _, key = await make_api_client(session, world.tree.community)
    r = await client.post(f"{BASE}/requests.json", data=form(key, **fields))
    assert_nul_error(r)
    if any(NUL in name for name in fields):
        return  # httpx writes a NUL in a multipart name as the text %00
    # The same fields as multipart/form-data (a file part forces it).
    r = await client.post(
        f"{BASE}/requests.json",
        data=form(key, **fields),
        files={"media": ("a.txt", b"\x00binary\x00", "application/octet-stream")},
    )
    assert_nul_error(r)


async def _held_case(
    client: httpx.AsyncClient, session: AsyncSession, world: World, moderation: str
) -> int:
    r = await submit(client, world.h(world.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    report = await session.get(Report, r.json()["id"])
    assert report is not None
    report.moderation = moderation
    await session.flush()
    return report.id


@pytest.mark.parametrize("moderation", ["review", "pending", "blocked"])
async def test_text_held_by_content_security_is_hidden_from_keys(
    client: httpx.AsyncClient, session: AsyncSession, world: World, moderation: str
) -> None:
    rid = await _held_case(client, session, world, moderation)
    _, key = await make_api_client(session, world.tree.community, ["reports:read"])

    r = await client.get(f"{BASE}/requests/{rid}.json", params={"api_key": key})
    assert r.status_code == 200, r.text
    [one] = r.json()
    assert one["description"] == HIDDEN_TEXT
    r = await client.get(f"{BASE}/requests.json", params={"api_key": key})
    [listed] = [x for x in r.json() if x["service_request_id"] == str(rid)]
    assert listed["description"] == HIDDEN_TEXT
    r = await client.get(f"{BASE}/requests/{rid}.xml", params={"api_key": key})
    assert ET.fromstring(r.content).findtext("request/description") == HIDDEN_TEXT
    assert "垃圾堆积" not in r.text


async def test_passed_text_is_shown_and_a_key_sees_what_it_filed(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    rid = await _held_case(client, session, world, "pass")
    _, key = await make_api_client(session, world.tree.community, ["reports:read"])
    r = await client.get(f"{BASE}/requests/{rid}.json", params={"api_key": key})
    assert r.json()[0]["description"] == "小区门口垃圾堆积三天无人清运"

    # Like a resident with their own case, the client that filed a case
    # reads its text back even while it is held.
    _, writer = await make_api_client(session, world.tree.community)
    r = await client.post(f"{BASE}/requests.json", data=form(writer))
    assert r.status_code == 201, r.text
    own = int(r.json()[0]["service_request_id"])
    report = await session.get(Report, own)
    assert report is not None
    report.moderation = "review"
    await session.flush()
    r = await client.get(f"{BASE}/requests/{own}.json", params={"api_key": writer})
    assert r.json()[0]["description"] == "小区门口垃圾堆积三天无人清运"
    r = await client.get(f"{BASE}/requests/{own}.json", params={"api_key": key})
    assert r.json()[0]["description"] == HIDDEN_TEXT


async def test_a_key_reads_phone_numbers_in_the_text_masked(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """As through /api/v1 with the same key (tests/security/test_api_key_case_text.py)."""
    text = "楼道灯坏了，联系电话 13987654321"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    _, key = await make_api_client(session, world.tree.community, ["reports:read"])
    r = await client.get(f"{BASE}/requests/{r.json()['id']}.json", params={"api_key": key})
    assert r.json()[0]["description"] == "楼道灯坏了，联系电话 139****4321"


async def test_errors_before_a_route_runs_are_in_the_spec_format(
    client: httpx.AsyncClient,
) -> None:
    """A method the path does not take, or a body over the limit: refused before
    any Open311 route runs, still in the spec's format (JSON list or XML)."""
    r = await client.delete("/open311/v2/requests.json")
    assert r.status_code == 405, r.text
    [error] = r.json()
    assert error["code"] == 405 and error["description"]
    assert "allow" in r.headers
    r = await client.delete("/open311/v2/requests.xml")
    assert r.status_code == 405
    root = ET.fromstring(r.content)
    assert root.tag == "errors" and root[0].findtext("code") == "405"
    r = await client.post(
        "/open311/v2/requests.json",
        content=b"description=" + b"x" * (2 * 1024 * 1024),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 413, r.text
    [error] = r.json()
    assert error["code"] == 413
    # The rest of the API keeps its envelope.
    r = await client.delete("/api/v1/categories")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "http.method_not_allowed"
