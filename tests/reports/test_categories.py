"""GET /categories, POST /admin/categories, PATCH /admin/categories/{code}, and the
lookups the report flow uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.settings import Settings
from app.org.models import Department
from app.reports.category_service import category_read, get_active_category
from app.reports.models import Category
from app.users.models import Membership, User
from tests.factories import Tree, auth, make_region, make_staff, make_tree, make_user

CATEGORIES = "/api/v1/categories"
ADMIN_CATEGORIES = "/api/v1/admin/categories"

SEEDED = [
    "sos",
    "environment",
    "municipal",
    "fume_noise",
    "neighbour",
    "safety",
    "parking",
    "property",
    "water_power",
    "other",
    "consultation",
    "errand",
]


@dataclass
class Callers:
    """One caller of each role the configuration routes tell apart."""

    tree: Tree
    superadmin: User
    district_admin: User
    street_admin: User
    community_admin: User
    worker: User
    resident: User
    settings: Settings

    def as_(self, user: User) -> dict[str, str]:
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
        worker=await make_staff(session, "grid_worker", tree.grid),
        resident=await make_user(session),
        settings=settings,
    )


def new_category(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"code": "power_outage", "name": "停电抢修", "kind": "issue"}
    body.update(overrides)
    return body


async def test_list_needs_no_login_and_is_in_display_order(client: httpx.AsyncClient) -> None:
    r = await client.get(CATEGORIES)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    assert [c["code"] for c in body["items"]] == SEEDED
    fume = next(c for c in body["items"] if c["code"] == "fume_noise")
    assert fume == {
        "code": "fume_noise",
        "name": "油烟噪音扰民",
        "kind": "issue",
        "response_sla_minutes": 60,
        "resolve_sla": {
            "calendar": "natural",
            "days": {"simple": 1, "general": 3, "complex": 7, "difficult": 15},
            "default_complexity": "general",
        },
        "routing": "grid",
        "department_id": None,
        "public": True,
        "active": True,
        "sort_order": 30,
    }
    consultation = next(c for c in body["items"] if c["code"] == "consultation")
    assert consultation["resolve_sla"]["calendar"] == "working"
    assert consultation["kind"] == "consultation"
    sos = body["items"][0]
    assert (sos["kind"], sos["public"], sos["response_sla_minutes"]) == ("sos", False, 15)


@pytest.mark.parametrize("role", ["superadmin", "district_admin"])
async def test_config_admin_creates_a_category(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, role: str
) -> None:
    c = await make_callers(session, settings)
    body = new_category(
        complexity="simple",
        response_sla_minutes=30,
        sla_calendar="working",
        resolve_days={"simple": 2, "general": 4},
        public=False,
        sort_order=85,
    )
    r = await client.post(ADMIN_CATEGORIES, json=body, headers=c.as_(getattr(c, role)))
    assert r.status_code == 201, r.text
    assert r.json() == {
        "code": "power_outage",
        "name": "停电抢修",
        "kind": "issue",
        "response_sla_minutes": 30,
        "resolve_sla": {
            "calendar": "working",
            "days": {"simple": 2, "general": 4, "complex": 7, "difficult": 15},
            "default_complexity": "simple",
        },
        "routing": "grid",
        "department_id": None,
        "public": False,
        "active": True,
        "sort_order": 85,
    }
    row = await session.scalar(select(Category).where(Category.code == "power_outage"))
    assert row is not None
    assert row.resolve_days == {"simple": 2, "general": 4, "complex": 7, "difficult": 15}

    listed = [x["code"] for x in (await client.get(CATEGORIES)).json()["items"]]
    assert listed.index("power_outage") == listed.index("water_power") + 1


async def test_create_with_defaults(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    r = await client.post(ADMIN_CATEGORIES, json=new_category(), headers=c.as_(c.superadmin))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["response_sla_minutes"] == 60
    assert body["resolve_sla"] == {
        "calendar": "natural",
        "days": {"simple": 1, "general": 3, "complex": 7, "difficult": 15},
        "default_complexity": "general",
    }
    assert (body["routing"], body["public"], body["sort_order"]) == ("grid", True, 100)


async def test_department_routing(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    department = Department(name="供电公司", region_id=c.tree.district.id, category_codes=[])
    session.add(department)
    await session.flush()
    body = new_category(routing="department", department_id=department.id)
    r = await client.post(ADMIN_CATEGORIES, json=body, headers=c.as_(c.district_admin))
    assert r.status_code == 201, r.text
    assert (r.json()["routing"], r.json()["department_id"]) == ("department", department.id)

    missing = new_category(code="gas_leak", routing="department")
    r = await client.post(ADMIN_CATEGORIES, json=missing, headers=c.as_(c.district_admin))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "category.department_required"

    unknown = new_category(code="gas_leak", routing="department", department_id=department.id + 999)
    r = await client.post(ADMIN_CATEGORIES, json=unknown, headers=c.as_(c.district_admin))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "category.department_not_found"


@pytest.mark.parametrize(
    "overrides",
    [
        {"code": "Power"},
        {"code": "1power"},
        {"code": "p"},
        {"code": "power-outage"},
        {"code": "p" * 33},
        {"name": ""},
        {"name": "   "},
        {"name": "名" * 33},
        {"kind": "complaint"},
        {"complexity": "hard"},
        {"response_sla_minutes": 0},
        {"response_sla_minutes": 10081},
        {"response_sla_minutes": 1.5},
        {"sla_calendar": "hours"},
        {"resolve_days": {"easy": 1}},
        {"resolve_days": {"simple": 0}},
        {"resolve_days": {"simple": 366}},
        {"resolve_days": {"simple": 1.5}},
        {"resolve_days": {"simple": "2"}},
        {"resolve_days": {"simple": True}},
        {"resolve_days": [1, 3]},
        {"routing": "street"},
        {"department_id": "abc"},
        {"public": "maybe"},
        {"sort_order": -1},
        {"active": False},
        {"color": "red"},
    ],
)
async def test_bad_create_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, overrides: dict[str, Any]
) -> None:
    c = await make_callers(session, settings)
    r = await client.post(
        ADMIN_CATEGORIES, json=new_category(**overrides), headers=c.as_(c.superadmin)
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert await session.scalar(select(Category).where(Category.name == "停电抢修")) is None


@pytest.mark.parametrize("missing", ["code", "name", "kind"])
async def test_required_fields(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, missing: str
) -> None:
    c = await make_callers(session, settings)
    body = new_category()
    del body[missing]
    r = await client.post(ADMIN_CATEGORIES, json=body, headers=c.as_(c.superadmin))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"]["fields"][0]["field"] == missing


async def test_code_taken_is_409(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    r = await client.post(
        ADMIN_CATEGORIES, json=new_category(code="environment"), headers=c.as_(c.superadmin)
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "category.code_taken"
    # A retired category still holds its code: old reports point at it.
    await client.patch(
        f"{ADMIN_CATEGORIES}/parking", json={"active": False}, headers=c.as_(c.superadmin)
    )
    r = await client.post(
        ADMIN_CATEGORIES, json=new_category(code="parking"), headers=c.as_(c.superadmin)
    )
    assert r.status_code == 409, r.text


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("street_admin", 403),
        ("community_admin", 403),
        ("worker", 403),
        ("resident", 403),
        (None, 401),
    ],
)
async def test_only_config_admins_write(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    role: str | None,
    status: int,
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(getattr(c, role)) if role else {}
    r = await client.post(ADMIN_CATEGORIES, json=new_category(), headers=headers)
    assert r.status_code == status, r.text
    r = await client.patch(f"{ADMIN_CATEGORIES}/parking", json={"name": "乱停车"}, headers=headers)
    assert r.status_code == status, r.text
    if status == 403:
        assert r.json()["error"]["code"] == "auth.config_admin_only"
    assert await session.scalar(select(Category).where(Category.code == "power_outage")) is None
    parking = await session.scalar(select(Category).where(Category.code == "parking"))
    assert parking is not None and parking.name == "停车交通"


async def test_a_district_admin_writes_shared_configuration_only_when_alone(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """Categories and holidays are shared by every region: the admin of the only
    district may change them; once a second district shares the service, only
    a superadmin may (one district's admin would reroute the other's cases)."""
    c = await make_callers(session, settings)
    district = c.as_(c.district_admin)
    r = await client.patch(f"{ADMIN_CATEGORIES}/parking", json={"name": "乱停车"}, headers=district)
    assert r.status_code == 200, r.text
    r = await client.put("/api/v1/admin/holidays/2027-01-06", json=_HOLIDAY, headers=district)
    assert r.status_code == 200, r.text

    await make_region(session, level="district", name="另一个区")
    r = await client.patch(f"{ADMIN_CATEGORIES}/parking", json={"name": "停车"}, headers=district)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "auth.config_admin_only"
    r = await client.put("/api/v1/admin/holidays/2027-01-07", json=_HOLIDAY, headers=district)
    assert r.status_code == 403, r.text
    r = await client.post(ADMIN_CATEGORIES, json=new_category(), headers=district)
    assert r.status_code == 403, r.text
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/parking", json={"name": "停车"}, headers=c.as_(c.superadmin)
    )
    assert r.status_code == 200, r.text


_HOLIDAY = {"is_workday": False, "name": "测试假日"}


async def test_patch_changes_only_what_is_given(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/fume_noise",
        json={"name": "油烟扰民", "response_sla_minutes": 45, "resolve_days": {"general": 5}},
        headers=c.as_(c.district_admin),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["code"], body["name"], body["response_sla_minutes"]) == (
        "fume_noise",
        "油烟扰民",
        45,
    )
    assert body["resolve_sla"]["days"] == {"simple": 1, "general": 5, "complex": 7, "difficult": 15}
    assert body["resolve_sla"]["calendar"] == "natural"
    assert (body["kind"], body["sort_order"], body["public"]) == ("issue", 30, True)

    r = await client.patch(
        f"{ADMIN_CATEGORIES}/fume_noise",
        json={"resolve_days": {"difficult": 20}, "sla_calendar": "working"},
        headers=c.as_(c.superadmin),
    )
    assert r.status_code == 200, r.text
    assert r.json()["resolve_sla"] == {
        "calendar": "working",
        "days": {"simple": 1, "general": 5, "complex": 7, "difficult": 20},
        "default_complexity": "general",
    }


async def test_retire_and_restore(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/parking", json={"active": False}, headers=c.as_(c.superadmin)
    )
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    listed = [x["code"] for x in (await client.get(CATEGORIES)).json()["items"]]
    assert "parking" not in listed and len(listed) == len(SEEDED) - 1
    with pytest.raises(NotFound):
        await get_active_category(session, "parking")

    r = await client.get(ADMIN_CATEGORIES, headers=c.as_(c.community_admin))
    assert r.status_code == 200, r.text
    everything = {x["code"]: x["active"] for x in r.json()["items"]}
    assert everything["parking"] is False and len(everything) == len(SEEDED)

    r = await client.patch(
        f"{ADMIN_CATEGORIES}/parking", json={"active": True}, headers=c.as_(c.superadmin)
    )
    assert r.status_code == 200, r.text
    assert "parking" in [x["code"] for x in (await client.get(CATEGORIES)).json()["items"]]


async def test_admin_list_is_for_admins(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    assert (await client.get(ADMIN_CATEGORIES, headers=c.as_(c.worker))).status_code == 403
    assert (await client.get(ADMIN_CATEGORIES)).status_code == 401


async def test_patch_unknown_code_is_404(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/no_such_thing", json={"name": "无"}, headers=c.as_(c.superadmin)
    )
    assert r.status_code == 404, r.text
    assert r.json()["error"] == {
        "code": "category.not_found",
        "message": "诉求类别不存在",
        "details": {},
    }


@pytest.mark.parametrize(
    "body",
    [
        {"name": None},
        {"active": None},
        {"resolve_days": None},
        {"name": ""},
        {"kind": "complaint"},
        {"response_sla_minutes": 0},
        {"resolve_days": {"simple": 400}},
        {"resolve_days": {"urgent": 1}},
        {"sla_calendar": "lunar"},
        {"code": "renamed"},
        {"routing": "street"},
    ],
)
async def test_bad_patch_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, body: dict[str, Any]
) -> None:
    c = await make_callers(session, settings)
    r = await client.patch(f"{ADMIN_CATEGORIES}/parking", json=body, headers=c.as_(c.superadmin))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    parking = await session.scalar(select(Category).where(Category.code == "parking"))
    assert parking is not None
    assert (parking.name, parking.active, parking.response_sla_minutes) == ("停车交通", True, 60)


async def test_patch_routing_needs_a_department(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(c.superadmin)
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/water_power", json={"routing": "department"}, headers=headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "category.department_required"

    department = Department(name="供水公司", region_id=c.tree.district.id, category_codes=[])
    session.add(department)
    await session.flush()
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/water_power",
        json={"routing": "department", "department_id": department.id},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["routing"], r.json()["department_id"]) == ("department", department.id)

    # Clearing the department of a department-routed category would strand its cases.
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/water_power", json={"department_id": None}, headers=headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "category.department_required"
    r = await client.patch(
        f"{ADMIN_CATEGORIES}/water_power",
        json={"routing": "grid", "department_id": None},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["routing"], r.json()["department_id"]) == ("grid", None)


async def test_get_active_category(session: AsyncSession) -> None:
    category = await get_active_category(session, "fume_noise")
    assert category.name == "油烟噪音扰民"
    with pytest.raises(NotFound) as caught:
        await get_active_category(session, "no_such_thing")
    assert (caught.value.code, caught.value.message) == ("category.not_found", "诉求类别不存在")
    category.active = False
    await session.flush()
    with pytest.raises(NotFound):
        await get_active_category(session, "fume_noise")


def test_category_read_fills_missing_days() -> None:
    category = Category(
        code="x_y",
        name="测试",
        kind="issue",
        complexity="complex",
        response_sla_minutes=20,
        sla_calendar="working",
        resolve_days={"complex": 10},
        routing="grid",
        department_id=None,
        public=True,
        active=True,
        sort_order=5,
    )
    read = category_read(category)
    assert read.resolve_sla.days == {"simple": 1, "general": 3, "complex": 10, "difficult": 15}
    assert read.resolve_sla.default_complexity == "complex"
    assert read.resolve_sla.calendar == "working"
    assert "id" not in read.model_dump() and "created_at" not in read.model_dump()
