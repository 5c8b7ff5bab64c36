"""Finding policies: search, suggestions as the resident types, categories.

Who is offered which policies (``audience``), the rule of every list here:

- a policy without a region, or scoped to a root of the region tree (a
  district), is offered to everyone;
- a resident with a home grid is offered the policies of every region on the
  path from their district down to that grid (district, street, community,
  grid);
- staff are offered, besides, the policies of the regions they hold a role in,
  of those regions' ancestors and of everything under them; a superadmin all;
- with ``region_id`` the list is for that place instead: the policies of that
  region and its ancestors (how an anonymous visitor browses their street).

Only published policies appear. A published policy's own page is public to
anyone who has its id (``service.get_visible_policy``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.core.errors import Invalid
from app.core.pagination import Page, decode_cursor, encode_cursor, split_page
from app.core.timewin import in_range
from app.org.models import Region
from app.policies import highlight, repository, text
from app.policies.exceptions import RegionNotFound
from app.policies.models import Policy
from app.policies.repository import Audience, Filters
from app.policies.schemas import MAX_ID, CategoryCount, PolicyHit, Suggestion

# Relevance-ranked results page by offset; nobody reads past the first few
# hundred, and a forged cursor must not ask the database for row 10^18.
MAX_OFFSET = 10_000
SUGGEST_TERMS = 5
SUGGEST_TITLES = 5
BAD_CURSOR = ("pagination.bad_cursor", "分页游标无效，请从第一页重新加载")


def _chain(path: str) -> set[int]:
    """Region ids on a materialised path ``/1/5/12/``: the region and its ancestors."""
    return {int(p) for p in path.strip("/").split("/") if p.isdigit()}


async def audience(
    session: AsyncSession, principal: Principal | None, region_id: int | None
) -> Audience:
    if region_id is not None:
        region = await session.get(Region, region_id)
        if region is None:
            raise RegionNotFound()
        return Audience(region_ids=_chain(region.path))
    if principal is None:
        return Audience(roots=True)
    if principal.is_superadmin:
        return Audience(everything=True)
    result = Audience()
    home_grid_id = principal.user.home_grid_id
    if home_grid_id is not None:
        grid = await session.get(Region, home_grid_id)
        if grid is not None:
            result.region_ids |= _chain(grid.path)
    if principal.is_staff:
        for grant in principal.grants:
            if grant.region_path:
                result.region_ids |= _chain(grant.region_path)
        result.subtree_paths = principal.scope_paths() or []
    if not result.region_ids and not result.subtree_paths:
        # Nowhere known (no home grid yet): what is offered to a visitor. Someone
        # who lives somewhere is offered their own district's policies, not every
        # district's.
        result.roots = True
    return result


async def _filters(
    session: AsyncSession,
    principal: Principal | None,
    *,
    region_id: int | None,
    category: str | None = None,
    tag: str | None = None,
) -> Filters:
    return Filters(
        audience=await audience(session, principal, region_id),
        category=text.normalize_label(category) if category else None,
        tag=text.normalize_label(tag) if tag else None,
    )


def _hit(policy: Policy, marks: tuple[str, ...], score: float | None) -> PolicyHit:
    return PolicyHit(
        id=policy.id,
        title=policy.title,
        title_highlight=highlight.highlight(policy.title, marks),
        snippet=highlight.snippet(text.plain_text(policy.body), marks),
        category=policy.category,
        tags=list(policy.tags),
        issuer=policy.issuer,
        doc_number=policy.doc_number,
        region_id=policy.region_id,
        published_at=policy.published_at,
        effective_to=policy.effective_to,
        score=None if score is None else repository.score_value(score),
    )


def _cursor_value(cursor: str | None, key: str) -> Any:
    value = decode_cursor(cursor)
    if value is None:
        return None
    if key not in value:
        raise Invalid(*BAD_CURSOR)
    return value


async def search(
    session: AsyncSession,
    *,
    principal: Principal | None,
    q: str | None,
    category: str | None = None,
    tag: str | None = None,
    region_id: int | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> Page[PolicyHit]:
    """Published policies offered to the caller: ranked by relevance to ``q``
    (title hits above body hits), or newest first when ``q`` is blank."""
    filters = await _filters(session, principal, region_id=region_id, category=category, tag=tag)
    if q is None or not q.strip():
        return await _browse(session, filters=filters, cursor=cursor, limit=limit)
    query = text.parse_query(q)
    if query.empty:  # only punctuation or symbols: nothing can match
        return Page(items=[], next_cursor=None)
    value = _cursor_value(cursor, "o")
    offset = value["o"] if value else 0
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        raise Invalid(*BAD_CURSOR)
    ranked, more = split_page(
        await _rank(session, query, filters=filters, offset=offset, limit=limit + 1), limit
    )
    found = await repository.policies_by_id(session, [pid for pid, _ in ranked])
    items = [_hit(found[pid], query.marks, score) for pid, score in ranked if pid in found]
    return Page(items=items, next_cursor=encode_cursor({"o": offset + limit}) if more else None)


async def _rank(
    session: AsyncSession, query: text.Query, *, filters: Filters, offset: int, limit: int
) -> list[tuple[int, float]]:
    documents, frequencies = await repository.frequencies(session, query.terms)
    if not frequencies:
        return []
    idfs = {term: repository.idf(documents, n) for term, n in frequencies.items()}
    return await repository.rank(session, idfs=idfs, filters=filters, offset=offset, limit=limit)


async def _browse(
    session: AsyncSession, *, filters: Filters, cursor: str | None, limit: int
) -> Page[PolicyHit]:
    value = _cursor_value(cursor, "id")
    after = None
    if value is not None:
        try:
            after = (datetime.fromisoformat(value["at"]), value["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise Invalid(*BAD_CURSOR) from exc
        if (
            after[0].tzinfo is None
            or not in_range(after[0])
            or type(after[1]) is not int
            or not 0 < after[1] <= MAX_ID
        ):
            raise Invalid(*BAD_CURSOR)
    rows, more = split_page(
        await repository.browse(session, filters=filters, after=after, limit=limit + 1), limit
    )
    next_cursor = None
    if more and rows[-1].published_at is not None:
        next_cursor = encode_cursor({"at": rows[-1].published_at.isoformat(), "id": rows[-1].id})
    return Page(items=[_hit(p, (), None) for p in rows], next_cursor=next_cursor)


async def suggest(
    session: AsyncSession,
    *,
    principal: Principal | None,
    q: str,
    region_id: int | None = None,
) -> list[Suggestion]:
    """As the resident types: governance words starting with what they typed
    that occur in policies they are offered (most common first), then titles
    containing it, then, while there is room, the titles of the best matches
    of a search for it (医保 → 城乡居民基本医疗保险报销办法)."""
    folded = " ".join(text.fold(q).split())
    if not folded or text.parse_query(folded).empty:
        return []
    filters = await _filters(session, principal, region_id=region_id)
    words = text.vocabulary_with_prefix(folded)
    canon = {w: text.canonical(w) for w in words}
    counts = await repository.visible_term_frequencies(
        session, terms=sorted(set(canon.values())), filters=filters
    )
    present = [w for w in words if counts.get(canon[w])]
    present.sort(key=lambda w: (-counts[canon[w]], len(w), w))
    typed = (folded,)
    out = [
        Suggestion(text=w, kind="term", policy_id=None, highlight=highlight.highlight(w, typed))
        for w in present[:SUGGEST_TERMS]
    ]
    titles = await repository.titles_containing(
        session, folded=folded, filters=filters, limit=SUGGEST_TITLES
    )
    marks: dict[int, tuple[str, ...]] = {pid: typed for pid, _ in titles}
    if len(titles) < SUGGEST_TITLES:
        query = text.parse_query(folded)
        ranked = await _rank(session, query, filters=filters, offset=0, limit=SUGGEST_TITLES)
        extra = [pid for pid, _ in ranked if pid not in marks][: SUGGEST_TITLES - len(titles)]
        found = await repository.policies_by_id(session, extra)
        for pid in extra:
            titles.append((pid, found[pid].title))
            marks[pid] = query.marks
    out.extend(
        Suggestion(
            text=title,
            kind="title",
            policy_id=pid,
            highlight=highlight.highlight(title, marks[pid]),
        )
        for pid, title in titles
    )
    return out


async def categories(
    session: AsyncSession, *, principal: Principal | None, region_id: int | None = None
) -> list[CategoryCount]:
    """Categories of the published policies the caller is offered, most used first."""
    filters = await _filters(session, principal, region_id=region_id)
    rows = await repository.categories(session, filters=filters)
    return [CategoryCount(name=name, count=n) for name, n in rows]
