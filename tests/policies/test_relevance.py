"""Relevance: residents' questions find the right documents (recall@3 ≥ 0.9),
and the ranking is exactly the BM25 of ``repository`` on either database."""

from __future__ import annotations

import math
from collections import Counter

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.policies import repository, text
from app.policies.models import Policy
from tests.policies.corpus import DOCS, QUERIES
from tests.policies.helpers import load_corpus, search

TOP = 3
MIN_RECALL = 0.9


async def test_corpus_and_questions_are_big_enough() -> None:
    assert len(DOCS) >= 40
    assert len(QUERIES) >= 25
    assert len({d.category for d in DOCS}) >= 10
    keys = {d.key for d in DOCS}
    assert len(keys) == len(DOCS)
    assert all(set(expected) <= keys for _, expected in QUERIES)


async def test_recall_at_3(client: httpx.AsyncClient, session: AsyncSession) -> None:
    _, ids = await load_corpus(session)
    key_of = {v: k for k, v in ids.items()}
    recalls = []
    misses = []
    for query, expected in QUERIES:
        page = await search(client, q=query, limit=TOP)
        top = [key_of.get(item["id"], "?") for item in page["items"]]
        recall = len(set(top) & set(expected)) / len(expected)
        recalls.append(recall)
        if recall < 1:
            misses.append(f"{query!r}: want {expected}, got {top}")
    mean = sum(recalls) / len(recalls)
    print(f"recall@{TOP} = {mean:.3f} over {len(QUERIES)} questions")
    assert mean >= MIN_RECALL, f"recall@{TOP} = {mean:.3f}; misses:\n" + "\n".join(misses)


async def test_yibao_baoxiao_finds_the_reimbursement_rules_first(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, ids = await load_corpus(session)
    for query in ("医保报销", "醫保報銷", "医疗保险报销"):
        page = await search(client, q=query, limit=3)
        assert ids["m1"] in [item["id"] for item in page["items"]], (query, page)
    first = (await search(client, q="医保报销", limit=1))["items"][0]
    assert first["title"] == "城乡居民基本医疗保险报销办法"
    # The synonym is highlighted as the document wrote it.
    assert "<em>基本医疗保险</em>" in first["title_highlight"]
    assert "<em>报销</em>" in first["title_highlight"]


def _reference_scores(
    policies: list[Policy], query_terms: tuple[str, ...]
) -> dict[int, tuple[float, int]]:
    """Per policy: the BM25 score from first principles in floating point, and
    the exact fixed-point sum the database should have computed."""
    n = len(policies)
    title = {p.id: Counter(p.title_terms.split()) for p in policies}
    body = {p.id: Counter(p.body_terms.split()) for p in policies}
    k1, w = repository.K1, repository.TITLE_WEIGHT
    scores: dict[int, tuple[float, int]] = {}
    for term in query_terms:
        df = sum(1 for p in policies if title[p.id][term] or body[p.id][term])
        if not df:
            continue
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        for p in policies:
            tf_t, tf_b = title[p.id][term], body[p.id][term]
            if not (tf_t or tf_b):
                continue
            norm_t = 1 - repository.B_TITLE + repository.B_TITLE * p.title_len / 12
            norm_b = 1 - repository.B_BODY + repository.B_BODY * p.body_len / 200
            sat_t = tf_t * (k1 + 1) / (tf_t + k1 * norm_t)
            sat_b = tf_b * (k1 + 1) / (tf_b + k1 * norm_b)
            exact = round(idf * 10_000) * round((w * sat_t + sat_b) * 10_000)
            old_float, old_exact = scores.get(p.id, (0.0, 0))
            scores[p.id] = (old_float + idf * (w * sat_t + sat_b), old_exact + exact)
    return scores


async def test_ranking_is_the_documented_bm25(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """The same numbers on SQLite and PostgreSQL: both equal this reference."""
    await load_corpus(session)
    published = list(await session.scalars(select(Policy).where(Policy.status == "published")))
    for query, _ in QUERIES:
        expected = _reference_scores(published, text.parse_query(query).terms)
        page = await search(client, q=query, limit=100)
        got = {item["id"]: item["score"] for item in page["items"]}
        assert set(got) == set(expected), query
        for pid, score in got.items():
            assert math.isclose(score, expected[pid][0], abs_tol=2e-3), (query, pid)
            assert score == round(expected[pid][1] / 10**8, 4), (query, pid)
        order = sorted(expected, key=lambda pid: (-expected[pid][1], -pid))
        assert [item["id"] for item in page["items"]] == order, query


async def test_title_hit_ranks_above_body_hits(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, ids = await load_corpus(session)
    # 公积金 is in the title of h2 and only in the body of h3 (加装电梯 may use it).
    items = (await search(client, q="公积金"))["items"]
    assert items[0]["id"] == ids["h2"]
    assert ids["h3"] in [i["id"] for i in items[1:]]
