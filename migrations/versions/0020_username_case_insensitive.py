"""user_account: a username is unique whatever its case

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-23

Staff usernames are meant to be unique without regard to case ("WangWu" and
"wangwu" are one account): the service checks so before it creates one, but
the only constraint, ``uq_user_account_username``, compares case-sensitively,
so two creates sent at once with names differing only in case both passed the
check and both were stored. A unique index on ``lower(username)`` now refuses
the second (usernames are ASCII, so ``lower`` is the same on SQLite and
PostgreSQL). The case-sensitive constraint stays.

Usernames that already collide this way stop the upgrade, naming them: which
of two accounts keeps the name is for an administrator to decide (rename or
delete the other in the database, then upgrade again), not for a migration.
The index is built without ``CONCURRENTLY``, like every index here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_user_account_username_lower"


def _collisions() -> list[list[str]]:
    """Groups of usernames equal but for case, each sorted, in a stable order."""
    rows = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT id, username FROM user_account WHERE lower(username) IN ("
                " SELECT lower(username) FROM user_account WHERE username IS NOT NULL"
                " GROUP BY lower(username) HAVING count(*) > 1"
                ") ORDER BY lower(username), username"
            )
        )
        .all()
    )
    groups: dict[str, list[str]] = {}
    for user_id, username in rows:
        groups.setdefault(username.lower(), []).append(f"{username} (id={user_id})")
    return list(groups.values())


def upgrade() -> None:
    collisions = _collisions()
    if collisions:
        listed = "; ".join(" / ".join(group) for group in collisions)
        raise RuntimeError(
            "迁移 0020 中止：以下登录账号仅大小写不同，无法建立不区分大小写的唯一索引 "
            f"{INDEX}：{listed}。请先在数据库中将其中多余的账号改名或删除，再重新升级。"
            f" (migration 0020 stopped: usernames differing only in case: {listed})"
        )
    op.create_index(INDEX, "user_account", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="user_account")
