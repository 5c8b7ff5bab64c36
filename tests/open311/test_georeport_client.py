"""The reading side of Open311, through the ``georeport`` client from PyPI
talking real HTTP to the app on 127.0.0.1 (the client only reads, and sends no
key on reads: public reading is switched on here)."""

from __future__ import annotations

import asyncio

import pytest
from georeport import GeoReport
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.settings import Settings
from tests.auth.helpers import app_with
from tests.integrations.helpers import serve
from tests.reports.helpers import IN_GRID, make_world, submit, wgs


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


async def test_georeport_client_reads_services_definitions_and_requests(
    settings: Settings, bind_sessions: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    world = await make_world(session, settings)
    async with app_with(settings, bind_sessions, open311_public_read=True) as (app, client):
        r = await submit(client, world.h(world.resident), location=wgs(IN_GRID), address="3号楼")
        assert r.status_code == 201, r.text
        case = r.json()
        async with serve(app) as base:
            for fmt in ("json", "xml"):
                geo = GeoReport(f"{base}/open311/v2", output_format=fmt)
                services = await asyncio.to_thread(geo.get_service_list)
                codes = {s["service_code"] for s in services}
                assert "environment" in codes
                env = next(s for s in services if s["service_code"] == "environment")
                assert set(env) >= {
                    "service_code",
                    "service_name",
                    "description",
                    "metadata",
                    "type",
                    "keywords",
                    "group",
                }
                assert env["type"] == "realtime"
                assert env["metadata"] in (False, "false")

                definition = await asyncio.to_thread(geo.get_service_definition, "environment")
                assert definition["service_code"] == "environment"

                requests = await asyncio.to_thread(geo.get_service_requests)
                if isinstance(requests, dict):  # xmltodict: one <request> is not a list
                    requests = [requests]
                ours = next(x for x in requests if x["service_request_id"] == str(case["id"]))
                assert ours["status"] == "open"
                assert ours["service_code"] == "environment"
                assert ours["requested_datetime"].endswith("+08:00")
                # The public view carries no address or position.
                assert not ours.get("address")
                assert not ours.get("lat")

                one = await asyncio.to_thread(geo.get_service_request, str(case["id"]))
                assert one["service_request_id"] == str(case["id"])
                assert one["status_notes"]

                if fmt == "json":  # the client cannot parse an empty XML list
                    closed = await asyncio.to_thread(geo.get_service_requests, status="closed")
                    assert closed == []
