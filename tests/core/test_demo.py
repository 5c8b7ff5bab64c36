"""The demo data behind `ejiaren serve --demo`: accounts for every role, grids,
published policies a resident can find, and 便民服务 (points, services, the
coming week's slots) a resident can book or hand over as an errand; seeding
twice changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo_convenience
from app.convenience import hours
from app.convenience.models import Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.clock import SHANGHAI
from app.demo import seed
from app.policies.models import Policy
from app.policies.samples import DOCS
from app.reports.models import Holiday, Report
from app.users.models import User


async def test_demo_seed_is_usable_and_repeatable(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    rows = await seed(session)
    assert {"admin", "street", "community1", "worker11", "demo-resident-1"} <= {r[0] for r in rows}
    published = select(func.count()).select_from(Policy).where(Policy.status == "published")
    assert await session.scalar(published) == len(DOCS)
    users = await session.scalar(select(func.count()).select_from(User))

    again = await seed(session)
    assert again == rows
    assert await session.scalar(published) == len(DOCS)
    assert await session.scalar(select(func.count()).select_from(User)) == users

    r = await client.get("/api/v1/policies", params={"q": "医保怎么报销"})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["title"] == "城乡居民基本医疗保险报销办法"
    r = await client.post(
        "/api/v1/auth/password/login", json={"username": "worker11", "password": "demo1234"}
    )
    assert r.status_code == 200, r.text


# ---------------------------------------------------------------- 便民服务

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)  # a Monday, no holiday that week


async def _login(client: httpx.AsyncClient, code: str) -> dict[str, str]:
    r = await client.post("/api/v1/auth/wechat/login", json={"code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _slot_keys(session: AsyncSession) -> list[tuple[int, int, datetime]]:
    rows = await session.execute(
        select(ServiceSlot.service_id, ServiceSlot.point_id, ServiceSlot.start_at)
    )
    return [(s, p, at) for s, p, at in rows]


async def _counts(session: AsyncSession) -> tuple[int, int, int]:
    def count(model: type[Any]) -> Any:
        return select(func.count()).select_from(model)

    return (
        int(await session.scalar(count(ServicePoint)) or 0),
        int(await session.scalar(count(Service)) or 0),
        int(await session.scalar(count(ServiceSlot)) or 0),
    )


async def test_demo_points_and_services_for_residents(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    with clock.frozen(NOW):
        await seed(session)
        resident = await _login(client, "demo-resident-1")

        # Every point stands inside its demo grid and is found near the resident's home.
        home = {"lat": 35.0815, "lng": 112.932, "coord": "wgs84"}
        r = await client.get("/api/v1/service-points/nearby", params=home)
        assert r.status_code == 200, r.text
        nearby = {p["name"]: p for p in r.json()["items"]}
        assert set(nearby) == {p.name for p in demo_convenience.POINTS}
        assert {p["type"] for p in nearby.values()} >= {"党群服务中心", "便民服务站", "暖心驿站"}
        for demo in demo_convenience.POINTS:
            point = nearby[demo.name]
            assert point["open_now"] is True  # all open at 10:00 on a Monday
            assert point["address"] == demo.address and point["phone"] == demo.phone
            loc = point["location"]
            r = await client.get(
                "/api/v1/grids/locate",
                params={"lat": loc["lat"], "lng": loc["lng"], "coord": "wgs84"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["grid"]["name"] == demo.grid
        r = await client.get("/api/v1/service-points/nearby", params={**home, "type": "暖心驿站"})
        assert [p["name"] for p in r.json()["items"]] == [demo_convenience.TAIHANG_CANTEEN]

        # The catalogue, public.
        r = await client.get("/api/v1/services")
        assert r.status_code == 200, r.text
        services = {s["name"]: s for s in r.json()["items"]}
        assert set(services) == {s.name for s in demo_convenience.SERVICES}
        assert {n for n, s in services.items() if s["errand"]} == {
            demo_convenience.PENSION,
            demo_convenience.MEALS,
            demo_convenience.UTILITIES,
            demo_convenience.LONGEVITY,
        }
        r = await client.get("/api/v1/services", params={"q": "助餐"})
        assert [s["name"] for s in r.json()["items"]] == [demo_convenience.MEALS]

        # Slots of the coming week, on open days only, never in the past.
        meals = services[demo_convenience.MEALS]["id"]
        r = await client.get(f"/api/v1/services/{meals}/slots", params={"date": "2026-11-29"})
        assert [(s["start_at"][11:16], s["capacity"]) for s in r.json()["items"]] == [
            ("11:00", 40),
            ("17:00", 40),
        ]
        pension = services[demo_convenience.PENSION]["id"]
        r = await client.get(f"/api/v1/services/{pension}/slots", params={"date": "2026-11-23"})
        starts = {(s["point"]["name"], s["start_at"][11:16]) for s in r.json()["items"]}
        assert (demo_convenience.STREET_CENTRE, "09:00") not in starts  # already started
        assert (demo_convenience.STREET_CENTRE, "15:00") in starts
        r = await client.get(f"/api/v1/services/{pension}/slots", params={"date": "2026-11-29"})
        assert r.json()["items"] == []  # Sunday: both points closed
        r = await client.get(f"/api/v1/services/{pension}/slots", params={"date": "2026-11-30"})
        assert r.json()["items"] == []  # outside the week

        # 居住证: three seats per half hour; the fourth resident is turned away.
        residence = services[demo_convenience.RESIDENCE]["id"]
        r = await client.get(f"/api/v1/services/{residence}/slots", params={"date": "2026-11-24"})
        slot = r.json()["items"][0]
        assert (slot["capacity"], slot["booked"], slot["available"]) == (3, 0, True)
        callers = [resident] + [
            await _login(client, code) for code in ("demo-resident-2", "demo-resident-3")
        ]
        booking_ids = []
        for caller in callers:
            r = await client.post("/api/v1/bookings", json={"slot_id": slot["id"]}, headers=caller)
            assert r.status_code == 201, r.text
            booking_ids.append(r.json()["id"])
        r = await client.post(
            "/api/v1/bookings",
            json={"slot_id": slot["id"]},
            headers=await _login(client, "demo-resident-4"),
        )
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "booking.full"
        r = await client.get(f"/api/v1/services/{residence}/slots", params={"date": "2026-11-24"})
        first = r.json()["items"][0]
        assert (first["booked"], first["remaining"], first["available"]) == (3, 0, False)
        r = await client.get("/api/v1/bookings/mine", headers=resident)
        assert [b["id"] for b in r.json()["items"]] == [booking_ids[0]]
        r = await client.post(f"/api/v1/bookings/{booking_ids[0]}/cancel", headers=resident)
        assert r.status_code == 200, r.text
        r = await client.get(f"/api/v1/services/{residence}/slots", params={"date": "2026-11-24"})
        assert r.json()["items"][0]["remaining"] == 1

        # 代办: an errand naming a seeded service goes to the resident's grid worker.
        utilities = services[demo_convenience.UTILITIES]["id"]
        r = await client.post(
            "/api/v1/reports",
            json={
                "kind": "errand",
                "category": "errand",
                "description": "家中老人独居，请网格员帮忙代缴本月水电费",
                "service_id": utilities,
            },
            headers=resident,
        )
        assert r.status_code == 201, r.text
        report = r.json()
        assert report["status"] == "dispatched"
        assert report["grid"]["name"] == "沁水湾小区网格"
        worker11 = await session.scalar(select(User).where(User.username == "worker11"))
        assert worker11 is not None and report["assignee"]["id"] == worker11.id
        stored = await session.get(Report, report["id"])
        assert stored is not None and stored.service_id == utilities
        r = await client.post(
            "/api/v1/reports",
            json={
                "kind": "errand",
                "category": "errand",
                "description": "请帮忙办理居住证，谢谢",
                "service_id": residence,
            },
            headers=resident,
        )
        assert r.status_code == 422, r.text  # 居住证 is not done as an errand


async def test_demo_convenience_reseeding_adds_only_new_days(session: AsyncSession) -> None:
    with clock.frozen(NOW):
        await seed(session)
        points, services, slots = await _counts(session)
        assert (points, services) == (len(demo_convenience.POINTS), len(demo_convenience.SERVICES))
        keys = await _slot_keys(session)
        assert len(keys) == slots == len(set(keys))
        week_end = NOW.replace(hour=0) + timedelta(days=demo_convenience.SLOT_DAYS)
        assert all(NOW < at < week_end for _, _, at in keys)

        await seed(session)
        assert await _counts(session) == (points, services, slots)

    # A day later the window has moved on: only the new day's slots are added.
    with clock.frozen(NOW + timedelta(days=1)):
        await seed(session)
        assert (await _counts(session))[:2] == (points, services)
        after = await _slot_keys(session)
        assert len(after) == len(set(after))
        added = set(after) - set(keys)
        assert added and set(keys) <= set(after)
        assert {clock.to_shanghai(at).date() for _, _, at in added} == {date(2026, 11, 30)}


async def test_demo_slots_respect_holidays_and_opening_hours(session: AsyncSession) -> None:
    # The admins closed Wednesday: only the point open on holidays publishes slots.
    session.add(Holiday(day_date=date(2026, 11, 25), is_workday=False, name="停工"))
    await session.flush()
    with clock.frozen(NOW):
        await seed(session)
    points = {p.id: p for p in await session.scalars(select(ServicePoint))}
    for _, point_id, at in await _slot_keys(session):
        point, local = points[point_id], clock.to_shanghai(at)
        if local.date() == date(2026, 11, 25):
            assert point.name == demo_convenience.TAIHANG_CANTEEN
        minute = local.hour * 60 + local.minute
        assert any(
            hours.minutes(h["open"]) <= minute < hours.minutes(h["close"])
            for h in hours.day_hours(point.opening_hours, local.isoweekday())
        ), (point.name, local)
