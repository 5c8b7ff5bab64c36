"""What a client reads when its input is refused: a body that is not JSON or
not UTF-8, a number too large for an id, a string or a list too short."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, BeforeValidator, Field
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.users.models import Membership
from tests.factories import auth, make_user

NOT_JSON = "请求体不是有效的 JSON"


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class _Probe(BaseModel):
    # The shape app/policies uses: a length constraint inside an Annotated
    # chain makes pydantic report "too_short", as it does for lists.
    title: Annotated[str, BeforeValidator(_strip), Field(min_length=2)] = "标题"
    name: str = Field("名字", min_length=3, max_length=5)
    tags: list[str] = Field(default_factory=lambda: ["a"], min_length=1, max_length=2)


@pytest.fixture
def probe(app: FastAPI) -> FastAPI:
    @app.post("/_probe/messages")
    async def messages(body: _Probe) -> _Probe:
        return body

    return app


async def _post(app: FastAPI, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return await c.post("/_probe/messages", **kwargs)  # type: ignore[arg-type]


def _error(r: httpx.Response) -> dict[str, object]:
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["code"] == "validation_error"
    return err  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "raw",
    [
        '{"title": "中文标题"}'.encode("gbk"),
        b'{"title": "\xff\xfe\xfd"}',
        b"\xc3\x28",
    ],
)
async def test_a_body_that_is_not_utf8_is_a_validation_error(probe: FastAPI, raw: bytes) -> None:
    r = await _post(probe, content=raw, headers={"content-type": "application/json"})
    err = _error(r)
    assert NOT_JSON in str(err["message"])


@pytest.mark.parametrize("raw", [b"{not json", b'{"title": "x",}', b"[1, 2"])
async def test_malformed_json_says_so_plainly(probe: FastAPI, raw: bytes) -> None:
    r = await _post(probe, content=raw, headers={"content-type": "application/json"})
    err = _error(r)
    assert err["message"] == NOT_JSON
    [field] = err["details"]["fields"]  # type: ignore[index]
    assert field["type"] == "json_invalid"
    assert field["field"] == ""


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"title": "  "}, "title", ("太短", "至少 2 个字符")),
        ({"name": "ab"}, "name", ("太短", "至少 3 个字符")),
        ({"name": "abcdef"}, "name", ("太长", "最多 5 个字符")),
        ({"tags": []}, "tags", ("数量太少", "至少 1 项")),
        ({"tags": ["a", "b", "c"]}, "tags", ("数量太多", "最多 2 项")),
    ],
)
async def test_length_messages_speak_of_characters_for_text_and_items_for_lists(
    probe: FastAPI, body: dict[str, object], field: str, words: tuple[str, ...]
) -> None:
    err = _error(await _post(probe, json=body))
    [got] = err["details"]["fields"]  # type: ignore[index]
    assert got["field"] == field
    for word in words:
        assert word in got["message"], got
        assert word in str(err["message"])
    if field != "tags":
        assert "数量" not in got["message"]


async def test_an_empty_policy_title_is_too_short_not_too_few(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    admin = await make_user(session, kind="staff")
    session.add(Membership(user_id=admin.id, role="superadmin", region_id=None))
    await session.flush()
    r = await client.post(
        "/api/v1/admin/policies",
        headers=auth(settings, admin),
        json={"title": "", "body": "正文", "category": "医疗保障"},
    )
    err = _error(r)
    assert "太短" in str(err["message"]), err
    assert "数量" not in str(err["message"])


async def test_an_id_too_large_for_the_database_names_its_field(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    headers = auth(settings, await make_user(session))
    r = await client.post(
        "/api/v1/reports",
        headers=headers,
        json={
            "kind": "issue",
            "category": "environment",
            "description": "小区门口垃圾堆积三天无人清运",
            "media_ids": [1, 2**70],
        },
    )
    err = _error(r)
    fields = err["details"]["fields"]  # type: ignore[index]
    assert [f["field"] for f in fields] == ["media_ids.1"]
    assert fields[0]["loc"] == ["body", "media_ids", "1"]
    assert "media_ids.1" in str(err["message"])


async def test_a_number_too_long_to_convert_is_named_too(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Python refuses int() on more than 4,300 digits: the digits are judged
    by their count, not converted (this was a 500). Leading zeros do not make
    a small number large."""
    from app.users.models import Membership

    admin = await make_user(session, kind="staff")
    session.add(Membership(user_id=admin.id, role="superadmin", region_id=None))
    await session.flush()
    params = {"region_id": "9" * 20, "junk": "9" * 5000, "zeros": "0" * 30 + "7"}
    r = await client.get("/api/v1/admin/reports", params=params, headers=auth(settings, admin))
    err = _error(r)
    fields = err["details"]["fields"]  # type: ignore[index]
    assert sorted(f["field"] for f in fields) == ["junk", "region_id"]
