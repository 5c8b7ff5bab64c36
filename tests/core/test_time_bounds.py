"""Instants and dates a client sends lie between 1970 and 2199: the years a
calendar can hold run out at 1 and 9999, and one step past them (an offset,
a day added) cannot even be converted to UTC. Each way in answers 422 (or
the Open311 spec's 400), never a 500."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.factories import auth, make_staff, make_tree
from tests.integrations.helpers import make_api_client

EDGES = [
    ("0001-01-01", "9999-12-31"),
    ("9999-12-31T23:59:59-14:00", None),
    (None, "0001-01-01T00:00:00+14:00"),
    ("1969-12-31T23:59:59Z", None),
    (None, "2200-01-01"),
]


@pytest.mark.parametrize(("start", "end"), EDGES)
@pytest.mark.parametrize(
    "path", ["/api/v1/stats/summary", "/api/v1/admin/reports", "/api/v1/admin/audit-log"]
)
async def test_a_window_beyond_the_calendar_is_a_validation_error(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    path: str,
    start: str | None,
    end: str | None,
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "superadmin", tree.district)
    params = {k: v for k, v in (("from", start), ("to", end)) if v is not None}
    r = await client.get(path, params=params, headers=auth(settings, admin))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error" and "1970" in error["message"]
    # The shape every validation error has: the field named in details.fields.
    [field] = error["details"]["fields"]
    assert field["loc"][0] == "query" and field["field"] in ("from", "to")
    assert field["message"] == error["message"]


async def test_the_years_in_between_are_accepted(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "superadmin", tree.district)
    r = await client.get(
        "/api/v1/stats/summary",
        params={"from": "1970-01-01", "to": "2199-12-31T23:59:59+00:00"},
        headers=auth(settings, admin),
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "date", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", "2300-01-01T00:00:00Z"]
)
async def test_open311_dates_beyond_the_calendar_are_a_spec_error(
    client: httpx.AsyncClient, session: AsyncSession, date: str
) -> None:
    tree = await make_tree(session)
    _, key = await make_api_client(session, tree.community, ["reports:read"])
    for name in ("start_date", "end_date"):
        r = await client.get("/open311/v2/requests.json", params={"api_key": key, name: date})
        assert r.status_code == 400, r.text
        [error] = r.json()
        assert error["code"] == 400 and name in error["description"]


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
async def test_a_policy_cursor_beyond_the_calendar_is_refused(
    client: httpx.AsyncClient, at: str
) -> None:
    r = await client.get("/api/v1/policies", params={"cursor": _cursor({"at": at, "id": 5})})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "pagination.bad_cursor"
