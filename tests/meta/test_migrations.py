"""The migrations build exactly the schema the models declare (on the database
under test), so no model change can ship without its Alembic revision."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

import app.all_models  # noqa: F401
from app.core.orm import Base


def _diff(connection: Any) -> list[Any]:
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        # Tables the models do not map (search indexes, ledgers kept by SQL) are
        # the migrations' own business.
        return not (type_ == "table" and reflected and compare_to is None)

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], f"模型与迁移不一致，请补一个 Alembic 版本：{diff}"
