"""The world the authorization matrix runs in: one street with two communities,
callers of every kind, API keys, and real objects that belong to someone.

Everything the matrix acts on sits in community A (``tree.community``), grid
g1 (``tree.grid``); the callers who must be refused sit next to it: another
grid of the same community, another community of the same street, another
region for the API key. Objects are made through the API where the API makes
them (reports, media, bookings), else with the test factories.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.settings import Settings
from app.integrations.models import ApiClient
from app.org.models import Department, Region
from app.outbox import enqueue
from app.outbox.models import OutboxMessage
from app.users.models import Membership, User
from tests.convenience.helpers import make_point, make_service, make_slot
from tests.factories import Tree, auth, make_staff, make_tree, make_user
from tests.integrations.helpers import ALL_SCOPES, key_header, make_api_client
from tests.reports.helpers import IN_GRID, jpeg_bytes, wgs

API = "/api/v1"
_seq = itertools.count(1)


class SetupError(AssertionError):
    """The world could not be built: a fixture request failed, not a cell."""


def expect(r: httpx.Response, *codes: int) -> Any:
    if r.status_code not in codes:
        raise SetupError(f"{r.request.method} {r.request.url.path} → {r.status_code}: {r.text}")
    return (
        r.json()
        if r.content and r.headers.get("content-type", "").startswith("application/json")
        else None
    )


@dataclass
class World:
    settings: Settings
    client: httpx.AsyncClient
    session: AsyncSession
    tree: Tree
    other_district: Region
    # Owners and the staff over community A, grid g1.
    resident: User  # B: owns the reports, media, booking
    worker: User  # grid worker of g1
    leader: User  # grid leader of g1
    community_admin: User  # of community A
    street_admin: User  # of the street over A
    district_admin: User
    superadmin: User
    other_district_admin: User  # district admin of another district
    # Callers that must be refused.
    intruder: User  # resident A
    other_worker: User  # grid worker of g2 (same community, other grid)
    other_admin: User  # community admin of community B
    # API keys: one with every scope over the street; one per scope with all but
    # that scope over the street; one with every scope over another district.
    key: str
    keys_without: dict[str, str]
    key_elsewhere: str
    # Objects.
    department: Department
    category_code: str
    service: Service
    point: ServicePoint
    slot: ServiceSlot
    api_client: ApiClient
    # Staff the admins manage sit in g2, so that cases in g1 always go to ``worker``.
    target_staff: User  # a grid worker of g2
    login_user: User  # staff with a password, for the login routes
    login_password: str = "grid-pass-2026"
    report_id: int = 0
    media_id: int = 0
    policy_id: int = 0
    booking_id: int = 0
    cache: dict[str, Any] = field(default_factory=dict)

    # -- callers -------------------------------------------------------------

    def h(self, user: User) -> dict[str, str]:
        return auth(self.settings, user)

    def key_lacking(self, scope: str | None) -> str:
        """A key over the object's region without ``scope`` (with every scope
        when the route takes no key at all)."""
        return self.key if scope is None else self.keys_without[scope]

    # -- reports through the API, in the state a cell needs ------------------

    async def report(
        self, state: str = "dispatched", *, kind: str = "issue", media_id: int | None = None
    ) -> int:
        """A case of ``resident`` in g1, dispatched to ``worker`` and moved on to
        ``state``; ``review`` is a dispatched case whose text content security
        holds for an admin's review."""
        text = "这段文字需要待审处理一下" if state == "review" else "小区门口垃圾堆积三天无人清运"
        body: dict[str, Any] = {
            "kind": kind,
            "category": "consultation" if kind == "consultation" else "environment",
            "description": f"{text}（{next(_seq)}）",
            "location": wgs(IN_GRID),
            "media_ids": [media_id] if media_id else [],
        }
        r = await self.client.post(f"{API}/reports", json=body, headers=self.h(self.resident))
        rid: int = expect(r, 201)["id"]
        worker = self.h(self.worker)
        if state in ("dispatched", "review"):
            return rid
        if state == "submitted":
            # Sent back to the community queue: waiting for an admin to dispatch.
            expect(await self.act(worker, rid, "return", {"reason": "不属于本网格"}), 200)
            return rid
        expect(await self.act(worker, rid, "accept"), 200)
        if state == "in_progress":
            return rid
        if state == "extension":
            r = await self.act(worker, rid, "extension", {"hours": 24, "reason": "等待配件"})
            self.cache[f"ext:{rid}"] = expect(r, 200)["pending_extension"]["id"]
            return rid
        if state == "escalated":
            body = {"reason": "需社区协调", "to": "community"}
            expect(await self.act(worker, rid, "escalate", body), 200)
            return rid
        expect(await self.act(worker, rid, "resolve", {"note": "已清运完毕"}), 200)
        if state == "resolved":
            return rid
        if state == "closed":
            body = {"score": "satisfied"}
            expect(await self.act(self.h(self.resident), rid, "rating", body), 200)
            return rid
        raise ValueError(state)

    async def answered_consultation(self) -> int:
        rid = await self.report("dispatched", kind="consultation")
        body = {"note": "携带身份证到社区党群服务中心办理"}
        expect(await self.act(self.h(self.worker), rid, "answer", body), 200)
        return rid

    async def act(
        self, headers: dict[str, str], rid: int, action: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            f"{API}/reports/{rid}/{action}", json=body or {}, headers=headers
        )

    # -- other objects -------------------------------------------------------

    async def media(self) -> int:
        r = await self.client.post(
            f"{API}/media",
            headers=self.h(self.resident),
            files={"file": ("photo.jpg", jpeg_bytes((next(_seq) % 250, 80, 80)), "image/jpeg")},
        )
        return expect(r, 201)["id"]  # type: ignore[no-any-return]

    async def signed_file(self, media_id: int) -> dict[str, str]:
        r = await self.client.get(f"{API}/media/{media_id}", headers=self.h(self.resident))
        url = httpx.URL(expect(r, 200)["url"])
        return dict(url.params)

    async def policy(self, *, publish: bool = False) -> int:
        body = {
            "title": f"城乡居民基本医疗保险报销办法（{next(_seq)}）",
            "body": "## 一、报销范围\n参保居民在定点医疗机构住院发生的合规医疗费用，按比例报销。",
            "category": "医疗保障",
            "tags": ["医保"],
            "region_id": self.tree.community.id,
        }
        admin = self.h(self.community_admin)
        r = await self.client.post(f"{API}/admin/policies", json=body, headers=admin)
        pid: int = expect(r, 201)["id"]
        if publish:
            expect(
                await self.client.post(f"{API}/admin/policies/{pid}/publish", headers=admin), 200
            )
        return pid

    async def new_slot(self, *, soon: bool = False) -> int:
        start = clock.now() + (
            timedelta(minutes=30) if soon else timedelta(days=2, minutes=30 * next(_seq))
        )
        return (await make_slot(self.session, self.service, self.point, start=start)).id

    async def booking(self, *, soon: bool = False) -> int:
        slot_id = await self.new_slot(soon=soon)
        r = await self.client.post(
            f"{API}/bookings", json={"slot_id": slot_id}, headers=self.h(self.resident)
        )
        return expect(r, 201)["id"]  # type: ignore[no-any-return]

    async def dead_message(self) -> int:
        message: OutboxMessage = await enqueue(
            self.session, kind="test.matrix", payload={"n": next(_seq)}, target="matrix"
        )
        message.status = "dead"
        await self.session.flush()
        return message.id

    async def staff_role(self) -> tuple[int, int]:
        """A grid worker of g2 with a second role (grid leader of g2) to revoke."""
        user = await make_staff(self.session, "grid_worker", self.tree.other_grid)
        m = Membership(user_id=user.id, role="grid_leader", region_id=self.tree.other_grid.id)
        self.session.add(m)
        await self.session.flush()
        return user.id, m.id

    async def stand_in(self, caller: str) -> User:
        """A fresh user of the kind ``caller`` names, for routes that act on the
        caller's own account."""
        t = self.tree
        staff = {
            "wrk": ("grid_worker", t.other_grid),
            "adm": ("community_admin", t.other_community),
            "str": ("street_admin", t.street),
        }
        if caller in staff:
            role, region = staff[caller]
            return await make_staff(self.session, role, region)
        return await make_user(self.session, name="一次性居民", phone="13911112222")

    async def fresh_client(self) -> int:
        client, _ = await make_api_client(self.session, self.tree.community, name="接入方")
        return client.id

    def holiday(self) -> str:
        return (clock.now().date() + timedelta(days=400 + next(_seq))).isoformat()


async def _keys(session: AsyncSession, region: Region, scopes: Iterable[str]) -> dict[str, str]:
    out = {}
    for scope in scopes:
        _, key = await make_api_client(
            session, region, [s for s in ALL_SCOPES if s != scope], name=f"缺少{scope}"
        )
        out[scope] = key
    return out


async def make_world(session: AsyncSession, settings: Settings, client: httpx.AsyncClient) -> World:
    tree = await make_tree(session)
    other_tree = await make_tree(session)
    superadmin = await make_user(session, kind="staff", name="系统管理员")
    session.add(Membership(user_id=superadmin.id, role="superadmin", region_id=None))
    await session.flush()
    department = Department(
        name="城市管理局", region_id=tree.community.id, category_codes=["environment"]
    )
    session.add(department)
    await session.flush()
    service = await make_service(session, tree.community)
    point = await make_point(session, tree.community)
    slot = await make_slot(session, service, point, capacity=1000)
    api_client, key = await make_api_client(session, tree.street)
    _, key_elsewhere = await make_api_client(session, other_tree.district, name="别区接入方")
    world = World(
        settings=settings,
        client=client,
        session=session,
        tree=tree,
        other_district=other_tree.district,
        resident=await make_user(session, name="张居民", phone="13912345678"),
        worker=await make_staff(session, "grid_worker", tree.grid, name="王网格"),
        leader=await make_staff(session, "grid_leader", tree.grid, name="周网格长"),
        community_admin=await make_staff(
            session, "community_admin", tree.community, name="社区管理员"
        ),
        street_admin=await make_staff(session, "street_admin", tree.street, name="街道管理员"),
        district_admin=await make_staff(session, "district_admin", tree.district, name="区管理员"),
        superadmin=superadmin,
        other_district_admin=await make_staff(
            session, "district_admin", other_tree.district, name="别区管理员"
        ),
        intruder=await make_user(session, name="李居民", phone="13987654321"),
        other_worker=await make_staff(session, "grid_worker", tree.other_grid, name="李网格"),
        other_admin=await make_staff(
            session, "community_admin", tree.other_community, name="另一社区管理员"
        ),
        key=key,
        keys_without=await _keys(session, tree.street, ALL_SCOPES),
        key_elsewhere=key_elsewhere,
        department=department,
        category_code="environment",
        service=service,
        point=point,
        slot=slot,
        api_client=api_client,
        target_staff=await make_staff(
            session, "grid_worker", tree.other_grid, name="被管理的网格员"
        ),
        login_user=await make_staff(
            session, "grid_worker", tree.other_grid, password="grid-pass-2026"
        ),
    )
    world.media_id = await world.media()
    world.report_id = await world.report("in_progress", media_id=world.media_id)
    world.policy_id = await world.policy(publish=True)
    world.booking_id = await world.booking()
    return world


__all__ = ["API", "SetupError", "World", "expect", "key_header", "make_world"]
