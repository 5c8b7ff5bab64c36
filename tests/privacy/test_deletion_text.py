"""Deleting an account anonymises what the resident wrote too (DESIGN §11):
the text of their cases stays as the record of what was asked, but phone and
identity card numbers written into it are masked, since they would name the
person the deletion forgot."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.models import IdempotencyRecord
from app.core.settings import Settings
from app.notify.service import KIND
from app.outbox.models import OutboxMessage
from app.outbox.service import enqueue
from app.reports.models import Report
from tests.reports.helpers import IN_GRID, World, act, make_world, submit, wgs

PHONE = "13755556666"
ID_CARD = "410882199001011234"


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _reopened_case(client: httpx.AsyncClient, w: World) -> int:
    """A case of ``w.resident`` with their numbers in the description, the
    rating comment and the reopen reason, and a number in the worker's note."""
    resident, worker = w.h(w.resident), w.h(w.worker)
    r = await submit(
        client,
        resident,
        location=wgs(IN_GRID),
        description=f"楼道堵塞，请打 {PHONE} 联系我，身份证 {ID_CARD}",
    )
    assert r.status_code == 201, r.text
    rid = int(r.json()["id"])
    assert (await act(client, worker, rid, "accept")).status_code == 200
    r = await act(client, worker, rid, "resolve", {"note": "已清理，物业电话 13800001111"})
    assert r.status_code == 200, r.text
    r = await act(
        client, resident, rid, "rating", {"score": "unsatisfied", "comment": f"没清干净 {PHONE}"}
    )
    assert r.status_code == 200, r.text
    r = await act(client, resident, rid, "reopen", {"reason": f"又堵了，回电 {PHONE}"})
    assert r.status_code == 200, r.text
    return rid


def _notes(case: dict[str, Any], kind: str) -> list[str]:
    return [e["note"] for e in case["timeline"] if e["type"] == kind]


async def test_deletion_masks_numbers_in_what_the_resident_wrote(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    rid = await _reopened_case(client, w)
    before = (await client.get(f"/api/v1/reports/{rid}", headers=w.h(w.worker))).json()
    assert PHONE in before["description"]  # the handler reads the case as written

    assert (await client.delete("/api/v1/me", headers=w.h(w.resident))).status_code == 204

    # Even the handler, who read the numbers in full before, reads them masked now.
    seen = (await client.get(f"/api/v1/reports/{rid}", headers=w.h(w.worker))).json()
    assert PHONE not in str(seen) and ID_CARD not in str(seen)
    assert seen["description"] == "楼道堵塞，请打 137****6666 联系我，身份证 410882********1234"
    assert seen["rating"]["comment"] == "没清干净 137****6666"
    assert _notes(seen, "rated") == ["没清干净 137****6666"]
    assert _notes(seen, "reopened") == ["又堵了，回电 137****6666"]
    # What staff wrote is not the resident's and stays as written.
    assert _notes(seen, "resolved") == ["已清理，物业电话 13800001111"]


async def test_deletion_leaves_other_residents_text_alone(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    w = world
    r = await submit(
        client, w.h(w.other_resident), location=wgs(IN_GRID), description=f"请打 {PHONE}"
    )
    other = int(r.json()["id"])
    await _reopened_case(client, w)
    assert (await client.delete("/api/v1/me", headers=w.h(w.resident))).status_code == 204
    report = await session.get(Report, other)
    assert report is not None
    await session.refresh(report)
    assert report.description == f"请打 {PHONE}"


async def test_a_deleted_reporter_shows_as_the_placeholder(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    rid = await _reopened_case(client, w)
    assert (await client.delete("/api/v1/me", headers=w.h(w.resident))).status_code == 204
    seen = (await client.get(f"/api/v1/reports/{rid}", headers=w.h(w.worker))).json()
    assert seen["reporter"]["name"] == "已注销用户"
    assert {
        e["actor"]["name"] for e in seen["timeline"] if e["type"] in ("created", "reopened")
    } == {"已注销用户"}


async def test_deletion_drops_the_copies_kept_for_retries_and_messages(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    """The answer kept for a retried submission is the case in full, phone
    included; a queued or sent message holds their WeChat openid."""
    w = world
    headers = {**w.h(w.resident), "Idempotency-Key": "retry-1"}
    r = await submit(client, headers, location=wgs(IN_GRID), description=f"请打 {PHONE}")
    assert r.status_code == 201, r.text
    owner = f"user:{w.resident.id}"
    await enqueue(session, kind=KIND, target=owner, payload={"message": {"touser": "wx-openid"}})
    await session.flush()
    kept = (
        select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.owner == owner)
    )
    queued = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.target == owner)
    assert await session.scalar(kept) == 1 and await session.scalar(queued) == 1
    assert (await client.delete("/api/v1/me", headers=w.h(w.resident))).status_code == 204
    assert await session.scalar(kept) == 0 and await session.scalar(queued) == 0
