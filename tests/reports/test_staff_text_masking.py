"""Phone and ID numbers written into a case's text are read in full only by
the resident and the staff who handle the case (DESIGN §11); other staff in
scope (the community and street admins supervising, a grid leader, another
worker) read them masked, as they read the reporter's name, and reach the
contact through the audited reporter-contact route when they must."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, NOWHERE, World, act, make_world, submit, wgs

PHONE, MASKED = "13912345678", "139****5678"
ID_CARD, ID_MASKED = "410882199001011234", "410882********1234"


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _case(client: httpx.AsyncClient, world: World) -> int:
    """A case with numbers in its description, a worker's note and a rating comment."""
    text = f"3号楼下水道堵塞，请联系我{PHONE}，身份证{ID_CARD}"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    rid: int = r.json()["id"]
    worker = world.h(world.worker)
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "progress", {"note": f"已联系居民，电话{PHONE}"})
    assert r.status_code == 200, r.text
    return rid


async def _texts(client: httpx.AsyncClient, headers: dict[str, str], rid: int) -> str:
    r = await client.get(f"/api/v1/reports/{rid}", headers=headers)
    assert r.status_code == 200, r.text
    case = r.json()
    notes = [e["note"] or "" for e in case["timeline"]]
    comment = (case["rating"] or {}).get("comment") or ""
    return "\n".join([case["description"], *notes, comment])


async def test_the_handler_and_the_resident_read_the_numbers(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = await _case(client, world)
    for reader in (world.resident, world.worker):
        text = await _texts(client, world.h(reader), rid)
        assert PHONE in text and ID_CARD in text, reader.name
    r = await client.get("/api/v1/worker/tasks", headers=world.h(world.worker))
    [item] = [i for i in r.json()["items"] if i["id"] == rid]
    assert PHONE in item["description"]


async def test_supervising_staff_read_them_masked(client: httpx.AsyncClient, world: World) -> None:
    rid = await _case(client, world)
    for reader in (world.community_admin, world.street_admin, world.leader):
        text = await _texts(client, world.h(reader), rid)
        assert PHONE not in text and ID_CARD not in text, reader.name
        assert MASKED in text and ID_MASKED in text, reader.name
    r = await client.get("/api/v1/admin/reports", headers=world.h(world.street_admin))
    [item] = [i for i in r.json()["items"] if i["id"] == rid]
    assert PHONE not in item["description"] and MASKED in item["description"]


async def test_the_answer_to_an_action_follows_who_handles_the_case(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = await _case(client, world)
    # The admin's 督办 answer: they do not handle the case.
    r = await act(client, world.h(world.community_admin), rid, "supervise", {"note": "请尽快处理"})
    assert r.status_code == 200, r.text
    assert PHONE not in r.json()["description"]
    # The worker's answer to their own action: they do.
    r = await act(client, world.h(world.worker), rid, "resolve", {"note": "已疏通"})
    assert r.status_code == 200, r.text
    assert PHONE in r.json()["description"]
    # The resident's comment, with a number, read by the street admin.
    r = await act(
        client,
        world.h(world.resident),
        rid,
        "rating",
        {"score": "satisfied", "comment": f"谢谢，{PHONE}"},
    )
    assert r.status_code == 200, r.text
    text = await _texts(client, world.h(world.street_admin), rid)
    assert PHONE not in text and MASKED in text
    text = await _texts(client, world.h(world.worker), rid)
    assert f"谢谢，{PHONE}" in text


async def test_the_admins_of_the_queue_a_case_waits_in_read_the_numbers(
    client: httpx.AsyncClient, world: World
) -> None:
    """Nobody is assigned: the admins over it dispatch it, and may call the
    reporter (reporter-contact), so they read the text as its handler would."""
    text = f"路灯不亮，电话{PHONE}"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(NOWHERE))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"
    rid = r.json()["id"]
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.street_admin))
    assert r.status_code == 200, r.text
    assert PHONE in r.json()["description"]
    r = await client.get(
        f"/api/v1/reports/{rid}/reporter-contact", headers=world.h(world.street_admin)
    )
    assert r.status_code == 200, r.text
    # Dispatched to the worker: the street admin supervises, no longer handles.
    r = await act(
        client, world.h(world.street_admin), rid, "dispatch", {"assignee_id": world.worker.id}
    )
    assert r.status_code == 200, r.text
    assert PHONE not in r.json()["description"]
    r = await client.get(
        f"/api/v1/reports/{rid}/reporter-contact", headers=world.h(world.street_admin)
    )
    assert r.status_code == 403, r.text


async def test_staff_find_a_case_by_the_number_a_resident_quotes(
    client: httpx.AsyncClient, world: World
) -> None:
    """A decision: the console finds a case by the phone number the resident
    gives on the phone (and by "3号楼"), although the list shows it masked;
    staff in scope are accountable for their searches, a key is not (it never
    matches digits in a description)."""
    rid = await _case(client, world)
    r = await client.get(
        "/api/v1/admin/reports", params={"q": PHONE}, headers=world.h(world.street_admin)
    )
    assert r.status_code == 200, r.text
    [item] = [i for i in r.json()["items"] if i["id"] == rid]
    assert PHONE not in item["description"] and MASKED in item["description"]


async def test_a_pending_extension_s_reason_is_masked_like_its_note(
    client: httpx.AsyncClient, world: World
) -> None:
    rid = await _case(client, world)
    body = {"hours": 24, "reason": f"等业主{PHONE}回来开门"}
    r = await act(client, world.h(world.worker), rid, "extension", body)
    assert r.status_code == 200, r.text
    assert PHONE in r.json()["pending_extension"]["reason"]  # the worker's own request
    r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.street_admin))
    reason = r.json()["pending_extension"]["reason"]
    assert PHONE not in reason and MASKED in reason


async def test_admins_below_the_queue_or_of_a_finished_case_do_not_handle_it(
    client: httpx.AsyncClient, world: World
) -> None:
    """Escalated to the street, a case waits in the street's queue: the
    community admin supervises it, no longer handles it. A cancelled case is
    nobody's to handle."""
    rid = await _case(client, world)
    body = {"reason": "需街道协调", "to": "street"}
    r = await act(client, world.h(world.worker), rid, "escalate", body)
    assert r.status_code == 200, r.text
    for admin, full in ((world.street_admin, True), (world.community_admin, False)):
        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(admin))
        assert (PHONE in r.json()["description"]) is full, admin.name
        r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=world.h(admin))
        assert r.status_code == (200 if full else 403), admin.name

    text = f"路灯不亮，电话{PHONE}"
    r = await submit(client, world.h(world.resident), description=text, location=wgs(NOWHERE))
    queued = r.json()["id"]
    assert (await act(client, world.h(world.resident), queued, "cancel")).status_code == 200
    r = await client.get(f"/api/v1/reports/{queued}", headers=world.h(world.street_admin))
    assert PHONE not in r.json()["description"]
