"""Rebuild the policy search index after the text rules changed.

The terms stored with each policy come from ``dictionary.txt``,
``synonyms.txt``, ``stopwords.txt`` and the rules of ``text.py``; each row
records the version of those it was built with. After editing any of them,
deploy and run (from the project directory, with the service's settings):

    python -m app.policies.reindex          # the policies built with older rules
    python -m app.policies.reindex --all    # every policy

It works in batches, one short transaction each, so the service keeps running;
a policy is searched by its old terms until its batch commits.
"""

from __future__ import annotations

import argparse
import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import Database
from app.core.settings import get_settings
from app.policies import service, text
from app.policies.models import Policy

BATCH = 200


async def reindex_batch(
    session: AsyncSession, *, after_id: int = 0, everything: bool = False, limit: int = BATCH
) -> list[int]:
    """Rebuild up to ``limit`` policies with an id above ``after_id``; their ids."""
    stmt = select(Policy).where(Policy.id > after_id).order_by(Policy.id).limit(limit)
    if not everything:
        stmt = stmt.where(Policy.index_version != text.INDEX_VERSION)
    rows = list(await session.scalars(stmt.with_for_update()))
    for policy in rows:
        await service.reindex(session, policy)
    return [p.id for p in rows]


async def reindex_all(db: Database, *, everything: bool = False) -> int:
    done = 0
    after_id = 0
    while True:
        async with db.session(write=True) as session:
            ids = await reindex_batch(session, after_id=after_id, everything=everything)
            await session.commit()
        if not ids:
            return done
        done += len(ids)
        after_id = ids[-1]
        print(f"已重建 {done} 条政策的检索索引", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="重建政策检索索引（修改词典、同义词或停用词之后）")
    parser.add_argument("--all", action="store_true", help="重建全部政策（默认只重建规则已变的）")
    args = parser.parse_args(argv)

    async def run() -> int:
        db = Database(get_settings())
        try:
            return await reindex_all(db, everything=args.all)
        finally:
            await db.dispose()

    count = asyncio.run(run())
    print(f"完成：共重建 {count} 条（规则版本 {text.INDEX_VERSION}）")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
