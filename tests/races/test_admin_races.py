"""Admin writes sent at the same moment (the concurrency audit's staff, org,
category and API-client findings): sequentially each is refused with its own
code; at once the second must be refused the same way, never let through and
never answered with the generic 409 ``conflict``.

Real concurrent requests on committed data, each on its own connection, on
PostgreSQL (on SQLite every write request holds the database from its first
statement, ``BEGIN IMMEDIATE``, so these races cannot happen there). A third
transaction holds what the requests contend for — a row they lock or update,
or an uncommitted duplicate they insert against — until every request has
read what it checks and waits for it (or, without the fix, has answered);
then it is released. Without that the interleaving would be left to luck.

Also here: a resident's account deleted while one of their writes is under
way (privacy: nothing they send at that moment may outlive the deletion).

The last test runs on both databases: migration 0020 refuses to build its
index over usernames that differ only in case, and names them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from alembic import command
from fastapi import FastAPI
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core.errors import unique_violation
from app.core.migrations import alembic_config, upgrade
from app.core.settings import Settings
from app.integrations.models import ApiClient, Webhook, WebhookDelivery
from app.main import create_app
from app.org.models import Department
from app.reports.models import Category, Report, ReportFollow
from app.users.models import USERNAME_LOWER_INDEX, Membership, User
from tests.core.scratch_db import scratch_database_url
from tests.factories import Tree, make_staff, make_tree, make_user
from tests.integrations.helpers import make_api_client
from tests.reports.live import bearer, wipe
from tests.users.helpers import make_superadmin

__all__ = ["scratch_database_url"]  # a fixture, for migration 0020

API = "/api/v1"
# Categories these tests create (and remove): the seeded ones are left alone.
CODE_PREFIX = "race_"


async def _wipe(app: FastAPI) -> None:
    """What these tests commit, on top of what ``wipe`` empties (children first)."""
    async with app.state.db.session(write=True) as s:
        for model in (WebhookDelivery, Webhook, ApiClient, Department):
            await s.execute(delete(model))
        await s.commit()
    await wipe(app)
    async with app.state.db.session(write=True) as s:
        await s.execute(delete(Category).where(Category.code.startswith(CODE_PREFIX)))
        await s.commit()


@dataclass
class Live:
    app: FastAPI
    client: httpx.AsyncClient
    tree: Tree
    superadmin: User
    street_admin: User
    resident: User

    def h(self, user: User) -> dict[str, str]:
        return bearer(self.app, user)


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    if settings.is_sqlite:
        pytest.skip("PostgreSQL only: on SQLite write requests never overlap (BEGIN IMMEDIATE)")
    app = create_app(settings)
    await _wipe(app)
    async with app.state.db.session(write=True) as s:
        tree = await make_tree(s)
        superadmin = await make_superadmin(s)
        street_admin = await make_staff(s, "street_admin", tree.street)
        resident = await make_user(s)
        await s.commit()
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://live") as client:
            yield Live(app, client, tree, superadmin, street_admin, resident)
    finally:
        await _wipe(app)
        await app.state.wechat.aclose()
        await app.state.db.dispose()


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(1000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


Call = Callable[[], Awaitable[httpx.Response]]


async def _at_once(
    live: Live,
    hold: Callable[[AsyncSession], Awaitable[Any]],
    calls: list[Call],
    *,
    commit: bool = False,
) -> list[httpx.Response]:
    """Run ``hold`` in a transaction of its own, then send ``calls`` one after
    another, each once the one before waits for a lock (or has answered), so
    the locks are queued for in that order; end the holding transaction
    (rolled back, or committed) once every call waits or has answered."""
    engine = live.app.state.db.engine

    async def lock_waits() -> int:
        async with engine.connect() as conn:
            blocked = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return int(blocked or 0)

    holder: AsyncSession = live.app.state.db.session(write=True)
    pending: list[asyncio.Future[httpx.Response]] = []
    try:
        await hold(holder)
        await holder.flush()
        for call in calls:
            pending.append(asyncio.ensure_future(call()))
            sent = len(pending)

            async def settled(sent: int = sent) -> bool:
                done = sum(1 for p in pending if p.done())
                return done + await lock_waits() >= sent

            await _until(settled, f"request {sent} to wait for the held rows")
        if commit:
            await holder.commit()
    finally:
        await holder.rollback()
        await holder.close()
    return list(await asyncio.gather(*pending))


def _codes(results: list[httpx.Response]) -> list[tuple[int, str | None]]:
    """(status, error code) of each answer, sorted: the winner's code is None."""
    out = []
    for r in results:
        error = r.json().get("error") if r.content and r.status_code >= 400 else None
        out.append((r.status_code, error["code"] if error else None))
    return sorted(out, key=lambda x: (x[0], x[1] or ""))


def _staff_body(username: str, live: Live) -> dict[str, Any]:
    return {
        "username": username,
        "password": "Concaudit#2026x",
        "name": "并发测试员",
        "role": "grid_worker",
        "region_id": live.tree.grid.id,
    }


# --- 1 and 5: staff usernames ---------------------------------------------------------


async def test_usernames_differing_only_in_case_at_once_make_one_account(live: Live) -> None:
    base = f"ccCase{uuid.uuid4().hex[:6]}"
    variants = [base.lower(), base.upper(), base.swapcase()]

    async def hold(s: AsyncSession) -> None:
        # A create that has inserted its row and not committed yet.
        s.add(User(kind="staff", username=base, name="先到者"))

    results = await _at_once(
        live,
        hold,
        [
            lambda v=v: live.client.post(
                f"{API}/admin/staff", headers=live.h(live.superadmin), json=_staff_body(v, live)
            )
            for v in variants
        ],
    )
    assert _codes(results) == [(201, None)] + [(409, "staff.username_taken")] * 2, [
        r.text for r in results
    ]
    winner = next(r for r in results if r.status_code == 201).json()
    async with live.app.state.db.session(write=False) as s:
        stored = list(
            await s.scalars(select(User.username).where(func.lower(User.username) == base.lower()))
        )
    assert stored == [winner["username"]]


async def test_same_username_at_once_loser_gets_username_taken(live: Live) -> None:
    username = f"ccsame{uuid.uuid4().hex[:6]}"

    async def hold(s: AsyncSession) -> None:
        s.add(User(kind="staff", username=username, name="先到者"))

    results = await _at_once(
        live,
        hold,
        [
            lambda caller=caller: live.client.post(
                f"{API}/admin/staff", headers=live.h(caller), json=_staff_body(username, live)
            )
            for caller in (live.superadmin, live.street_admin, live.superadmin)
        ],
    )
    assert _codes(results) == [(201, None)] + [(409, "staff.username_taken")] * 2, [
        r.text for r in results
    ]
    async with live.app.state.db.session(write=False) as s:
        count = await s.scalar(
            select(func.count()).select_from(User).where(User.username == username)
        )
    assert count == 1


# --- 2: the last role ---------------------------------------------------------------------


async def test_revoking_both_roles_at_once_keeps_the_last_one(live: Live) -> None:
    async with live.app.state.db.session(write=True) as s:
        member = await make_staff(s, "grid_worker", live.tree.grid)
        s.add(
            Membership(user_id=member.id, role="grid_worker_part", region_id=live.tree.far_grid.id)
        )
        await s.commit()
        roles = list(await s.scalars(select(Membership.id).where(Membership.user_id == member.id)))
    assert len(roles) == 2

    async def hold(s: AsyncSession) -> None:
        # Both requests read the two roles, then queue to delete theirs.
        await s.execute(
            select(Membership.id).where(Membership.user_id == member.id).with_for_update()
        )

    results = await _at_once(
        live,
        hold,
        [
            lambda rid=rid: live.client.delete(
                f"{API}/admin/staff/{member.id}/roles/{rid}", headers=live.h(live.street_admin)
            )
            for rid in roles
        ],
    )
    assert _codes(results) == [(204, None), (409, "staff.last_role")], [r.text for r in results]
    async with live.app.state.db.session(write=False) as s:
        left = await s.scalar(
            select(func.count()).select_from(Membership).where(Membership.user_id == member.id)
        )
    assert left == 1


# --- 5: granting the same role --------------------------------------------------------------


async def test_same_role_granted_at_once_loser_gets_role_exists(live: Live) -> None:
    async with live.app.state.db.session(write=True) as s:
        member = await make_staff(s, "grid_worker", live.tree.grid)
        await s.commit()
    role = {"role": "grid_worker_part", "region_id": live.tree.far_grid.id}

    async def hold(s: AsyncSession) -> None:
        s.add(Membership(user_id=member.id, **role))

    results = await _at_once(
        live,
        hold,
        [
            lambda: live.client.post(
                f"{API}/admin/staff/{member.id}/roles", headers=live.h(live.superadmin), json=role
            )
            for _ in range(3)
        ],
    )
    assert _codes(results) == [(201, None)] + [(409, "staff.role_exists")] * 2, [
        r.text for r in results
    ]
    async with live.app.state.db.session(write=False) as s:
        count = await s.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.user_id == member.id, Membership.role == "grid_worker_part")
        )
    assert count == 1


# --- 5: departments and categories -------------------------------------------------------


async def test_same_department_at_once_loser_gets_name_taken(live: Live) -> None:
    name = f"并发部门{uuid.uuid4().hex[:5]}"
    body = {"name": name, "region_id": live.tree.street.id, "category_codes": []}

    async def hold(s: AsyncSession) -> None:
        s.add(Department(name=name, region_id=live.tree.street.id, category_codes=[]))

    results = await _at_once(
        live,
        hold,
        [
            lambda caller=caller: live.client.post(
                f"{API}/admin/departments", headers=live.h(caller), json=body
            )
            for caller in (live.superadmin, live.street_admin, live.superadmin)
        ],
    )
    assert _codes(results) == [(201, None)] + [(409, "department.name_taken")] * 2, [
        r.text for r in results
    ]
    async with live.app.state.db.session(write=False) as s:
        count = await s.scalar(
            select(func.count()).select_from(Department).where(Department.name == name)
        )
    assert count == 1


def _category(code: str, kind: str = "issue") -> Category:
    return Category(code=code, name=f"并发{code[-5:]}", kind=kind, resolve_days={})


async def _new_category(live: Live) -> str:
    code = f"{CODE_PREFIX}{uuid.uuid4().hex[:8]}"
    async with live.app.state.db.session(write=True) as s:
        s.add(_category(code))
        await s.commit()
    return code


async def test_same_category_code_at_once_loser_gets_code_taken(live: Live) -> None:
    code = f"{CODE_PREFIX}{uuid.uuid4().hex[:8]}"
    body = {"code": code, "name": f"并发{code[-5:]}", "kind": "issue"}

    async def hold(s: AsyncSession) -> None:
        s.add(_category(code))

    results = await _at_once(
        live,
        hold,
        [
            lambda: live.client.post(
                f"{API}/admin/categories", headers=live.h(live.superadmin), json=body
            )
            for _ in range(3)
        ],
    )
    assert _codes(results) == [(201, None)] + [(409, "category.code_taken")] * 2, [
        r.text for r in results
    ]
    for loser in (r for r in results if r.status_code == 409):
        assert loser.json()["error"]["details"] == {"code": code}
    async with live.app.state.db.session(write=False) as s:
        count = await s.scalar(
            select(func.count()).select_from(Category).where(Category.code == code)
        )
    assert count == 1


# --- 3: resolve_days merged ----------------------------------------------------------------


async def test_resolve_days_patched_at_once_are_all_merged(live: Live) -> None:
    code = await _new_category(live)
    days = {"simple": 2, "general": 5, "complex": 9, "difficult": 20}

    async def hold(s: AsyncSession) -> None:
        # An edit in progress: each PATCH must read the category after it.
        await s.execute(select(Category.id).where(Category.code == code).with_for_update())

    results = await _at_once(
        live,
        hold,
        [
            lambda k=k, v=v: live.client.patch(
                f"{API}/admin/categories/{code}",
                headers=live.h(live.superadmin),
                json={"resolve_days": {k: v}},
            )
            for k, v in days.items()
        ],
    )
    assert [r.status_code for r in results] == [200] * 4, [r.text for r in results]
    async with live.app.state.db.session(write=False) as s:
        stored = await s.scalar(select(Category.resolve_days).where(Category.code == code))
    assert stored == days
    # The last answer shows every change, the ones before it as well.
    assert days in [r.json()["resolve_sla"]["days"] for r in results]


# --- 4: kind changed while a case is being filed ------------------------------------------


async def test_kind_change_waits_for_a_case_being_filed_and_is_refused(live: Live) -> None:
    code = await _new_category(live)
    async with live.app.state.db.session(write=False) as s:
        category_id = await s.scalar(select(Category.id).where(Category.code == code))

    async def hold(s: AsyncSession) -> None:
        # A submission that has inserted its case (its foreign key holds the
        # category's row KEY SHARE) and not committed yet.
        s.add(
            Report(
                kind="issue",
                category_id=category_id,
                reporter_id=live.resident.id,
                description="类别竞态测试：路灯不亮",
                status="submitted",
            )
        )

    results = await _at_once(
        live,
        hold,
        [
            lambda: live.client.patch(
                f"{API}/admin/categories/{code}",
                headers=live.h(live.superadmin),
                json={"kind": "consultation"},
            )
        ],
        commit=True,
    )
    assert _codes(results) == [(409, "category.kind_in_use")], [r.text for r in results]
    async with live.app.state.db.session(write=False) as s:
        kind = await s.scalar(select(Category.kind).where(Category.code == code))
        mismatched = await s.scalar(
            select(func.count())
            .select_from(Report)
            .join(Category, Category.id == Report.category_id)
            .where(Category.code == code, Report.kind != Category.kind)
        )
    assert kind == "issue"
    assert mismatched == 0


async def test_a_case_filed_during_a_kind_change_reads_the_new_kind(live: Live) -> None:
    """The other order: the kind change holds the category (FOR UPDATE, changed,
    not committed) when a resident files an issue under it. The submission
    reads the category as its foreign key will hold it (KEY SHARE), so it
    waits, then reads the committed kind and is refused: no issue is filed
    under what is now a consultation category."""
    code = await _new_category(live)

    async def hold(s: AsyncSession) -> None:
        await s.execute(select(Category.id).where(Category.code == code).with_for_update())
        await s.execute(
            Category.__table__.update().where(Category.code == code).values(kind="consultation")
        )

    results = await _at_once(
        live,
        hold,
        [
            lambda: live.client.post(
                f"{API}/reports",
                headers=live.h(live.resident),
                json={"kind": "issue", "category": code, "description": "类别竞态测试：路灯不亮"},
            )
        ],
        commit=True,
    )
    assert _codes(results) == [(422, "report.kind_mismatch")], [r.text for r in results]
    async with live.app.state.db.session(write=False) as s:
        filed = await s.scalar(
            select(func.count())
            .select_from(Report)
            .join(Category, Category.id == Report.category_id)
            .where(Category.code == code)
        )
    assert filed == 0


# --- account deletion racing the resident's own writes ----------------------------------

PHONE_TEXT = "楼下噪音扰民，请联系我 13912345678"


async def _lock_account(live: Live) -> Callable[[AsyncSession], Awaitable[Any]]:
    async def hold(s: AsyncSession) -> None:
        await s.execute(select(User.id).where(User.id == live.resident.id).with_for_update())

    return hold


def _submit(live: Live) -> Call:
    return lambda: live.client.post(
        f"{API}/reports",
        headers=live.h(live.resident),
        json={"kind": "issue", "category": "environment", "description": PHONE_TEXT},
    )


def _delete_me(live: Live) -> Call:
    return lambda: live.client.delete(f"{API}/me", headers=live.h(live.resident))


async def _their_texts(live: Live) -> list[str]:
    async with live.app.state.db.session(write=False) as s:
        return list(
            await s.scalars(
                select(Report.description).where(Report.reporter_id == live.resident.id)
            )
        )


async def test_a_case_sent_before_the_deletion_is_erased_with_the_rest(live: Live) -> None:
    """The case's transaction holds the account (KEY SHARE) when the deletion
    comes: the deletion waits for it, then masks the number it carried."""
    results = await _at_once(live, await _lock_account(live), [_submit(live), _delete_me(live)])
    assert [r.status_code for r in results] == [201, 204], [r.text for r in results]
    texts = await _their_texts(live)
    assert len(texts) == 1 and "13912345678" not in texts[0], texts


async def test_a_case_sent_during_the_deletion_is_refused(live: Live) -> None:
    """The deletion holds the account (FOR UPDATE) when the case comes: the case
    waits, finds the account deleted, and is refused, writing nothing. Of two
    deletions at once, the second finds the account deleted."""
    results = await _at_once(
        live, await _lock_account(live), [_delete_me(live), _submit(live), _delete_me(live)]
    )
    assert _codes(results) == [
        (204, None),
        (401, "auth.invalid_token"),
        (409, "me.already_deleted"),
    ], [r.text for r in results]
    assert await _their_texts(live) == []


async def test_a_merge_and_the_reporters_account_deletion_at_once(live: Live) -> None:
    """A resident deletes their account while an admin marks their case a
    duplicate: the deletion locks the account and then their cases, the merge
    (which gives the resident a follow of the original) locks the resident
    before the cases, so neither waits for the other in a circle (it was a
    deadlock, one side refused). Both go through; the case is masked."""
    async with live.app.state.db.session(write=True) as s:
        neighbour = await make_user(s)
        await s.commit()

    async def file(who: User, text: str) -> int:
        r = await live.client.post(
            f"{API}/reports",
            headers=live.h(who),
            json={"kind": "issue", "category": "environment", "description": text},
        )
        assert r.status_code == 201, r.text
        return int(r.json()["id"])

    original = await file(neighbour, "楼下垃圾堆积很久了")
    followed = await file(neighbour, "路灯坏了好几天了")
    mine = await file(live.resident, PHONE_TEXT)
    r = await live.client.post(f"{API}/reports/{followed}/follow", headers=live.h(live.resident))
    assert r.status_code == 200, r.text

    async def hold(s: AsyncSession) -> None:
        # Keeps the deletion at its follows, after it has locked the account.
        await s.execute(
            select(ReportFollow.report_id)
            .where(ReportFollow.user_id == live.resident.id)
            .with_for_update()
        )

    deleted, merged = await _at_once(
        live,
        hold,
        [
            _delete_me(live),
            lambda: live.client.post(
                f"{API}/reports/{mine}/reject",
                headers=live.h(live.superadmin),
                json={"reason": "重复提交", "duplicate_of": original},
            ),
        ],
    )
    assert (deleted.status_code, merged.status_code) == (204, 200), [deleted.text, merged.text]
    assert all("13912345678" not in t for t in await _their_texts(live))


# --- 6: a webhook for a client being revoked ---------------------------------------------


async def test_webhook_created_while_its_client_is_revoked_is_refused(live: Live) -> None:
    async with live.app.state.db.session(write=True) as s:
        api_client, _ = await make_api_client(s, live.tree.street)
        await s.commit()
    cid = api_client.id

    async def hold(s: AsyncSession) -> None:
        await s.execute(select(ApiClient.id).where(ApiClient.id == cid).with_for_update())

    results = await _at_once(
        live,
        hold,
        [
            # The revocation queues first, the creation after it.
            lambda: live.client.delete(
                f"{API}/admin/api-clients/{cid}", headers=live.h(live.superadmin)
            ),
            lambda: live.client.post(
                f"{API}/admin/api-clients/{cid}/webhooks",
                headers=live.h(live.superadmin),
                json={"url": "http://127.0.0.1:18749/hook", "events": ["report.created"]},
            ),
        ],
    )
    revoked, created = results
    assert revoked.status_code == 204, revoked.text
    assert created.status_code == 422, created.text
    assert created.json()["error"]["code"] == "api_client.revoked"
    async with live.app.state.db.session(write=False) as s:
        live_hooks = await s.scalar(
            select(func.count())
            .select_from(Webhook)
            .where(Webhook.client_id == cid, Webhook.deleted_at.is_(None))
        )
    assert live_hooks == 0


async def test_no_secret_is_issued_for_a_key_being_revoked(live: Live) -> None:
    """A rotation queued behind the revocation finds the key revoked: no new
    secret for a client that can no longer call."""
    async with live.app.state.db.session(write=True) as s:
        api_client, _ = await make_api_client(s, live.tree.street)
        await s.commit()
    cid = api_client.id
    r = await live.client.post(
        f"{API}/admin/api-clients/{cid}/webhooks",
        headers=live.h(live.superadmin),
        json={"url": "http://127.0.0.1:18749/hook", "events": ["report.created"]},
    )
    assert r.status_code == 201, r.text
    hook = r.json()["id"]

    async def hold(s: AsyncSession) -> None:
        await s.execute(select(ApiClient.id).where(ApiClient.id == cid).with_for_update())

    revoked, rotated = await _at_once(
        live,
        hold,
        [
            lambda: live.client.delete(
                f"{API}/admin/api-clients/{cid}", headers=live.h(live.superadmin)
            ),
            lambda: live.client.post(
                f"{API}/admin/api-clients/{cid}/webhooks/{hook}/rotate-secret",
                headers=live.h(live.superadmin),
                json={"overlap_hours": 0},
            ),
        ],
    )
    assert revoked.status_code == 204, revoked.text
    assert rotated.status_code == 422, rotated.text
    assert rotated.json()["error"]["code"] == "api_client.revoked"


# --- migration 0020 -------------------------------------------------------------------------


async def test_migration_0020_refuses_usernames_differing_only_in_case(
    scratch_database_url: str,
) -> None:
    url = scratch_database_url
    await asyncio.to_thread(upgrade, url, "0019")
    engine = create_async_engine(url)
    users = User.__table__

    async def add(username: str) -> None:
        async with engine.begin() as conn:
            await conn.execute(insert(users).values(kind="staff", username=username))

    async def indexes() -> set[str]:
        # Read from the catalogue: SQLAlchemy does not reflect SQLite's expression indexes.
        catalogue = (
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user_account'"
            if engine.dialect.name == "sqlite"
            else "SELECT indexname FROM pg_indexes WHERE tablename = 'user_account'"
        )
        async with engine.connect() as conn:
            return set(await conn.scalars(text(catalogue)))

    try:
        await add("WangWu")
        await add("wangwu")
        await add("zhaoliu")
        with pytest.raises(RuntimeError) as refused:
            await asyncio.to_thread(upgrade, url)
        message = str(refused.value)
        assert "WangWu" in message and "wangwu" in message
        assert "zhaoliu" not in message
        assert "uq_user_account_username_lower" not in await indexes()

        # Once an administrator has renamed one, the upgrade goes through.
        async with engine.begin() as conn:
            await conn.execute(
                users.update().where(users.c.username == "wangwu").values(username="wangwu2")
            )
        await asyncio.to_thread(upgrade, url)
        assert "uq_user_account_username_lower" in await indexes()
        with pytest.raises(IntegrityError):
            await add("ZHAOLIU")

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0019")
        assert "uq_user_account_username_lower" not in await indexes()
        await add("ZHAOLIU")
    finally:
        await engine.dispose()


# --- the unique-violation helper, on either database ---------------------------------------


async def test_unique_violation_names_the_constraint_or_index(session: AsyncSession) -> None:
    """What the losers above are told depends on recognising which unique
    constraint or index refused them, on PostgreSQL (its name) and SQLite
    (its columns, or the index's name)."""
    tree = await make_tree(session)
    staff = await make_staff(session, "grid_worker", tree.grid, username="RaceCase")

    async def refused(row: Any) -> IntegrityError:
        with pytest.raises(IntegrityError) as caught:
            async with session.begin_nested():
                session.add(row)
        return caught.value

    exc = await refused(User(kind="staff", username="racecase"))
    assert unique_violation(exc, USERNAME_LOWER_INDEX)
    assert not unique_violation(exc, "uq_user_account_openid")

    exc = await refused(Membership(user_id=staff.id, role="grid_worker", region_id=tree.grid.id))
    assert unique_violation(exc, "uq_membership_user_id_role_region_id")
    assert not unique_violation(exc, "uq_department_region_id_name")

    session.add(Department(name="城管", region_id=tree.street.id, category_codes=[]))
    await session.flush()
    exc = await refused(Department(name="城管", region_id=tree.street.id, category_codes=[]))
    assert unique_violation(exc, "uq_department_region_id_name")

    # Not a unique violation at all: a foreign key.
    exc = await refused(Membership(user_id=staff.id, role="grid_leader", region_id=10**12))
    assert not unique_violation(exc, "uq_membership_user_id_role_region_id")
