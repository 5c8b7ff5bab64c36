"""GET /policies, /policies/{id}, /policies/suggest and /policies/categories:
who is offered what, hostile queries, filters, paging and highlighting."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import load_principal
from app.core.settings import Settings
from app.policies.exceptions import PolicyNotFound
from app.policies.service import get_visible_policy
from tests.factories import make_region, make_staff
from tests.policies.corpus import DOCS
from tests.policies.helpers import (
    CATEGORIES,
    SEARCH,
    SUGGEST,
    Callers,
    add_doc,
    add_policy,
    load_corpus,
    make_callers,
    search,
)


@pytest.fixture
async def callers(session: AsyncSession, settings: Settings) -> Callers:
    return await make_callers(session, settings)


def ids(page: dict[str, Any]) -> list[int]:
    return [item["id"] for item in page["items"]]


# ------------------------------------------------------------------ visibility


@pytest.fixture
async def scoped(session: AsyncSession, callers: Callers) -> dict[str, int]:
    """One published 低保 policy at each level, plus a draft and an archived one."""
    c, t = callers, callers.tree
    made = {
        "everywhere": await add_policy(session, c.superadmin, title="低保 全市"),
        "district": await add_policy(session, c.district_admin, title="低保 区县"),
        "street": await add_policy(session, c.street_admin, title="低保 街道"),
        "community": await add_policy(session, c.community_admin, title="低保 社区"),
        "grid": await add_policy(
            session, c.community_admin, title="低保 网格", region_id=t.grid.id
        ),
        "other_community": await add_policy(
            session, c.other_community_admin, title="低保 另一社区"
        ),
        "draft": await add_policy(session, c.district_admin, title="低保 草稿", publish=False),
    }
    archived = await add_policy(session, c.district_admin, title="低保 归档")
    principal = await load_principal(session, c.district_admin)
    from app.policies import service

    await service.transition(session, principal=principal, policy_id=archived.id, action="archive")
    made["archived"] = archived
    other_district = await make_region(session, level="district", name="邻区")
    other_admin = await make_staff(session, "district_admin", other_district)
    made["other_district"] = await add_policy(session, other_admin, title="低保 邻区")
    return {k: p.id for k, p in made.items()}


def keys_of(page: dict[str, Any], scoped: dict[str, int]) -> set[str]:
    names = {v: k for k, v in scoped.items()}
    return {names[i] for i in ids(page) if i in names}


async def test_anonymous_and_homeless_residents_see_district_wide_policies(
    client: httpx.AsyncClient, callers: Callers, scoped: dict[str, int]
) -> None:
    expected = {"everywhere", "district", "other_district"}
    for headers in ({}, callers.h(callers.homeless_resident)):
        for q in ("低保", None):
            page = await search_as(client, headers, q=q)
            assert keys_of(page, scoped) == expected, (headers, q)


async def search_as(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    params = {k: v for k, v in params.items() if v is not None}
    r = await client.get(SEARCH, params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_resident_sees_the_policies_on_the_way_to_their_grid(
    client: httpx.AsyncClient, callers: Callers, scoped: dict[str, int]
) -> None:
    page = await search_as(client, callers.h(callers.resident), q="低保")
    assert keys_of(page, scoped) == {"everywhere", "district", "street", "community", "grid"}
    page = await search_as(client, callers.h(callers.far_resident), q="低保")
    assert keys_of(page, scoped) == {"everywhere", "district", "street", "other_community"}


async def test_region_filter_shows_that_regions_chain_to_anyone(
    client: httpx.AsyncClient, callers: Callers, scoped: dict[str, int]
) -> None:
    t = callers.tree
    page = await search_as(client, {}, q="低保", region_id=t.community.id)
    assert keys_of(page, scoped) == {"everywhere", "district", "street", "community"}
    page = await search_as(client, callers.h(callers.resident), region_id=t.other_community.id)
    assert keys_of(page, scoped) == {"everywhere", "district", "street", "other_community"}
    r = await client.get(SEARCH, params={"region_id": 987654321})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"


async def test_staff_see_their_scope_and_what_is_above_it(
    client: httpx.AsyncClient, callers: Callers, scoped: dict[str, int]
) -> None:
    c = callers
    page = await search_as(client, c.h(c.street_admin), q="低保")
    assert keys_of(page, scoped) == {
        "everywhere",
        "district",
        "street",
        "community",
        "grid",
        "other_community",
    }
    page = await search_as(client, c.h(c.worker), q="低保")
    assert keys_of(page, scoped) == {"everywhere", "district", "street", "community", "grid"}
    page = await search_as(client, c.h(c.superadmin), q="低保")
    assert keys_of(page, scoped) == set(scoped) - {"draft", "archived"}


async def test_only_published_policies_are_readable_by_id(
    client: httpx.AsyncClient, callers: Callers, scoped: dict[str, int]
) -> None:
    for key in ("draft", "archived"):
        r = await client.get(f"{SEARCH}/{scoped[key]}")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "policy.not_found"
    assert (await client.get(f"{SEARCH}/987654321")).status_code == 404
    assert (await client.get(f"{SEARCH}/abc")).status_code == 422
    # A published policy is a public document: its page opens for anyone with
    # its id, whichever region it is for (lists only offer it where it applies).
    r = await client.get(f"{SEARCH}/{scoped['other_community']}")
    assert r.status_code == 200
    body = r.json()
    assert body["region_id"] == callers.tree.other_community.id
    assert body["region_name"] == callers.tree.other_community.name
    assert body["in_effect"] is True


async def test_get_visible_policy_for_consultations(
    session: AsyncSession, callers: Callers, scoped: dict[str, int]
) -> None:
    principal = await load_principal(session, callers.resident)
    policy = await get_visible_policy(session, scoped["community"], principal)
    assert policy.id == scoped["community"]
    for key in ("draft", "archived"):
        with pytest.raises(PolicyNotFound) as caught:
            await get_visible_policy(session, scoped[key], principal)
        assert caught.value.code == "policy.not_found"
        assert caught.value.status_code == 404
    with pytest.raises(PolicyNotFound):
        await get_visible_policy(session, 987654321, None)


async def test_categories_in_use_for_the_caller(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    c = callers
    await add_policy(session, c.district_admin, category="医疗保障")
    await add_policy(session, c.district_admin, category="醫療保障")  # folded: same category
    await add_policy(session, c.district_admin, category="社会救助")
    await add_policy(session, c.district_admin, category="草稿分类", publish=False)
    await add_policy(session, c.community_admin, category="社区分类")
    r = await client.get(CATEGORIES)
    assert r.status_code == 200
    assert r.json() == {
        "items": [{"name": "医疗保障", "count": 2}, {"name": "社会救助", "count": 1}],
        "next_cursor": None,
    }
    r = await client.get(CATEGORIES, headers=c.h(c.resident))
    assert [i["name"] for i in r.json()["items"]] == ["医疗保障", "社会救助", "社区分类"]


# ------------------------------------------------------------------ hostile input

HOSTILE = [
    "",
    "   ",
    "\u3000\u3000",
    "！！！？？？",
    "。，、；：",
    '"',
    "'",
    '" OR 1=1 --',
    "' OR '1'='1",
    "'; DROP TABLE policy; --",
    "NEAR(",
    "NEAR(医保 报销, 2)",
    "医保 NEAR 报销",
    "*",
    "医*",
    "医保 AND 报销",
    "医保 OR",
    "NOT 医保",
    "医保 & 报销",
    "医保 | 低保",
    "!医保",
    "title:医保",
    "医保:*",
    "^医保",
    "{医保}",
    "(医保",
    "医保)",
    "%",
    "_",
    "\\",
    "<script>alert(1)</script>",
    "a" * 100,
    "医" * 100,
    "医保 " * 25,
    "🙂🙂",
    "\ud7ff",
]


@pytest.mark.parametrize("q", HOSTILE)
async def test_hostile_queries_get_a_clear_answer(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers, q: str
) -> None:
    await add_doc(session, callers.district_admin, DOCS[0])
    r = await client.get(SEARCH, params={"q": q})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["items"], list)
    for item in body["items"]:
        assert "<script>" not in item["snippet"] + item["title_highlight"]
    r = await client.get("/api/v1/policies/suggest", params={"q": q[:50]})
    assert r.status_code == 200, r.text


async def test_operators_are_words_not_syntax(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    await add_doc(session, callers.district_admin, DOCS[0])
    # "OR" does not widen the search: 医保 OR 低保 is the three words, one of them found.
    assert len((await search(client, q="医保 AND 报销"))["items"]) == 1
    assert (await search(client, q="AND OR NOT NEAR"))["items"] == []
    assert (await search(client, q="！！！"))["items"] == []


@pytest.mark.parametrize(("q", "limit"), [("医" * 101, 20), ("医保", 101), ("医保", 0)])
async def test_too_long_queries_and_limits_are_422(
    client: httpx.AsyncClient, q: str, limit: int
) -> None:
    r = await client.get(SEARCH, params={"q": q, "limit": limit})
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert error["message"].startswith("输入有误")


async def test_five_hundred_characters_is_422(client: httpx.AsyncClient) -> None:
    r = await client.get(SEARCH, params={"q": "医保报销" * 125})
    assert r.status_code == 422
    assert r.json()["error"]["details"]["fields"][0]["field"] == "q"
    r = await client.get(SUGGEST, params={"q": "医" * 51})
    assert r.status_code == 422


async def test_bad_cursor_is_422(client: httpx.AsyncClient) -> None:
    for cursor in ("not-a-cursor", "eyJ4IjoxfQ", "eyJvIjotNX0"):  # garbage, {"x":1}, {"o":-5}
        r = await client.get(SEARCH, params={"q": "医保", "cursor": cursor})
        assert r.status_code == 422, cursor
        assert r.json()["error"]["code"] == "pagination.bad_cursor"
    r = await client.get(SEARCH, params={"cursor": "eyJhdCI6IngiLCJpZCI6MX0"})  # {"at":"x","id":1}
    assert r.status_code == 422


# ------------------------------------------------------------------ results


async def test_search_pages_through_every_result_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await load_corpus(session)
    everything = ids(await search(client, q="补贴", limit=100))
    assert len(everything) > 5
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "补贴", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await search(client, **params)
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


async def test_browse_is_newest_first_and_pages(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    made = [
        (await add_policy(session, callers.district_admin, title=f"政策{i}")).id for i in range(5)
    ]
    page = await search(client, limit=3)
    assert ids(page) == made[::-1][:3]
    assert all(item["score"] is None for item in page["items"])
    page = await search(client, limit=3, cursor=page["next_cursor"])
    assert ids(page) == made[::-1][3:]
    assert page["next_cursor"] is None
    # A blank query is a browse, not an empty result.
    assert ids(await search(client, q="  ")) == made[::-1]


async def test_filters_by_category_and_tag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, keys = await load_corpus(session)
    page = await search(client, q="补贴", category="残疾人")
    assert ids(page) and all(item["category"] == "残疾人" for item in page["items"])
    assert keys["d1"] in ids(page)
    page = await search(client, q="补贴", category="殘疾人")  # traditional: same category
    assert keys["d1"] in ids(page)
    page = await search(client, tag="两项补贴")
    assert ids(page) == [keys["d1"]]
    assert (await search(client, q="补贴", category="不存在的分类"))["items"] == []


async def test_traditional_and_full_width_queries_match(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, keys = await load_corpus(session)
    for q in ("養老認證", "ＡＰＰ 刷臉認證", "低保　申請"):
        assert ids(await search(client, q=q, limit=3)), q
    assert ids(await search(client, q="養老認證", limit=1)) == [keys["a1"]]


async def test_snippet_marks_the_words_in_the_original_text(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    await add_policy(
        session,
        callers.district_admin,
        title="醫療保險報銷 & 說明",
        body="前言" * 60 + "参保人在<定点医院>住院的，**医疗保险**按比例报销。" + "附则" * 60,
    )
    item = (await search(client, q="医保报销"))["items"][0]
    # Traditional characters in the title are marked as written; & is escaped.
    assert item["title_highlight"] == "<em>醫療保險</em><em>報銷</em> &amp; 說明"
    snippet = item["snippet"]
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "&lt;定点医院&gt;" in snippet
    assert "<em>医疗保险</em>" in snippet and "<em>报销</em>" in snippet
    assert "**" not in snippet  # Markdown is not shown
    stripped = snippet.replace("<em>", "").replace("</em>", "")
    assert "<" not in stripped and ">" not in stripped


# ------------------------------------------------------------------ suggest


async def test_suggest_offers_words_then_titles(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    _, keys = await load_corpus(session)
    r = await client.get(SUGGEST, params={"q": "医"})
    assert r.status_code == 200
    items = r.json()["items"]
    terms = [i["text"] for i in items if i["kind"] == "term"]
    titles = [i for i in items if i["kind"] == "title"]
    assert "医保" in terms
    assert all(t.startswith("医") for t in terms)
    assert terms and titles
    assert all(i["policy_id"] is None for i in items if i["kind"] == "term")
    assert r.json()["next_cursor"] is None

    r = await client.get(SUGGEST, params={"q": "医保"})
    titles = [i for i in r.json()["items"] if i["kind"] == "title"]
    # No title contains 医保 literally; the best matches of a search fill in.
    assert keys["m1"] in [i["policy_id"] for i in titles]
    m1 = next(i for i in titles if i["policy_id"] == keys["m1"])
    assert "<em>基本医疗保险</em>" in m1["highlight"]

    r = await client.get(SUGGEST, params={"q": "结婚"})
    items = r.json()["items"]
    assert items[0]["kind"] == "term" and items[0]["text"] == "结婚登记"
    first_title = next(i for i in items if i["kind"] == "title")
    assert first_title["policy_id"] == keys["w1"]
    assert first_title["highlight"] == "<em>结婚</em>登记办理须知"

    r = await client.get(SUGGEST, params={"q": "結婚"})  # traditional input
    assert any(i["policy_id"] == keys["w1"] for i in r.json()["items"])


async def test_suggest_respects_visibility_and_empty_input(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    c = callers
    await add_policy(session, c.community_admin, title="社区高龄津贴发放通知", body="高龄津贴。")
    r = await client.get(SUGGEST, params={"q": "高龄"})
    assert r.json()["items"] == []
    r = await client.get(SUGGEST, params={"q": "高龄"}, headers=c.h(c.resident))
    kinds = [(i["kind"], i["text"]) for i in r.json()["items"]]
    assert ("term", "高龄津贴") in kinds
    assert ("title", "社区高龄津贴发放通知") in kinds
    for q in ("", "   ", "！"):
        r = await client.get(SUGGEST, params={"q": q})
        assert r.status_code == 200
        assert r.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (SEARCH, {"region_id": 2**63}),
        (SEARCH, {"region_id": 0}),
        (f"{SEARCH}/{2**63}", {}),
        (f"{SEARCH}/0", {}),
        (SUGGEST, {"q": "医保", "region_id": 2**64}),
        (CATEGORIES, {"region_id": -1}),
    ],
)
async def test_ids_beyond_64_bits_are_422(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    r = await client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


async def test_control_characters_in_filters_are_harmless(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    await add_doc(session, callers.district_admin, DOCS[0])
    for params in ({"category": "医疗\x01保障"}, {"tag": "\x1f"}, {"q": "医保", "tag": "住\x7f院"}):
        r = await client.get(SEARCH, params=params)
        assert r.status_code == 200, (params, r.text)
        assert r.json()["items"] == []
    r = await client.get(
        "/api/v1/admin/policies",
        params={"category": "\x01", "q": "\x02"},
        headers=callers.h(callers.district_admin),
    )
    assert r.status_code == 200, r.text


async def test_a_nul_in_a_search_is_refused_whichever_the_database(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    """PostgreSQL text cannot hold U+0000: the same answer on both databases."""
    await add_doc(session, callers.district_admin, DOCS[0])
    for params in ({"q": "医保\x00报销"}, {"q": "\x00"}, {"category": "医疗\x00保障"}):
        r = await client.get(SEARCH, params=params)
        assert r.status_code == 422, (params, r.text)
        error = r.json()["error"]
        assert error["code"] == "validation_error"
        assert error["details"]["fields"][0]["loc"] == ["query", next(iter(params))]
    r = await client.get(
        "/api/v1/admin/policies",
        params={"q": "\x00"},
        headers=callers.h(callers.district_admin),
    )
    assert r.status_code == 422, r.text


async def test_forged_cursors_are_422(client: httpx.AsyncClient) -> None:
    from app.core.pagination import encode_cursor

    for value in ({"o": 10**18}, {"o": True}, {"o": "1"}):
        r = await client.get(SEARCH, params={"q": "医保", "cursor": encode_cursor(value)})
        assert r.status_code == 422, value
    for value in ({"at": "2026-01-01T00:00:00+00:00", "id": 2**70}, {"at": "2026-01-01", "id": 1}):
        r = await client.get(SEARCH, params={"cursor": encode_cursor(value)})
        assert r.status_code == 422, value
