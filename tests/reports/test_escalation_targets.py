"""GET /reports/{id}/escalation-targets: what a handler's escalate form offers
— the levels above the case's owner and the departments whose region holds
it, those declaring the case's category first — and what it does not."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org.models import Department
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def department(session: AsyncSession, region_id: int, name: str, codes: list[str]) -> int:
    row = Department(name=name, region_id=region_id, category_codes=codes)
    session.add(row)
    await session.flush()
    return row.id


def url(rid: int | str) -> str:
    return f"/api/v1/reports/{rid}/escalation-targets"


async def test_a_handler_sees_the_levels_above_and_the_departments_that_hold_the_case(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    tree = world.tree
    city = await department(session, tree.district.id, "城管局", ["environment"])
    power = await department(session, tree.district.id, "供电公司", ["water_power"])
    street_office = await department(session, tree.street.id, "街道综合执法队", [])
    await department(session, tree.other_community.id, "沁水湾物业站", ["environment"])
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    worker = world.h(world.worker)
    assert (await act(client, worker, rid, "accept")).status_code == 200

    r = await client.get(url(rid), headers=worker)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(x["to"], x["region_id"]) for x in body["levels"]] == [
        ("community", tree.community.id),
        ("street", tree.street.id),
    ]
    # The one that takes this category first; then the nearest; the other
    # community's station does not hold the case.
    assert [x["id"] for x in body["departments"]] == [city, street_office, power]
    assert [x["handles_category"] for x in body["departments"]] == [True, False, False]

    # What it offers is what escalate accepts.
    r = await act(
        client,
        worker,
        rid,
        "escalate",
        {"reason": "需执法", "to": "department", "department_id": city},
    )
    assert r.status_code == 200, r.text


async def test_after_an_escalation_only_higher_levels_are_offered(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    worker, community = world.h(world.worker), world.h(world.community_admin)
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "escalate", {"reason": "需协调", "to": "community"})
    assert r.status_code == 200, r.text
    assert (await act(client, community, rid, "accept")).status_code == 200
    r = await client.get(url(rid), headers=community)
    assert r.status_code == 200, r.text
    assert [x["to"] for x in r.json()["levels"]] == ["street"]


async def test_only_the_handler_asks_and_only_when_it_can_be_escalated(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    r = await client.get(url(rid), headers=world.h(world.resident))
    assert r.status_code == 403 and r.json()["error"]["code"] == "auth.staff_only"
    r = await client.get(url(rid), headers=world.h(world.far_worker))
    assert r.status_code == 404, r.text
    r = await client.get(url(rid), headers=world.h(world.other_worker))
    assert r.status_code in (403, 404), r.text
    # Dispatched, not yet accepted: nothing to escalate yet.
    r = await client.get(url(rid), headers=world.h(world.worker))
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "report.illegal_transition"


@pytest.mark.parametrize("rid", ["abc", "0", "9223372036854775808"])
async def test_a_bad_case_id_is_a_validation_error(
    client: httpx.AsyncClient, world: World, rid: str
) -> None:
    r = await client.get(url(rid), headers=world.h(world.worker))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and error["message"]
