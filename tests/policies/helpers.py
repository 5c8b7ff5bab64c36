"""Helpers for policy tests: callers of every role, and policies made through
the service (fast) or through the API (when the route is what is tested)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.dependencies import load_principal
from app.core.settings import Settings
from app.policies import service
from app.policies.models import Policy
from app.policies.schemas import PolicyCreate
from app.users.models import Membership, User
from tests.factories import Tree, auth, make_region, make_staff, make_tree, make_user
from tests.policies.corpus import DOCS, Doc

SEARCH = "/api/v1/policies"
SUGGEST = "/api/v1/policies/suggest"
CATEGORIES = "/api/v1/policies/categories"
ADMIN = "/api/v1/admin/policies"


@dataclass
class Callers:
    tree: Tree
    superadmin: User
    district_admin: User
    street_admin: User
    community_admin: User
    other_community_admin: User
    worker: User
    resident: User  # lives in tree.grid
    far_resident: User  # lives in tree.far_grid (other community, same street)
    homeless_resident: User  # no home grid yet
    settings: Settings

    def h(self, user: User) -> dict[str, str]:
        return auth(self.settings, user)


async def make_callers(session: AsyncSession, settings: Settings) -> Callers:
    tree = await make_tree(session)
    superadmin = await make_user(session, kind="staff", name="系统管理员")
    session.add(Membership(user_id=superadmin.id, role="superadmin", region_id=None))
    await session.flush()
    return Callers(
        tree=tree,
        superadmin=superadmin,
        district_admin=await make_staff(session, "district_admin", tree.district),
        street_admin=await make_staff(session, "street_admin", tree.street),
        community_admin=await make_staff(session, "community_admin", tree.community),
        other_community_admin=await make_staff(session, "community_admin", tree.other_community),
        worker=await make_staff(session, "grid_worker", tree.grid),
        resident=await make_user(session, home_grid=tree.grid),
        far_resident=await make_user(session, home_grid=tree.far_grid),
        homeless_resident=await make_user(session),
        settings=settings,
    )


def policy_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "城乡居民基本医疗保险报销办法",
        "body": "## 一、报销范围\n参保居民在定点医疗机构住院发生的合规医疗费用，按比例报销。",
        "category": "医疗保障",
        "tags": ["医保", "住院"],
        "issuer": "市医疗保障局",
        "doc_number": "市医保发〔2025〕8号",
    }
    body.update(overrides)
    return body


async def add_policy(
    session: AsyncSession,
    admin: User,
    *,
    publish: bool = True,
    **fields: Any,
) -> Policy:
    """A policy created (and published) through the service by ``admin``."""
    principal = await load_principal(session, admin)
    body = PolicyCreate.model_validate(policy_body(**fields))
    policy = await service.create_policy(session, principal=principal, body=body)
    if publish:
        policy = await service.transition(
            session, principal=principal, policy_id=policy.id, action="publish"
        )
    return policy


async def add_doc(session: AsyncSession, admin: User, doc: Doc, **fields: Any) -> Policy:
    return await add_policy(
        session,
        admin,
        title=doc.title,
        body=doc.body,
        category=doc.category,
        tags=doc.tags,
        issuer=doc.issuer,
        doc_number=doc.doc_number,
        **fields,
    )


async def load_corpus(session: AsyncSession) -> tuple[Tree, dict[str, int]]:
    """The relevance corpus, published district-wide; returns key → policy id."""
    tree = await make_tree(session)
    admin = await make_staff(session, "district_admin", tree.district)
    ids = {}
    for doc in DOCS:
        ids[doc.key] = (await add_doc(session, admin, doc)).id
    return tree, ids


async def search(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get(SEARCH, params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def make_district(session: AsyncSession) -> Any:
    return await make_region(session, level="district", name="另一区县")
