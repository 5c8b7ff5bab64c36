"""GET /admin/holidays, PUT and DELETE /admin/holidays/{date}, and what an override
does to a deadline in working days."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from app.reports.calendar import load_calendar
from app.reports.category_service import get_active_category
from app.reports.models import Holiday
from app.reports.sla import resolve_due
from tests.reports.test_categories import make_callers

HOLIDAYS = "/api/v1/admin/holidays"


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


async def test_list_a_known_year(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    r = await client.get(HOLIDAYS, params={"year": 2026}, headers=c.as_(c.community_admin))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_cursor"] is None
    assert body["builtin_available"] is True
    items = {i["date"]: i for i in body["items"]}
    assert list(items) == sorted(items)
    assert all(d.startswith("2026-") for d in items)
    assert items["2026-10-01"] == {
        "date": "2026-10-01",
        "is_workday": False,
        "name": "国庆节",
        "source": "builtin",
    }
    assert items["2026-10-10"] == {
        "date": "2026-10-10",
        "is_workday": True,
        "name": "国庆节调休",
        "source": "builtin",
    }
    assert items["2026-01-01"]["name"] == "元旦"
    assert "2026-11-09" not in items


async def test_put_lists_and_deletes_an_override(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(c.district_admin)

    r = await client.put(
        f"{HOLIDAYS}/2026-10-10", json={"is_workday": False, "name": "取消调休"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "date": "2026-10-10",
        "is_workday": False,
        "name": "取消调休",
        "source": "override",
    }
    r = await client.put(
        f"{HOLIDAYS}/2026-11-09", json={"is_workday": False, "name": " 停工 "}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "停工"

    items = {
        i["date"]: i
        for i in (await client.get(HOLIDAYS, params={"year": 2026}, headers=headers)).json()[
            "items"
        ]
    }
    assert (items["2026-10-10"]["source"], items["2026-10-10"]["is_workday"]) == (
        "override",
        False,
    )
    assert items["2026-11-09"]["source"] == "override"
    assert items["2026-10-01"]["source"] == "builtin"

    row = await session.get(Holiday, date(2026, 11, 9))
    assert row is not None and row.updated_by == c.district_admin.id

    r = await client.delete(f"{HOLIDAYS}/2026-10-10", headers=headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    items = {
        i["date"]: i
        for i in (await client.get(HOLIDAYS, params={"year": 2026}, headers=headers)).json()[
            "items"
        ]
    }
    assert items["2026-10-10"] == {
        "date": "2026-10-10",
        "is_workday": True,
        "name": "国庆节调休",
        "source": "builtin",
    }

    r = await client.delete(f"{HOLIDAYS}/2026-10-10", headers=headers)
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "holiday.not_found"


async def test_put_is_an_upsert(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    url = f"{HOLIDAYS}/2026-11-07"
    r = await client.put(
        url, json={"is_workday": True, "name": "补班"}, headers=c.as_(c.superadmin)
    )
    assert r.status_code == 200, r.text
    r = await client.put(url, json={"is_workday": False}, headers=c.as_(c.district_admin))
    assert r.status_code == 200, r.text
    assert r.json() == {"date": "2026-11-07", "is_workday": False, "name": "", "source": "override"}
    count = await session.scalar(
        select(func.count()).select_from(Holiday).where(Holiday.day_date == date(2026, 11, 7))
    )
    assert count == 1
    row = await session.get(Holiday, date(2026, 11, 7))
    assert row is not None
    await session.refresh(row)
    assert (row.is_workday, row.updated_by) == (False, c.district_admin.id)


async def test_unknown_year_lists_only_overrides(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(c.superadmin)
    r = await client.get(HOLIDAYS, params={"year": 2099}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next_cursor": None, "builtin_available": False}
    await client.put(
        f"{HOLIDAYS}/2099-10-01", json={"is_workday": False, "name": "国庆节"}, headers=headers
    )
    r = await client.get(HOLIDAYS, params={"year": 2099}, headers=headers)
    assert r.json()["items"] == [
        {"date": "2099-10-01", "is_workday": False, "name": "国庆节", "source": "override"}
    ]


async def test_default_year_is_this_year_in_shanghai(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(c.superadmin)
    await client.put(
        f"{HOLIDAYS}/2027-01-01", json={"is_workday": False, "name": "元旦"}, headers=headers
    )
    # 16:30 UTC on 2026-12-31 is already 2027-01-01 00:30 in Shanghai.
    # Tokens are checked against the clock too, so each is issued at the frozen time.
    with clock.frozen(datetime(2026, 12, 31, 16, 30, tzinfo=UTC)):
        r = await client.get(HOLIDAYS, headers=c.as_(c.superadmin))
    assert r.status_code == 200, r.text
    assert [i["date"] for i in r.json()["items"]] == ["2027-01-01"]
    with clock.frozen(datetime(2026, 12, 31, 15, 30, tzinfo=UTC)):
        r = await client.get(HOLIDAYS, headers=c.as_(c.superadmin))
    assert r.json()["builtin_available"] is True
    assert r.json()["items"][0]["date"] == "2026-01-01"


@pytest.mark.parametrize(
    "day", ["2026-13-01", "2026-02-30", "20261001", "1789948800", "2026-1-1", "tomorrow"]
)
async def test_bad_date_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, day: str
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(c.superadmin)
    r = await client.put(f"{HOLIDAYS}/{day}", json={"is_workday": False}, headers=headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    r = await client.delete(f"{HOLIDAYS}/{day}", headers=headers)
    assert r.status_code == 422, r.text
    assert await session.scalar(select(func.count()).select_from(Holiday)) == 0


@pytest.mark.parametrize("day", ["1999-12-31", "2101-01-01"])
async def test_date_out_of_range_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, day: str
) -> None:
    c = await make_callers(session, settings)
    r = await client.put(
        f"{HOLIDAYS}/{day}", json={"is_workday": False}, headers=c.as_(c.superadmin)
    )
    assert r.status_code == 422, r.text
    assert "2000" in r.json()["error"]["message"]


@pytest.mark.parametrize("year", ["1999", "2101", "abc"])
async def test_year_out_of_range_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, year: str
) -> None:
    c = await make_callers(session, settings)
    r = await client.get(HOLIDAYS, params={"year": year}, headers=c.as_(c.superadmin))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "缺少上班标记"},
        {"is_workday": "sometimes"},
        {"is_workday": False, "name": "名" * 33},
        {"is_workday": False, "source": "builtin"},
    ],
)
async def test_bad_body_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, body: dict[str, object]
) -> None:
    c = await make_callers(session, settings)
    r = await client.put(f"{HOLIDAYS}/2026-11-09", json=body, headers=c.as_(c.superadmin))
    assert r.status_code == 422, r.text
    assert await session.get(Holiday, date(2026, 11, 9)) is None


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
async def test_only_config_admins_change_the_calendar(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    role: str | None,
    status: int,
) -> None:
    c = await make_callers(session, settings)
    session.add(Holiday(day_date=date(2026, 11, 6), is_workday=False, name="停工"))
    await session.flush()
    headers = c.as_(getattr(c, role)) if role else {}
    r = await client.put(f"{HOLIDAYS}/2026-11-09", json={"is_workday": False}, headers=headers)
    assert r.status_code == status, r.text
    r = await client.delete(f"{HOLIDAYS}/2026-11-06", headers=headers)
    assert r.status_code == status, r.text
    assert await session.get(Holiday, date(2026, 11, 9)) is None
    assert await session.get(Holiday, date(2026, 11, 6)) is not None


@pytest.mark.parametrize(("role", "status"), [("worker", 403), ("resident", 403), (None, 401)])
async def test_list_is_for_admins(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    role: str | None,
    status: int,
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(getattr(c, role)) if role else {}
    r = await client.get(HOLIDAYS, params={"year": 2026}, headers=headers)
    assert r.status_code == status, r.text


async def test_override_moves_a_working_day_deadline(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    c = await make_callers(session, settings)
    headers = c.as_(c.district_admin)
    consultation = await get_active_category(session, "consultation")  # seeded: working days
    assert consultation.sla_calendar == "working"
    friday = sh("2026-11-06T10:30")

    async def due() -> datetime:
        return resolve_due(friday, consultation, "simple", await load_calendar(session))

    assert await due() == sh("2026-11-09T10:30")

    r = await client.put(
        f"{HOLIDAYS}/2026-11-09", json={"is_workday": False, "name": "停工"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert await due() == sh("2026-11-10T10:30")

    r = await client.put(
        f"{HOLIDAYS}/2026-11-07", json={"is_workday": True, "name": "补班"}, headers=headers
    )
    assert r.status_code == 200, r.text
    assert await due() == sh("2026-11-07T10:30")

    for day in ("2026-11-07", "2026-11-09"):
        assert (await client.delete(f"{HOLIDAYS}/{day}", headers=headers)).status_code == 204
    assert await due() == sh("2026-11-09T10:30")
