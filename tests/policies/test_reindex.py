"""Rebuilding the index after the dictionary, synonyms or stop words changed."""

from __future__ import annotations

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.policies import text
from app.policies.models import Policy, PolicyTerm
from app.policies.reindex import reindex_batch
from tests.factories import make_staff, make_tree
from tests.policies.helpers import add_policy, search


async def test_reindex_rebuilds_stale_policies_only(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "district_admin", tree.district)
    stale = await add_policy(session, admin, title="高龄津贴发放办法", body="80岁以上老人。")
    fresh = await add_policy(session, admin, title="低保申请办法", body="家庭收入低于标准。")
    draft = await add_policy(session, admin, title="临时救助", body="突发困难。", publish=False)
    # As if indexed by older rules that lost the word: not found any more.
    await session.execute(delete(PolicyTerm).where(PolicyTerm.policy_id == stale.id))
    await session.execute(
        update(Policy)
        .where(Policy.id.in_([stale.id, draft.id]))
        .values(index_version="old", title_terms="", body_terms="", title_len=0, body_len=0)
    )
    await session.flush()
    assert (await search(client, q="高龄津贴"))["items"] == []

    done = await reindex_batch(session, after_id=min(stale.id, fresh.id, draft.id) - 1)
    assert done == sorted([stale.id, draft.id])
    assert [i["id"] for i in (await search(client, q="高龄补贴"))["items"]] == [stale.id]
    versions = await session.scalars(
        select(Policy.index_version).where(Policy.id.in_([stale.id, fresh.id, draft.id]))
    )
    assert set(versions) == {text.INDEX_VERSION}
    # The draft got its terms back but stays out of the search until published.
    assert (await session.get(Policy, draft.id)).title_len > 0  # type: ignore[union-attr]
    assert (await search(client, q="临时救助"))["items"] == []
    assert await reindex_batch(session, after_id=stale.id - 1) == []
