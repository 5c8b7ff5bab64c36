"""GET /metrics: HTTP counters by route template, new cases by dispatch route
(counted only when committed), database gauges, and the switch and token."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.ops.metrics import METRICS
from tests.reports.helpers import IN_GRID, NOWHERE, World, make_world, submit, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


def _value(text: str, name: str, **labels: str) -> float:
    """The sample ``name{labels}`` in the exposition text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return 0.0


async def _scrape(client: httpx.AsyncClient, **headers: str) -> str:
    METRICS._db_read_at = 0.0  # read the database gauges afresh
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


async def test_requests_are_counted_by_route_template(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await _scrape(client)
    for rid in (987654, 987655):
        r = await client.get(f"/api/v1/reports/{rid}", headers=world.h(world.resident))
        assert r.status_code == 404
    await client.get("/no/such/path/123")
    after = await _scrape(client)
    labels = {"method": "GET", "route": "/api/v1/reports/{report_id}", "status": "404"}
    name = "ejiaren_http_requests_total"
    assert _value(after, name, **labels) - _value(before, name, **labels) == 2
    assert "987654" not in after and "/no/such/path" not in after
    unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
    assert _value(after, name, **unmatched) - _value(before, name, **unmatched) == 1
    count = "ejiaren_http_request_duration_seconds_count"
    route = {"method": "GET", "route": "/api/v1/reports/{report_id}"}
    assert _value(after, count, **route) - _value(before, count, **route) == 2


async def test_new_cases_by_route_and_the_open_gauge(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    before = await _scrape(client)
    r = await submit(client, w.h(w.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    r = await submit(client, w.h(w.other_resident), location=wgs(NOWHERE))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "submitted"  # no grid: waits in a queue
    # A submit refused by validation creates nothing and counts nothing.
    r = await submit(client, w.h(w.resident), description="短")
    assert r.status_code == 422
    after = await _scrape(client)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("ejiaren_reports_created_total", kind="issue") == 2
    assert delta("ejiaren_reports_routed_total", rule="grid_worker") == 1
    routed = {
        rule: delta("ejiaren_reports_routed_total", rule=rule)
        for rule in set(re.findall(r'ejiaren_reports_routed_total\{rule="([^"]+)"\}', after))
    }
    assert sum(routed.values()) == 2 and routed["grid_worker"] == 1
    assert delta("ejiaren_reports_open") == 2
    assert _value(after, "ejiaren_outbox_messages", status="dead") >= 0


async def test_metrics_can_be_switched_off_or_protected(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"metrics_enabled": False})
    r = await client.get("/metrics")
    assert r.status_code == 404 and r.json()["error"]["code"] == "service.metrics_disabled"
    app.state.settings = settings.model_copy(update={"metrics_token": SecretStr("s3cret-token")})
    r = await client.get("/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "service.metrics_token"
    r = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    text = await _scrape(client, Authorization="Bearer s3cret-token")
    assert "ejiaren_http_requests_total" in text


async def test_a_rolled_back_case_is_not_counted(session: AsyncSession) -> None:
    from app.ops.metrics import count_new_report

    counter = METRICS.reports_dispatched.labels("test_rollback_rule")
    before = counter._value.get()
    await session.execute(text("SELECT 1"))  # a case is made inside a transaction
    count_new_report(session, METRICS, "issue", "test_rollback_rule")
    await session.rollback()
    assert counter._value.get() == before
    count_new_report(session, METRICS, "issue", "test_rollback_rule")
    await session.commit()
    assert counter._value.get() == before + 1


async def test_a_case_is_counted_by_the_outer_transaction_not_a_savepoint(
    session: AsyncSession,
) -> None:
    from app.ops.metrics import count_new_report

    counter = METRICS.reports_dispatched.labels("test_savepoint_rule")
    before = counter._value.get()
    await session.execute(text("SELECT 1"))
    count_new_report(session, METRICS, "issue", "test_savepoint_rule")
    async with session.begin_nested():  # released: the case is not committed yet
        await session.execute(text("SELECT 2"))
    assert counter._value.get() == before
    nested = await session.begin_nested()  # rolled back: the case is still pending
    await nested.rollback()
    assert counter._value.get() == before
    await session.rollback()
    assert counter._value.get() == before
    count_new_report(session, METRICS, "issue", "test_savepoint_rule")
    async with session.begin_nested():
        await session.execute(text("SELECT 3"))
    await session.commit()
    assert counter._value.get() == before + 1


async def test_background_jobs_are_counted_and_one_failure_does_not_stop_the_rest(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.reports import sweeps
    from app.worker import run_once

    def runs(job: str, outcome: str) -> float:
        return float(METRICS.job_runs.labels(job, outcome)._value.get())

    jobs = ("sweeps", "moderation_recheck", "outbox", "stats_fold", "purge_idempotency")
    before = {j: runs(j, "ok") for j in jobs}
    await run_once(app.state)
    assert all(runs(j, "ok") == before[j] + 1 for j in jobs)

    async def broken(_: object) -> None:
        raise RuntimeError("sweep broke")

    monkeypatch.setattr(sweeps, "run_sweeps", broken)
    errors_before, outbox_before = runs("sweeps", "error"), runs("outbox", "ok")
    with pytest.raises(RuntimeError, match="sweep broke"):
        await run_once(app.state)
    assert runs("sweeps", "error") == errors_before + 1
    assert runs("outbox", "ok") == outbox_before + 1
