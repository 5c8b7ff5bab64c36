"""GeoReport v2 conformance: what an integrator's client sends and reads as
the spec has it (open311.github.io, GeoReport_v2), with every refusal in the
spec's error format, its description in Chinese naming the spec's parameters
(lat, long, address_string …), never ours (lng, address)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import Settings
from app.integrations.models import Open311Request
from app.open311 import router as open311_router
from app.open311 import service as open311_service
from app.reports.models import Category, Report
from tests.integrations.helpers import make_api_client
from tests.open311.test_open311 import BASE, assert_spec_error, form
from tests.reports.helpers import IN_GRID, World, make_world, submit, upload, wgs

FORM_TYPE = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _key(session: AsyncSession, world: World) -> str:
    _, key = await make_api_client(session, world.tree.community)
    return key


def _message(r: httpx.Response, status: int = 400) -> str:
    assert_spec_error(r, status)
    description: str = r.json()[0]["description"]
    return description


def _xml_message(r: httpx.Response, status: int = 400) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "errors" and root.findtext("error/code") == str(status)
    return root.findtext("error/description") or ""


async def _count(session: AsyncSession) -> int:
    session.expire_all()
    return await session.scalar(select(func.count()).select_from(Report)) or 0


def _raw_form(key: str, **fields: bytes) -> bytes:
    body = {
        "api_key": key.encode(),
        "service_code": b"environment",
        "lat": str(IN_GRID[1]).encode(),
        "long": str(IN_GRID[0]).encode(),
        **fields,
    }
    return b"&".join(name.encode() + b"=" + value for name, value in body.items())


# ------------------------------------------------------------------ 1. file parts


@pytest.mark.parametrize(
    ("name", "suffix"), [("lat", "json"), ("long", "xml"), ("description", "json")]
)
async def test_a_file_part_where_text_is_expected_is_a_400(
    client: httpx.AsyncClient, session: AsyncSession, world: World, name: str, suffix: str
) -> None:
    key = await _key(session, world)
    data = {k: v for k, v in form(key).items() if k != name}
    files = {name: ("f.txt", b"35.0", "text/plain")}
    r = await client.post(f"{BASE}/requests.{suffix}", data=data, files=files)
    message = _message(r) if suffix == "json" else _xml_message(r)
    assert name in message and "文件" in message
    assert await _count(session) == 0


async def test_a_file_part_named_address_id_is_not_a_location(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    data = form(key, lat=None, long=None)
    r = await client.post(
        f"{BASE}/requests.json", data=data, files={"address_id": ("a.txt", b"A-1", "text/plain")}
    )
    assert "address_id" in _message(r)
    # Another file part (not a spec field) is no text field: ignored.
    r = await client.post(
        f"{BASE}/requests.json", data=form(key), files={"media": ("a.jpg", b"x", "image/jpeg")}
    )
    assert r.status_code == 201, r.text


# ------------------------------------------------------------------ 2. UTF-8


@pytest.mark.parametrize("encoded", [False, True])
async def test_url_encoded_text_is_read_as_utf8_raw_or_percent_encoded(
    client: httpx.AsyncClient, session: AsyncSession, world: World, encoded: bool
) -> None:
    from urllib.parse import quote_plus

    key = await _key(session, world)
    text, address = "井盖缺失有安全隐患", "沁水湾小区 3号楼"

    def value(s: str) -> bytes:
        return quote_plus(s).encode() if encoded else s.replace(" ", "+").encode("utf-8")

    body = _raw_form(key, description=value(text), address_string=value(address))
    headers = {"content-type": "application/x-www-form-urlencoded; charset=iso-8859-1"}
    r = await client.post(f"{BASE}/requests.json", content=body, headers=headers)
    assert r.status_code == 201, r.text
    report = await session.get(Report, int(r.json()[0]["service_request_id"]))
    assert report is not None
    assert report.description == text and report.address == address


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe\xfdabcdefg", b"%FF%FE%FDabcdefg", b"%ED%A0%80abcdefg", b"\xed\xa0\x80abcdefg"],
)
async def test_text_that_is_not_utf8_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, session: AsyncSession, world: World, raw: bytes
) -> None:
    key = await _key(session, world)
    for suffix in ("json", "xml"):
        r = await client.post(
            f"{BASE}/requests.{suffix}", content=_raw_form(key, description=raw), headers=FORM_TYPE
        )
        message = _message(r) if suffix == "json" else _xml_message(r)
        assert "description" in message and "UTF-8" in message
    assert await _count(session) == 0
    assert await session.scalar(select(func.count()).select_from(Open311Request)) == 0


async def test_multipart_text_is_held_to_utf8_too(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    """A multipart form from a system that writes GBK: its text parts are not
    UTF-8, and are refused rather than read as Latin-1 and stored garbled;
    the same form in UTF-8 is filed."""
    key = await _key(session, world)
    text = "井盖缺失有安全隐患"

    def multipart(description: bytes) -> bytes:
        parts = [
            (b"api_key", key.encode()),
            (b"service_code", b"safety"),
            (b"lat", str(IN_GRID[1]).encode()),
            (b"long", str(IN_GRID[0]).encode()),
            (b"description", description),
        ]
        body = b"".join(
            b"--b0undary\r\nContent-Disposition: form-data; name=\"" + name + b"\"\r\n\r\n"
            + value + b"\r\n"
            for name, value in parts
        )  # fmt: skip
        return body + b"--b0undary--\r\n"

    headers = {"content-type": "multipart/form-data; boundary=b0undary"}
    r = await client.post(
        f"{BASE}/requests.json", content=multipart(text.encode("gbk")), headers=headers
    )
    assert "description" in _message(r) and "UTF-8" in _message(r)
    assert await _count(session) == 0
    r = await client.post(
        f"{BASE}/requests.json", content=multipart(text.encode()), headers=headers
    )
    assert r.status_code == 201, r.text
    report = await session.get(Report, int(r.json()[0]["service_request_id"]))
    assert report is not None and report.description == text


# ------------------------------------------------------------------ 3. multivaluelist


async def test_a_multivaluelist_attribute_is_kept_as_a_list(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    body = (
        _raw_form(key, description="路灯不亮已经一周了".encode())
        + b"&attribute[WHISPAWN]=123456&attribute[COLORS][]=red&attribute%5BCOLORS%5D%5B%5D=blue"
    )
    r = await client.post(f"{BASE}/requests.json", content=body, headers=FORM_TYPE)
    assert r.status_code == 201, r.text
    rid = int(r.json()[0]["service_request_id"])
    row = await session.scalar(select(Open311Request).where(Open311Request.report_id == rid))
    assert row is not None
    assert row.attributes == {"WHISPAWN": "123456", "COLORS": ["red", "blue"]}


@pytest.mark.parametrize(
    "fields",
    [
        {"attribute[a]": "1", "attribute[a][]": "2"},
        {"attribute[a][]": ["v"] * 21},
        {f"attribute[a{i}]": "v" for i in range(21)},
        {"attribute[a][]": "x" * 501},
        {"attribute[]": "x"},
    ],
)
async def test_attribute_limits_hold_for_lists_too(
    client: httpx.AsyncClient, session: AsyncSession, world: World, fields: dict[str, Any]
) -> None:
    key = await _key(session, world)
    r = await client.post(f"{BASE}/requests.json", data=form(key, **fields))
    assert "attribute" in _message(r)


# ------------------------------------------------------------------ 4. realtime: no token


async def test_a_realtime_service_answers_the_id_and_no_token(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    r = await client.get(f"{BASE}/services.json")
    assert {s["type"] for s in r.json()} == {"realtime"}
    r = await client.post(f"{BASE}/requests.json", data=form(key))
    assert r.status_code == 201, r.text
    [created] = r.json()
    assert created["service_request_id"] and "token" not in created
    r = await client.post(f"{BASE}/requests.xml", data=form(key))
    assert ET.fromstring(r.content).find("request/token") is None


# ------------------------------------------------------------------ 5, 6, 11, 12. GET requests parameters


async def _cases(client: httpx.AsyncClient, key: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        r = await client.post(
            f"{BASE}/requests.json", data=form(key, description=f"小区门口垃圾堆积第{i}次")
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()[0]["service_request_id"])
    return ids


async def test_the_default_page_is_the_specs_first_1000(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    await _cases(client, key, 51)
    r = await client.get(f"{BASE}/requests.json", params={"api_key": key})
    assert r.status_code == 200, r.text
    assert len(r.json()) == 51
    r = await client.get(f"{BASE}/requests.json", params={"api_key": key, "page_size": 1000})
    assert r.status_code == 200, r.text
    r = await client.get(f"{BASE}/requests.json", params={"api_key": key, "page_size": 1001})
    assert "page_size" in _message(r)


async def test_service_request_id_takes_at_most_1000_ids(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    [rid] = await _cases(client, key, 1)
    ids = ",".join(str(i) for i in range(1, 1002))
    r = await client.get(
        f"{BASE}/requests.json", params={"api_key": key, "service_request_id": ids}
    )
    assert "service_request_id" in _message(r) and "1000" in _message(r)
    # Repeated and empty elements do not count.
    ids = ",".join([rid] * 1500 + [""] * 5 + [str(i) for i in range(10**6, 10**6 + 999)])
    r = await client.get(
        f"{BASE}/requests.json", params={"api_key": key, "service_request_id": ids}
    )
    assert r.status_code == 200, r.text
    assert [x["service_request_id"] for x in r.json()] == [rid]


async def test_repeated_and_empty_list_parameters(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    [rid] = await _cases(client, key, 1)

    async def ids(query: str) -> list[str]:
        r = await client.get(f"{BASE}/requests.json?api_key={key}&{query}")
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    # Empty: as if not declared.
    for query in ("status=", "status=,", "service_request_id=,", "service_code=", "service_code=,"):
        assert await ids(query) == [rid], query
    # Repeated: merged, as if comma-joined.
    assert await ids("status=closed&status=open") == [rid]
    assert await ids("service_code=power_outage&service_code=environment") == [rid]
    assert await ids("service_code=power_outage") == []
    assert await ids(f"service_request_id=999999&service_request_id={rid}") == [rid]
    r = await client.get(f"{BASE}/requests.json?api_key={key}&status=open&status=pending")
    assert "status" in _message(r)


# ------------------------------------------------------------------ 13, 14. dates


async def test_end_date_includes_its_own_second(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    created = datetime(2026, 11, 22, 22, 29, 6, 700_000, tzinfo=UTC)  # 06:29:06.7 +08:00
    clock.set_now(created)
    [rid] = await _cases(client, key, 1)
    clock.set_now(created + timedelta(minutes=5))

    async def ids(**params: str) -> list[str]:
        r = await client.get(f"{BASE}/requests.json", params={"api_key": key, **params})
        assert r.status_code == 200, r.text
        return [x["service_request_id"] for x in r.json()]

    second = "2026-11-23T06:29:06+08:00"
    assert await ids(end_date=second) == [rid]
    assert await ids(start_date=second, end_date=second) == [rid]  # a one-second window
    assert await ids(end_date="2026-11-23T06:29:05+08:00") == []
    assert await ids(start_date="2026-11-23T06:29:07+08:00") == []


async def test_a_start_in_the_future_is_an_empty_list_and_a_reversed_range_a_400(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    await _cases(client, key, 1)
    future = (clock.now() + timedelta(days=3)).isoformat()
    r = await client.get(f"{BASE}/requests.json", params={"api_key": key, "start_date": future})
    assert r.status_code == 200, r.text
    assert r.json() == []
    r = await client.get(
        f"{BASE}/requests.json",
        params={
            "api_key": key,
            "start_date": "2026-11-20T00:00:00Z",
            "end_date": "2026-11-19T00:00:00Z",
        },
    )
    assert "end_date" in _message(r)


# ------------------------------------------------------------------ 8, 9, 17, 18. POST refusals


@pytest.mark.parametrize("length", [1001, 1500, 2001, 4000])
async def test_every_over_long_description_gets_the_same_message(
    client: httpx.AsyncClient, session: AsyncSession, world: World, length: int
) -> None:
    key = await _key(session, world)
    r = await client.post(f"{BASE}/requests.json", data=form(key, description="很" * length))
    assert _message(r) == "description 最多 1000 个字（去掉首尾空白后）"


async def test_description_rules_apply_after_trimming(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    padded = " " * 3000 + "小区门口垃圾堆积" + " " * 3000
    r = await client.post(f"{BASE}/requests.json", data=form(key, description=padded))
    assert r.status_code == 201, r.text
    r = await client.post(f"{BASE}/requests.json", data=form(key, description="   坏了  "))
    message = _message(r)
    assert "description" in message and "5" in message


async def test_a_long_address_string_is_named_as_the_spec_names_it(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    r = await client.post(f"{BASE}/requests.json", data=form(key, address_string="沁" * 201))
    message = _message(r)
    assert message == "address_string 最多 200 个字"


async def test_address_id_alone_is_not_a_location(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    key = await _key(session, world)
    r = await client.post(
        f"{BASE}/requests.json", data=form(key, lat=None, long=None, address_id="A-123")
    )
    message = _message(r)
    assert "address_id" in message and "address_string" in message and "lat" in message
    assert await _count(session) == 0
    # With a location, address_id is ignored.
    r = await client.post(f"{BASE}/requests.json", data=form(key, address_id="A-123"))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("json", "application/json"),
        ("text", "text/plain"),
        ("text", None),
    ],
)
async def test_a_body_that_is_not_a_form_is_a_400_naming_the_accepted_types(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    content: str,
    content_type: str | None,
) -> None:
    key = await _key(session, world)
    data = form(key)
    body = json.dumps(data) if content == "json" else "&".join(f"{k}={v}" for k, v in data.items())
    headers = {"x-api-key": key}
    if content_type:
        headers["content-type"] = content_type
    r = await client.post(f"{BASE}/requests.json", content=body.encode(), headers=headers)
    message = _message(r)
    assert "application/x-www-form-urlencoded" in message and "multipart/form-data" in message
    r = await client.post(f"{BASE}/requests.xml", content=body.encode(), headers=headers)
    assert "multipart/form-data" in _xml_message(r)
    assert await _count(session) == 0


@pytest.mark.parametrize(
    ("lat", "long", "expected"),
    [
        ("35.0", "181", "long 应在 -180 到 180 之间"),
        ("91", "112.9", "lat 应在 -90 到 90 之间"),
        ("nan", "112.9", "lat 应为有限的数值"),
        ("inf", "112.9", "lat 应为有限的数值"),
        ("1e999", "112.9", "lat 应为有限的数值"),
        ("35.0", "-inf", "long 应为有限的数值"),
        ("35.0", "east", "long 应为数字（WGS-84 十进制度）"),
    ],
)
async def test_coordinates_are_refused_in_the_specs_words(
    client: httpx.AsyncClient,
    session: AsyncSession,
    world: World,
    lat: str,
    long: str,
    expected: str,
) -> None:
    key = await _key(session, world)
    r = await client.post(f"{BASE}/requests.json", data=form(key, lat=lat, long=long))
    message = _message(r)
    assert message == expected
    assert "lng" not in message


# ------------------------------------------------------------------ 10. discovery


async def test_discovery_changeset_follows_the_services_and_contact_is_never_empty(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    r = await client.get(f"{BASE}/discovery.json")
    body = r.json()
    assert body["contact"]
    first = datetime.fromisoformat(body["changeset"])
    assert first <= clock.now()
    assert body["endpoints"][0]["changeset"] == body["changeset"]

    # A category changed through the ORM moves the changeset.
    later = clock.now() + timedelta(minutes=3)
    clock.set_now(later)
    category = await session.scalar(select(Category).where(Category.code == "environment"))
    assert category is not None
    category.name = "环境卫生（新）"
    await session.flush()
    assert category.updated_at == later
    r = await client.get(f"{BASE}/discovery.json")
    assert datetime.fromisoformat(r.json()["changeset"]) == later.replace(microsecond=0)

    # Never in the future, whatever a row says.
    category.updated_at = later + timedelta(days=30)
    await session.flush()
    assert await open311_service.changeset(session) == later
    root = ET.fromstring((await client.get(f"{BASE}/discovery.xml")).content)
    assert datetime.fromisoformat(root.findtext("changeset") or "") <= later


async def test_discovery_contact_is_the_configured_one(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"open311_contact": "12345 热线对接：0391-5551234"}
    )
    r = await client.get(f"{BASE}/discovery.json")
    assert r.json()["contact"] == "12345 热线对接：0391-5551234"


# ------------------------------------------------------------------ 20. public URL


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("https://ejia.example.cn/", "https://ejia.example.cn"),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
        ("", None),
    ],
)
def test_public_url_is_a_bare_origin(given: str, stored: str | None) -> None:
    assert Settings(public_url=given).public_url == stored


@pytest.mark.parametrize(
    "given",
    [
        "ftp://ejia.example.cn",
        "https://ejia.example.cn/api",
        "https://ejia.example.cn?x=1",
        "https://ejia.example.cn#a",
        "ejia.example.cn",
        "https://",
    ],
)
def test_public_url_refuses_anything_else(given: str) -> None:
    with pytest.raises(ValidationError):
        Settings(public_url=given)


async def test_absolute_urls_come_from_the_public_url_not_the_host_header(
    client: httpx.AsyncClient, session: AsyncSession, world: World, app: FastAPI
) -> None:
    resident = world.h(world.resident)
    photo = await upload(client, resident)
    case = (await submit(client, resident, location=wgs(IN_GRID), media_ids=[photo["id"]])).json()
    _, key = await make_api_client(session, world.tree.community, ["reports:read"])
    evil = {"host": "evil.example.com"}
    # Without it (development): the address the request came to.
    r = await client.get(f"{BASE}/discovery.json", headers=evil)
    assert r.json()["endpoints"][0]["url"] == "http://evil.example.com/open311/v2"

    app.state.settings = app.state.settings.model_copy(
        update={"public_url": "https://ejia.example.cn"}
    )
    r = await client.get(f"{BASE}/discovery.json", headers=evil)
    assert r.json()["endpoints"][0]["url"] == "https://ejia.example.cn/open311/v2"
    r = await client.get(
        f"{BASE}/requests/{case['id']}.json", params={"api_key": key}, headers=evil
    )
    assert r.json()[0]["media_url"].startswith("https://ejia.example.cn/api/v1/media/")


# ------------------------------------------------------------------ 19. OpenAPI


def test_open311_operations_declare_the_responses_they_give(app: FastAPI) -> None:
    doc = app.openapi()
    operations = {
        (method, path): op
        for path, ops in doc["paths"].items()
        if path.startswith("/open311/")
        for method, op in ops.items()
    }
    assert len(operations) == 7
    for (method, path), op in operations.items():
        responses = op["responses"]
        assert "422" not in responses and "401" not in responses, (method, path)
        assert "400" in responses and "default" in responses
        schema = responses["400"]["content"]["application/json"]["schema"]
        assert schema["type"] == "array"
        assert set(schema["items"]["required"]) == {"code", "description"}
    listing = operations[("get", "/open311/v2/requests.{format}")]
    names = {p["name"] for p in listing["parameters"]}
    assert names >= {
        "format",
        "api_key",
        "service_request_id",
        "service_code",
        "start_date",
        "end_date",
        "status",
        "page",
        "page_size",
    }
    assert "403" in listing["responses"] and "429" in listing["responses"]
    post = operations[("post", "/open311/v2/requests.{format}")]
    content = post["requestBody"]["content"]
    assert set(content) == {"application/x-www-form-urlencoded", "multipart/form-data"}
    fields = content["application/x-www-form-urlencoded"]["schema"]["properties"]
    assert {"service_code", "lat", "long", "address_string", "description"} <= set(fields)
    assert "201" in post["responses"]


def test_router_limits_are_the_specs() -> None:
    assert open311_router.DEFAULT_PAGE_SIZE == open311_router.MAX_PAGE_SIZE == 1000
    assert open311_router.MAX_IDS == 1000
