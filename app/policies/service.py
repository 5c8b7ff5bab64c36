"""Policies: writing them (admins, in their region scope), their lifecycle
draft → published → archived, keeping the search index in step, and reading
one (``get_visible_policy``).

Index upkeep: every write segments the text again (``text.index_fields``) and
stores the terms on the row; only a published policy has postings, so
publishing writes them, archiving removes them, and an edit of a published
policy replaces them, all in the request's transaction.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import ADMIN_ROLES, Principal
from app.core import clock
from app.org.models import Region
from app.policies import repository, text
from app.policies.exceptions import (
    BadDates,
    IllegalTransition,
    PolicyArchived,
    PolicyNotFound,
    RegionNotFound,
    RegionRequired,
)
from app.policies.models import Policy
from app.policies.schemas import (
    PolicyAdminListItem,
    PolicyAdminRead,
    PolicyCreate,
    PolicyRead,
    PolicyUpdate,
)

# Which action may start from which status.
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    "publish": (frozenset({"draft"}), "published"),
    # Archiving also discards a draft that will never be published.
    "archive": (frozenset({"draft", "published"}), "archived"),
}
_TRANSITION_MESSAGES = {
    ("publish", "published"): "该政策已发布",
    ("publish", "archived"): "已归档的政策不能再发布",
    ("archive", "archived"): "该政策已归档",
}

_STATUS_TEXT = {"draft": "草稿", "published": "已发布", "archived": "已归档"}


# ------------------------------------------------------------------ scope


async def _region_for_write(
    session: AsyncSession, principal: Principal, region_id: int | None
) -> Region | None:
    """The region a policy may be scoped to by this admin. ``None`` (no region:
    everywhere) is for superadmins only; any other region must lie in the
    caller's admin scope, else 404 as if it did not exist."""
    if region_id is None:
        if not principal.is_superadmin:
            raise RegionRequired(
                message="只有系统管理员可以发布不限区划的政策，请指定适用区划（region_id）"
            )
        return None
    region = await session.get(Region, region_id)
    if region is None or not principal.covers(region.path, roles=ADMIN_ROLES):
        raise RegionNotFound()
    return region


def _default_region_id(principal: Principal) -> int | None:
    """Where a policy applies when the admin did not say: the one region they
    administer (a superadmin's policy applies everywhere)."""
    if principal.is_superadmin:
        return None
    regions = {g.region_id for g in principal.grants if g.role in ADMIN_ROLES and g.region_id}
    if len(regions) != 1:
        raise RegionRequired(message="您管辖多个区划，请指定政策适用的区划（region_id）")
    return regions.pop()


async def get_admin_policy(
    session: AsyncSession, principal: Principal, policy_id: int, *, for_update: bool = False
) -> Policy:
    """A policy the admin manages, in any status; 404 outside their scope."""
    stmt = select(Policy).where(
        Policy.id == policy_id, repository.admin_scope(principal.scope_paths(ADMIN_ROLES))
    )
    if for_update:
        # Two edits of one policy rewrite its postings one after the other.
        stmt = stmt.with_for_update()
    policy = await session.scalar(stmt)
    if policy is None:
        raise PolicyNotFound(message="政策不存在")
    return policy


# ------------------------------------------------------------------ index


def _serialise(terms: Counter[str]) -> str:
    return " ".join(t for t, n in terms.items() for _ in range(n))


def _deserialise(stored: str) -> Counter[str]:
    return Counter(stored.split())


async def _reindex(session: AsyncSession, policy: Policy) -> None:
    """Segment the policy again; refresh postings if it is published."""
    # Segmenting a long body takes tens of milliseconds of CPU: off the event loop.
    title_terms, body_terms = await asyncio.to_thread(
        text.index_fields,
        title=policy.title,
        body=policy.body,
        category=policy.category,
        tags=policy.tags,
        issuer=policy.issuer,
        doc_number=policy.doc_number,
    )
    policy.title_folded = text.fold(policy.title)
    policy.title_terms = _serialise(title_terms)
    policy.body_terms = _serialise(body_terms)
    policy.title_len = sum(title_terms.values())
    policy.body_len = sum(body_terms.values())
    policy.index_version = text.INDEX_VERSION
    await session.flush()
    if policy.status == "published":
        await repository.replace_postings(session, policy, title_terms, body_terms)


async def _write_postings(session: AsyncSession, policy: Policy) -> None:
    if policy.index_version != text.INDEX_VERSION:
        await _reindex(session, policy)
        return
    await repository.replace_postings(
        session, policy, _deserialise(policy.title_terms), _deserialise(policy.body_terms)
    )


async def reindex(session: AsyncSession, policy: Policy) -> None:
    """Rebuild one policy's search fields (after the dictionary or synonyms changed)."""
    await _reindex(session, policy)


# ------------------------------------------------------------------ writes


async def create_policy(
    session: AsyncSession, *, principal: Principal, body: PolicyCreate
) -> Policy:
    if "region_id" in body.model_fields_set:
        region_id = body.region_id
    else:
        region_id = _default_region_id(principal)
    region = await _region_for_write(session, principal, region_id)
    policy = Policy(
        title=body.title,
        body=body.body,
        category=body.category,
        tags=list(body.tags),
        issuer=body.issuer,
        doc_number=body.doc_number,
        region_id=region.id if region else None,
        effective_from=body.effective_from,
        effective_to=body.effective_to,
        status="draft",
        created_by=principal.id,
        updated_by=principal.id,
    )
    session.add(policy)
    await session.flush()
    await repository.replace_tags(session, policy.id, policy.tags)
    await _reindex(session, policy)
    return policy


async def update_policy(
    session: AsyncSession, *, principal: Principal, policy_id: int, body: PolicyUpdate
) -> Policy:
    policy = await get_admin_policy(session, principal, policy_id, for_update=True)
    if policy.status == "archived":
        raise PolicyArchived()
    changes = body.model_dump(exclude_unset=True)
    if "region_id" in changes:
        region = await _region_for_write(session, principal, changes["region_id"])
        changes["region_id"] = region.id if region else None
    start: date | None = changes.get("effective_from", policy.effective_from)
    end: date | None = changes.get("effective_to", policy.effective_to)
    if start is not None and end is not None and end < start:
        raise BadDates()
    for name, value in changes.items():
        setattr(policy, name, list(value) if name == "tags" else value)
    policy.updated_by = principal.id
    policy.updated_at = clock.now()
    await session.flush()
    if "tags" in changes:
        await repository.replace_tags(session, policy.id, policy.tags)
    if changes.keys() & {"title", "body", "category", "tags", "issuer", "doc_number"}:
        await _reindex(session, policy)
    elif "region_id" in changes and policy.status == "published":
        await _write_postings(session, policy)  # postings carry the region
    return policy


async def transition(
    session: AsyncSession, *, principal: Principal, policy_id: int, action: str
) -> Policy:
    """Publish or archive, checked against ``TRANSITIONS``; anything else is 409."""
    policy = await get_admin_policy(session, principal, policy_id, for_update=True)
    allowed, target = TRANSITIONS[action]
    if policy.status not in allowed:
        raise IllegalTransition(
            message=_TRANSITION_MESSAGES.get(
                (action, policy.status), f"{_STATUS_TEXT[policy.status]}的政策不能执行此操作"
            ),
            details={"status": policy.status, "action": action},
        )
    now = clock.now()
    policy.status = target
    policy.updated_by = principal.id
    policy.updated_at = now
    if target == "published":
        policy.published_at = now
        await session.flush()
        await _write_postings(session, policy)
    else:
        policy.archived_at = now
        await session.flush()
        await repository.delete_postings(session, policy.id)
    return policy


# ------------------------------------------------------------------ reads


async def get_visible_policy(
    session: AsyncSession, policy_id: int, principal: Principal | None
) -> Policy:
    """A published policy, for anyone (404 ``policy.not_found`` otherwise).

    Region scope decides which policies a caller is offered in lists and
    searches; a published policy itself is a public document, so whoever
    holds its id (a link shared in a WeChat group, a consultation naming it)
    may read it. Drafts and archived policies are seen only through the admin
    routes. ``principal`` is taken so the rule can tighten without changing
    the callers (the consultation check in reports calls this).
    """
    policy = await session.get(Policy, policy_id)
    if policy is None or policy.status != "published":
        raise PolicyNotFound()
    return policy


def in_effect(policy: Policy, today: date) -> bool:
    return (policy.effective_from is None or policy.effective_from <= today) and (
        policy.effective_to is None or today <= policy.effective_to
    )


async def read(session: AsyncSession, policy: Policy) -> PolicyRead:
    names = await repository.region_names(session, [policy.region_id] if policy.region_id else [])
    return PolicyRead(**_read_fields(policy, names))


async def admin_read(session: AsyncSession, policy: Policy) -> PolicyAdminRead:
    names = await repository.region_names(session, [policy.region_id] if policy.region_id else [])
    return PolicyAdminRead(
        **_read_fields(policy, names),
        status=policy.status,  # type: ignore[arg-type]
        archived_at=policy.archived_at,
        created_at=policy.created_at,
    )


def _read_fields(policy: Policy, names: dict[int, str]) -> dict[str, object]:
    today = clock.to_shanghai(clock.now()).date()
    return {
        "id": policy.id,
        "title": policy.title,
        "body": policy.body,
        "category": policy.category,
        "tags": list(policy.tags),
        "issuer": policy.issuer,
        "doc_number": policy.doc_number,
        "region_id": policy.region_id,
        "region_name": names.get(policy.region_id) if policy.region_id else None,
        "effective_from": policy.effective_from,
        "effective_to": policy.effective_to,
        "in_effect": in_effect(policy, today),
        "published_at": policy.published_at,
        "updated_at": policy.updated_at,
    }


def admin_list_item(policy: Policy) -> PolicyAdminListItem:
    return PolicyAdminListItem(
        id=policy.id,
        title=policy.title,
        status=policy.status,  # type: ignore[arg-type]
        category=policy.category,
        region_id=policy.region_id,
        published_at=policy.published_at,
        updated_at=policy.updated_at,
    )


async def list_admin_policies(
    session: AsyncSession,
    *,
    principal: Principal,
    status: str | None,
    category: str | None,
    q: str | None,
    before_id: int | None,
    limit: int,
) -> list[Policy]:
    return await repository.admin_list(
        session,
        scope=repository.admin_scope(principal.scope_paths(ADMIN_ROLES)),
        status=status,
        category=text.normalize_label(category) if category else None,
        title_folded=text.fold(q).strip() if q else None,
        before_id=before_id,
        limit=limit,
    )
