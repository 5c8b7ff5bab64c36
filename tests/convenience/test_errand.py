"""Errands (代办): a service offering them is filed as an ``errand`` report and
routed like an issue; ``get_errand_service`` is the check the reports code makes."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.catalogue import get_errand_service
from app.core.errors import AppError
from app.core.settings import Settings
from app.reports.models import Report
from tests.convenience.helpers import make_service
from tests.reports.helpers import IN_GRID, make_world, wgs


async def test_get_errand_service(session: AsyncSession) -> None:
    errand = await make_service(session, None, name="社保代缴", errand=True)
    plain = await make_service(session, None, name="老年证办理", errand=False)
    withdrawn = await make_service(session, None, name="旧事项", errand=True, active=False)

    assert (await get_errand_service(session, errand.id)).id == errand.id
    with pytest.raises(AppError) as info:
        await get_errand_service(session, plain.id)
    assert (info.value.status_code, info.value.code) == (422, "service.not_errand")
    for missing in (withdrawn.id, 99999999):
        with pytest.raises(AppError) as info:
            await get_errand_service(session, missing)
        assert (info.value.status_code, info.value.code) == (404, "service.not_found")


async def test_errand_report_is_dispatched_to_the_grid_worker(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    service = await make_service(session, world.tree.street, name="养老认证", errand=True)
    r = await client.post(
        "/api/v1/reports",
        json={
            "kind": "errand",
            "category": "errand",
            "description": "家中老人行动不便，请网格员上门帮办养老认证",
            "service_id": service.id,
            "location": wgs(IN_GRID),
        },
        headers=world.h(world.resident),
    )
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["kind"] == "errand"
    assert report["status"] == "dispatched"
    assert report["grid"]["id"] == world.tree.grid.id
    assert report["assignee"]["id"] == world.worker.id
    assert report["response_due_at"] is not None
    stored = await session.get(Report, report["id"])
    assert stored is not None and stored.service_id == service.id
    # The worker reads which service to do (it was stored but never shown).
    r = await client.get(f"/api/v1/reports/{report['id']}", headers=world.h(world.worker))
    assert r.json()["service_id"] == service.id and r.json()["policy_id"] is None
    assert report["service_id"] == service.id
    # The grid worker finds it in their task list and accepts it like any case.
    r = await client.get("/api/v1/worker/tasks", headers=world.h(world.worker))
    assert report["id"] in [i["id"] for i in r.json()["items"]]
    r = await client.post(f"/api/v1/reports/{report['id']}/accept", headers=world.h(world.worker))
    assert r.status_code == 200 and r.json()["status"] == "in_progress"
