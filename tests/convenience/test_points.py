"""POST /admin/service-points, PATCH /admin/service-points/{id} and
GET /service-points/nearby (distance order, radius, open now)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import ServicePoint
from app.core import clock
from app.core.settings import Settings
from app.org.geo import distance_m, wgs84_to_gcj02
from tests.convenience.helpers import (
    HERE,
    WEEKDAYS_9_TO_5,
    World,
    east_of,
    make_point,
    make_world,
    sh,
    wgs,
)

ADMIN = "/api/v1/admin/service-points"
NEARBY = "/api/v1/service-points/nearby"

BODY: dict[str, Any] = {
    "name": "玉溪苑暖心驿站",
    "type": "暖心驿站",
    "location": wgs(*HERE),
    "address": "玉溪苑小区南门",
    "phone": "0391-5550000",
    "opening_hours": [
        {"weekday": 1, "open": "14:30", "close": "17:30"},
        {"weekday": 1, "open": "08:30", "close": "12:00"},
        {"weekday": 6, "open": "09:00", "close": "12:00"},
    ],
    "open_on_holidays": False,
}


@pytest.fixture
async def w(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def near(**params: Any) -> dict[str, Any]:
    return {"lat": HERE[1], "lng": HERE[0], "coord": "wgs84", **params}


# ---------------------------------------------------------------- create and edit


async def test_create_stores_wgs84_and_sorted_hours(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    g_lng, g_lat = wgs84_to_gcj02(*HERE)
    body = {**BODY, "location": {"lat": g_lat, "lng": g_lng, "coord": "gcj02"}}
    r = await client.post(ADMIN, json=body, headers=w.h(w.community_admin))
    assert r.status_code == 201, r.text
    point = r.json()
    assert point["region_id"] == w.tree.community.id
    assert point["location"]["coord"] == "wgs84"
    # Stored in WGS-84 to within a few centimetres of where it really is.
    loc = point["location"]
    assert distance_m(loc["lng"], loc["lat"], *HERE) < 0.05
    assert point["location_gcj02"]["coord"] == "gcj02"
    assert (
        distance_m(point["location_gcj02"]["lng"], point["location_gcj02"]["lat"], g_lng, g_lat)
        < 0.05
    )
    assert [(h["weekday"], h["open"]) for h in point["opening_hours"]] == [
        (1, "08:30"),
        (1, "14:30"),
        (6, "09:00"),
    ]
    stored = await session.get(ServicePoint, point["id"])
    assert stored is not None and stored.coord_in == "gcj02"


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ([{"weekday": 0, "open": "08:00", "close": "12:00"}], None),
        ([{"weekday": 8, "open": "08:00", "close": "12:00"}], None),
        ([{"weekday": 1, "open": "8:00", "close": "12:00"}], "开门时间"),
        ([{"weekday": 1, "open": "08:00", "close": "24:30"}], "关门时间"),
        ([{"weekday": 1, "open": "24:00", "close": "24:00"}], "开门时间"),
        ([{"weekday": 1, "open": "12:00", "close": "12:00"}], "晚于"),
        ([{"weekday": 1, "open": "18:00", "close": "08:00"}], "晚于"),
        (
            [
                {"weekday": 3, "open": "08:00", "close": "12:30"},
                {"weekday": 3, "open": "12:00", "close": "17:00"},
            ],
            "重叠",
        ),
    ],
)
async def test_create_refuses_bad_hours(
    client: httpx.AsyncClient, w: World, hours: list[dict[str, Any]], message: str | None
) -> None:
    r = await client.post(
        ADMIN, json={**BODY, "opening_hours": hours}, headers=w.h(w.community_admin)
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert all(f["field"].startswith("opening_hours") for f in error["details"]["fields"])
    if message:
        assert message in error["message"]


async def test_create_refuses_bad_location_and_scope(client: httpx.AsyncClient, w: World) -> None:
    r = await client.post(
        ADMIN, json={**BODY, "location": wgs(2.35, 48.85)}, headers=w.h(w.community_admin)
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "geo.outside_china"
    r = await client.post(
        ADMIN, json={**BODY, "location": {"lat": 95, "lng": 112}}, headers=w.h(w.community_admin)
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.post(
        ADMIN, json={**BODY, "region_id": w.tree.other_community.id}, headers=w.h(w.community_admin)
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "region.not_found"
    r = await client.post(ADMIN, json=BODY, headers=w.h(w.resident))
    assert r.status_code == 403
    r = await client.post(ADMIN, json=BODY, headers=w.h(w.worker))
    assert r.status_code == 403
    r = await client.post(ADMIN, json=BODY)
    assert r.status_code == 401


async def test_patch(client: httpx.AsyncClient, session: AsyncSession, w: World) -> None:
    point = await make_point(session, w.tree.community)
    url = f"{ADMIN}/{point.id}"
    moved = east_of(HERE, 100)
    r = await client.patch(
        url,
        json={
            "name": "新站名",
            "location": wgs(*moved),
            "opening_hours": [{"weekday": 7, "open": "00:00", "close": "24:00"}],
            "open_on_holidays": True,
            "phone": None,
        },
        headers=w.h(w.community_admin),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "新站名" and body["open_on_holidays"] is True
    assert body["opening_hours"] == [{"weekday": 7, "open": "00:00", "close": "24:00"}]
    assert abs(body["location"]["lng"] - moved[0]) < 1e-9
    assert body["type"] == "便民服务站"  # untouched

    r = await client.patch(url, json={"name": "x"}, headers=w.h(w.other_community_admin))
    assert r.status_code == 404 and r.json()["error"]["code"] == "service_point.not_found"
    r = await client.patch(url, json={"name": "x"}, headers=w.h(w.worker))
    assert r.status_code == 403
    r = await client.patch(url, json={"name": "x"})
    assert r.status_code == 401
    r = await client.patch(
        url,
        json={"opening_hours": [{"weekday": 1, "open": "09:00", "close": "08:00"}]},
        headers=w.h(w.community_admin),
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.patch(url, json={"open_on_holidays": None}, headers=w.h(w.community_admin))
    assert r.status_code == 422


# ---------------------------------------------------------------- nearby


async def test_nearby_orders_by_distance_within_radius(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    far = await make_point(session, w.tree.community, at=east_of(HERE, 2500), name="远")
    nearest = await make_point(session, w.tree.community, at=east_of(HERE, 120), name="近")
    middle = await make_point(session, w.tree.street, at=east_of(HERE, 900), name="中")
    outside = await make_point(session, w.tree.street, at=east_of(HERE, 3600), name="圈外")
    off = await make_point(session, w.tree.street, at=east_of(HERE, 50), name="停用", active=False)

    r = await client.get(NEARBY, params=near())  # no login; default radius 3000 m
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    ids = [i["id"] for i in items]
    assert ids == [nearest.id, middle.id, far.id]
    assert outside.id not in ids and off.id not in ids
    assert [round(i["distance_m"]) for i in items] == [120, 900, 2500]
    assert r.json()["next_cursor"] is None

    r = await client.get(NEARBY, params=near(radius=1000))
    assert [i["id"] for i in r.json()["items"]] == [nearest.id, middle.id]
    r = await client.get(NEARBY, params=near(radius=5000, limit=2))
    assert [i["id"] for i in r.json()["items"]] == [nearest.id, middle.id]
    r = await client.get(NEARBY, params=near(radius=5000))
    assert [i["id"] for i in r.json()["items"]] == [nearest.id, middle.id, far.id, outside.id]

    # GCJ-02 input (the default) lands at the same place.
    g_lng, g_lat = wgs84_to_gcj02(*HERE)
    r = await client.get(NEARBY, params={"lat": g_lat, "lng": g_lng})
    assert [round(i["distance_m"]) for i in r.json()["items"]] == [120, 900, 2500]


async def test_nearby_filters_by_type(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    station = await make_point(session, w.tree.street, at=east_of(HERE, 100), type="便民服务站")
    inn = await make_point(session, w.tree.street, at=east_of(HERE, 200), type="暖心驿站")
    r = await client.get(NEARBY, params=near(type="暖心驿站"))
    assert [i["id"] for i in r.json()["items"]] == [inn.id]
    assert station.id not in [i["id"] for i in r.json()["items"]]


@pytest.mark.parametrize(
    "params",
    [
        near(radius=0),
        near(radius=50_001),
        near(lat=91),
        near(coord="bd09"),
        {"lng": HERE[0]},
    ],
)
async def test_nearby_bad_input(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    r = await client.get(NEARBY, params=params)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"


async def test_nearby_outside_china(client: httpx.AsyncClient) -> None:
    r = await client.get(NEARBY, params={"lat": 48.85, "lng": 2.35, "coord": "wgs84"})
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "geo.outside_china"


async def _open_now(client: httpx.AsyncClient, point_id: int) -> dict[str, Any]:
    r = await client.get(NEARBY, params=near(radius=500))
    assert r.status_code == 200, r.text
    return next(i for i in r.json()["items"] if i["id"] == point_id)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-22T23:59", False),  # Sunday night: a weekday-only point is closed
        ("2026-11-23T08:59", False),  # Monday before opening
        ("2026-11-23T09:00", True),  # Monday 09:00 in Shanghai (01:00 UTC)
        ("2026-11-23T16:59", True),
        ("2026-11-23T17:00", False),
        ("2026-11-28T10:00", False),  # an ordinary Saturday
    ],
)
async def test_open_now_across_the_week(
    client: httpx.AsyncClient, session: AsyncSession, w: World, at: str, expected: bool
) -> None:
    point = await make_point(session, w.tree.street, opening_hours=WEEKDAYS_9_TO_5)
    with clock.frozen(sh(at)):
        item = await _open_now(client, point.id)
    assert item["open_now"] is expected
    assert item["holiday_today"] is False


async def test_open_now_at_a_weekday_boundary(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    night = [
        {"weekday": 7, "open": "18:00", "close": "24:00"},
        {"weekday": 1, "open": "00:00", "close": "06:00"},
    ]
    point = await make_point(session, w.tree.street, opening_hours=night)
    for at, expected in [
        ("2026-11-22T17:59", False),
        ("2026-11-22T23:59", True),
        ("2026-11-23T00:00", True),  # Sunday 16:00 UTC: Monday in Shanghai
        ("2026-11-23T06:00", False),
    ]:
        with clock.frozen(sh(at)):
            item = await _open_now(client, point.id)
        assert item["open_now"] is expected, at
    with clock.frozen(sh("2026-11-23T01:00")):
        item = await _open_now(client, point.id)
    assert item["today_hours"] == [{"open": "00:00", "close": "06:00"}]


async def test_holiday_closes_unless_open_on_holidays(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    every_day = [{"weekday": d, "open": "08:00", "close": "20:00"} for d in range(1, 8)]
    office = await make_point(session, w.tree.street, opening_hours=every_day, name="中心")
    inn = await make_point(
        session, w.tree.street, opening_hours=every_day, name="驿站", open_on_holidays=True
    )
    # 2026-10-01 (Thursday) and 2026-10-03 (Saturday) are in the National Day holiday.
    for day in ("2026-10-01", "2026-10-03"):
        with clock.frozen(sh(f"{day}T10:00")):
            closed, opened = await _open_now(client, office.id), await _open_now(client, inn.id)
        assert closed["open_now"] is False and closed["holiday_today"] is True, day
        assert opened["open_now"] is True, day
    # Outside its hours even a holiday-open point is closed.
    with clock.frozen(sh("2026-10-01T21:00")):
        assert (await _open_now(client, inn.id))["open_now"] is False
    # 2026-10-10 is a 调休 Saturday worked: Saturday hours apply as usual.
    with clock.frozen(sh("2026-10-10T10:00")):
        item = await _open_now(client, office.id)
    assert item["open_now"] is True and item["holiday_today"] is False


async def test_admin_holiday_override_closes_points(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    point = await make_point(session, w.tree.street, opening_hours=WEEKDAYS_9_TO_5)
    r = await client.put(
        "/api/v1/admin/holidays/2026-11-23",
        json={"is_workday": False, "name": "临时调整"},
        headers=w.h(w.superadmin),
    )
    assert r.status_code == 200, r.text
    with clock.frozen(sh("2026-11-23T10:00")):
        item = await _open_now(client, point.id)
    assert item["open_now"] is False and item["holiday_today"] is True
    # And an override that makes a statutory holiday a working day opens it again.
    r = await client.put(
        "/api/v1/admin/holidays/2026-10-02",
        json={"is_workday": True, "name": "改为工作日"},
        headers=w.h(w.superadmin),
    )
    assert r.status_code == 200, r.text
    with clock.frozen(sh("2026-10-02T10:00")):
        assert (await _open_now(client, point.id))["open_now"] is True
