"""Every SQL statement of the policy domain: postings, ranking, lists, scope.

Ranking is BM25 with a separate saturation per field. A posting stores its
term's weight in its policy, computed in Python when the policy is published
(``posting_weight``); a search multiplies the weights by the terms' inverse
document frequencies and adds them up per policy (``rank``). The frequencies
come from one count query and the logarithm is taken here, so no database
needs a logarithm function.

Both numbers are whole multiples of 1/SCALE (stored and passed as integers),
so every product and sum is an integer far below 2**53 and exact in floating
point: SQLite and PostgreSQL compute bit-identical scores whatever order they
add rows in, and order ties the same way (newer id first).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    String,
    and_,
    case,
    delete,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.org.models import Region
from app.policies.models import Policy, PolicyTag, PolicyTerm

# BM25 parameters. A title hit is worth more than any number of body hits of
# the same word: TITLE_WEIGHT times a saturated title frequency (about 1 for a
# single hit) exceeds the ceiling of the body's saturation, K1 + 1.
K1 = 1.2
B_TITLE = 0.3  # titles vary little in length: normalise them gently
B_BODY = 0.75
TITLE_WEIGHT = 3.0
# Reference lengths (in terms) that a field's length is normalised against:
# a title, and the body of a one-page notice. They stand in for the
# collection's average lengths, so a policy's weights never change when other
# policies come and go: its postings are written once, when it is published,
# and a search reads nothing but postings.
REF_TITLE_TERMS = 12.0
REF_BODY_TERMS = 200.0
# Fixed-point unit of weights and idfs: 4 decimals, far finer than any
# difference in relevance, and products of at most ~10**10.
SCALE = 10_000
# Bulk inserts stay below SQLite's limit of bound parameters per statement.
INSERT_BATCH = 1_000


def saturation(tf: int, length: int, ref_length: float, b: float) -> float:
    """BM25's term-frequency saturation, normalised by field length."""
    if tf == 0:
        return 0.0
    return tf * (K1 + 1) / (tf + K1 * (1 - b + b * length / ref_length))


def posting_weight(title_tf: int, body_tf: int, title_len: int, body_len: int) -> int:
    """What one term contributes to a policy's score before its idf, in 1/SCALE."""
    weight = TITLE_WEIGHT * saturation(title_tf, title_len, REF_TITLE_TERMS, B_TITLE) + saturation(
        body_tf, body_len, REF_BODY_TERMS, B_BODY
    )
    return round(weight * SCALE)


def idf(documents: int, frequency: int) -> int:
    """BM25 inverse document frequency (Lucene's form, never negative), in 1/SCALE."""
    return round(math.log(1 + (documents - frequency + 0.5) / (frequency + 0.5)) * SCALE)


def score_value(units: float) -> float:
    """A score as shown to clients, from the integer sum of idf × weight."""
    return round(units / (SCALE * SCALE), 4)


@dataclass
class Audience:
    """Whose lists these are: the regions whose policies they are offered.

    A policy with no region is offered to everyone. Otherwise a policy is
    offered when its region is one of ``region_ids``, or a root of the tree
    (``roots``), or lies under one of ``subtree_paths``; ``everything`` is for
    superadmins.
    """

    everything: bool = False
    roots: bool = False
    region_ids: set[int] = field(default_factory=set)
    subtree_paths: list[str] = field(default_factory=list)

    def clause(self, region_id: Any) -> ColumnElement[bool]:
        """SQL: the policy whose region is in ``region_id`` is offered."""
        if self.everything:
            return true()
        parts: list[ColumnElement[bool]] = [region_id.is_(None)]
        if self.region_ids:
            parts.append(region_id.in_(sorted(self.region_ids)))
        if self.roots:
            parts.append(region_id.in_(select(Region.id).where(Region.parent_id.is_(None))))
        if self.subtree_paths:
            under = or_(*[Region.path.startswith(p, autoescape=True) for p in self.subtree_paths])
            parts.append(region_id.in_(select(Region.id).where(under)))
        return or_(*parts)


@dataclass(frozen=True)
class Filters:
    audience: Audience
    category: str | None = None
    tag: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        """On ``policy`` rows."""
        out = [Policy.status == "published", self.audience.clause(Policy.region_id)]
        if self.category is not None:
            out.append(Policy.category == self.category)
        if self.tag is not None:
            out.append(exists().where(PolicyTag.policy_id == Policy.id, PolicyTag.tag == self.tag))
        return out

    def posting_clauses(self) -> list[ColumnElement[bool]]:
        """On ``policy_term`` rows (all published). Category and tag are small
        sets of ids, each read once through its index, never a policy row per posting."""
        out = [self.audience.clause(PolicyTerm.region_id)]
        if self.category is not None:
            out.append(
                PolicyTerm.policy_id.in_(
                    select(Policy.id).where(
                        Policy.status == "published", Policy.category == self.category
                    )
                )
            )
        if self.tag is not None:
            out.append(
                PolicyTerm.policy_id.in_(
                    select(PolicyTag.policy_id).where(PolicyTag.tag == self.tag)
                )
            )
        return out


# ------------------------------------------------------------------ writing


async def replace_postings(
    session: AsyncSession, policy: Policy, title: Counter[str], body: Counter[str]
) -> None:
    await delete_postings(session, policy.id)
    rows = [
        {
            "term": term,
            "policy_id": policy.id,
            "weight": posting_weight(title[term], body[term], policy.title_len, policy.body_len),
            "region_id": policy.region_id,
        }
        for term in sorted(set(title) | set(body))
    ]
    for start in range(0, len(rows), INSERT_BATCH):
        await session.execute(insert(PolicyTerm), rows[start : start + INSERT_BATCH])


async def delete_postings(session: AsyncSession, policy_id: int) -> None:
    await session.execute(delete(PolicyTerm).where(PolicyTerm.policy_id == policy_id))


async def replace_tags(session: AsyncSession, policy_id: int, tags: Iterable[str]) -> None:
    await session.execute(delete(PolicyTag).where(PolicyTag.policy_id == policy_id))
    rows = [{"policy_id": policy_id, "tag": t} for t in dict.fromkeys(tags)]
    if rows:
        await session.execute(insert(PolicyTag), rows)


# ------------------------------------------------------------------ ranking


async def frequencies(session: AsyncSession, terms: Sequence[str]) -> tuple[int, dict[str, int]]:
    """The number of published policies, and how many of them contain each term
    (one round trip)."""
    by_term = select(PolicyTerm.term, func.count()).where(PolicyTerm.term.in_(list(terms)))
    published = select(literal(None, String()), func.count()).where(Policy.status == "published")
    rows = (await session.execute(union_all(by_term.group_by(PolicyTerm.term), published))).all()
    documents = next(int(n) for term, n in rows if term is None)
    return documents, {term: int(n) for term, n in rows if term is not None}


def score_expression(idfs: dict[str, int]) -> ColumnElement[float]:
    """Σ over the query terms found in a policy of idf × posting weight."""
    idf_of = case(
        {term: literal(float(w), Float()) for term, w in idfs.items()},
        value=PolicyTerm.term,
        else_=literal(0.0, Float()),
    )
    return func.sum(idf_of * PolicyTerm.weight)


async def rank(
    session: AsyncSession,
    *,
    idfs: dict[str, int],
    filters: Filters,
    offset: int,
    limit: int,
) -> list[tuple[int, float]]:
    """Ids and scores (in SCALE² units) of the matching policies, best first;
    ties: newer id first."""
    if not idfs:
        return []
    score = score_expression(idfs).label("score")
    stmt = (
        select(PolicyTerm.policy_id, score)
        .where(PolicyTerm.term.in_(sorted(idfs)), *filters.posting_clauses())
        .group_by(PolicyTerm.policy_id)
        .order_by(score.desc(), PolicyTerm.policy_id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [(int(pid), float(s)) for pid, s in await session.execute(stmt)]


# ------------------------------------------------------------------ lists


async def browse(
    session: AsyncSession,
    *,
    filters: Filters,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Policy]:
    """Newest published first, for a list without search words."""
    stmt = select(Policy).where(*filters.clauses())
    if after is not None:
        at, last_id = after
        stmt = stmt.where(
            or_(Policy.published_at < at, and_(Policy.published_at == at, Policy.id < last_id))
        )
    stmt = stmt.order_by(Policy.published_at.desc(), Policy.id.desc()).limit(limit)
    return list(await session.scalars(stmt))


async def policies_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Policy]:
    if not ids:
        return {}
    rows = await session.scalars(select(Policy).where(Policy.id.in_(list(ids))))
    return {p.id: p for p in rows}


async def categories(session: AsyncSession, *, filters: Filters) -> list[tuple[str, int]]:
    n = func.count(Policy.id)
    rows = await session.execute(
        select(Policy.category, n)
        .where(*filters.clauses())
        .group_by(Policy.category)
        .order_by(n.desc(), Policy.category)
    )
    return [(c, int(k)) for c, k in rows]


async def titles_containing(
    session: AsyncSession, *, folded: str, filters: Filters, limit: int
) -> list[tuple[int, str]]:
    """Visible published titles containing ``folded``: those starting with it
    first, then shorter titles, then newer ones."""
    starts = case((Policy.title_folded.startswith(folded, autoescape=True), 0), else_=1)
    rows = await session.execute(
        select(Policy.id, Policy.title)
        .where(Policy.title_folded.contains(folded, autoescape=True), *filters.clauses())
        .order_by(starts, func.length(Policy.title), Policy.id.desc())
        .limit(limit)
    )
    return [(int(i), t) for i, t in rows]


async def visible_term_frequencies(
    session: AsyncSession, *, terms: Sequence[str], filters: Filters
) -> dict[str, int]:
    """How many visible published policies contain each of ``terms``."""
    if not terms:
        return {}
    rows = await session.execute(
        select(PolicyTerm.term, func.count())
        .where(PolicyTerm.term.in_(list(terms)), *filters.posting_clauses())
        .group_by(PolicyTerm.term)
    )
    return {t: int(n) for t, n in rows}


async def region_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.execute(select(Region.id, Region.name).where(Region.id.in_(wanted)))
    return {int(i): n for i, n in rows}


async def admin_list(
    session: AsyncSession,
    *,
    scope: ColumnElement[bool],
    status: str | None,
    category: str | None,
    title_folded: str | None,
    before_id: int | None,
    limit: int,
) -> list[Policy]:
    stmt = select(Policy).where(scope)
    if status is not None:
        stmt = stmt.where(Policy.status == status)
    if category is not None:
        stmt = stmt.where(Policy.category == category)
    if title_folded:
        stmt = stmt.where(Policy.title_folded.contains(title_folded, autoescape=True))
    if before_id is not None:
        stmt = stmt.where(Policy.id < before_id)
    return list(await session.scalars(stmt.order_by(Policy.id.desc()).limit(limit)))


def admin_scope(paths: list[str] | None) -> ColumnElement[bool]:
    """Policies an admin manages: those whose region lies in their subtrees;
    ``None`` (superadmin) means all, region-less ones included."""
    if paths is None:
        return true()
    if not paths:
        return false()
    under = or_(*[Region.path.startswith(p, autoescape=True) for p in paths])
    return Policy.region_id.in_(select(Region.id).where(under))
