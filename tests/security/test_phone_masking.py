"""Phone numbers are masked everywhere except for their owner and the staff
handling the case (PIPL, DESIGN §11).

1. Every response schema of the OpenAPI is walked: a field that carries a phone
   number is ``phone_masked`` unless it is one of the few listed here, each
   with its reason. A new unmasked phone field anywhere fails this test.
2. Residents with known phone numbers file cases; then every read a staff
   member or another resident can make of those cases is scanned for the
   full numbers: only the resident's own reads and the handler's audited
   contact read may show one.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.reports.helpers import IN_GRID, World, make_world, submit, wgs

# (schema, field): why it may carry a whole phone number.
UNMASKED_ALLOWED = {
    ("ReporterContact", "phone"): "the handler's audited read of the reporter's contact",
    ("StaffRead", "phone"): "a staff member's work phone, for the admins who manage staff",
    ("PointRead", "phone"): "a service point's public phone",
    ("NearbyPoint", "phone"): "a service point's public phone",
    ("ServiceRead", "phone"): "a service's public phone",
}
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def _response_schemas(spec: dict[str, Any]) -> set[str]:
    """Names of every component schema reachable from a response."""
    schemas = spec["components"]["schemas"]
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    walk(schemas[name])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in spec["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict):
                walk(operation.get("responses", {}))
    return found


def test_no_response_schema_has_an_unmasked_phone_field(app: FastAPI) -> None:
    spec = app.openapi()
    schemas = spec["components"]["schemas"]
    names = _response_schemas(spec)
    assert "ReportRead" in names and "UserRead" in names  # the walk reaches them
    unmasked = {
        (name, field)
        for name in names
        for field in (schemas[name].get("properties") or {})
        if ("phone" in field.lower() or "mobile" in field.lower()) and not field.endswith("_masked")
    }
    assert unmasked <= set(UNMASKED_ALLOWED), sorted(unmasked - set(UNMASKED_ALLOWED))


async def test_no_read_of_a_case_shows_the_reporters_phone_but_theirs(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    w: World = await make_world(session, settings)
    phones = {w.resident.phone, w.other_resident.phone}
    assert all(phones)
    ids = []
    for resident in (w.resident, w.other_resident):
        r = await submit(client, w.h(resident), location=wgs(IN_GRID))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        r = await client.post(f"/api/v1/reports/{ids[-1]}/follow", headers=w.h(w.other_resident))

    readers = {
        "worker": w.worker,
        "leader": w.leader,
        "community_admin": w.community_admin,
        "street_admin": w.street_admin,
        "other_resident": w.other_resident,
    }
    reads = [
        "/api/v1/admin/reports",
        "/api/v1/worker/tasks",
        "/api/v1/reports/mine",
        f"/api/v1/reports/nearby?lat={IN_GRID[1]}&lng={IN_GRID[0]}&coord=wgs84&category=environment",
        "/api/v1/grids/locate?lat=35.005&lng=112.905&coord=wgs84",
        *[f"/api/v1/reports/{rid}" for rid in ids],
    ]
    checked = 0
    for who, user in readers.items():
        for url in reads:
            r = await client.get(url, headers=w.h(user))
            if r.status_code != 200:
                continue
            checked += 1
            own = {user.phone} if user.phone else set()
            leaked = set(PHONE.findall(r.text)) & (phones - own)
            assert not leaked, (who, url, leaked)
    assert checked >= 20
    # The handler's contact read is the one place a staff member sees it.
    r = await client.get(f"/api/v1/reports/{ids[0]}/reporter-contact", headers=w.h(w.worker))
    assert r.status_code == 200 and r.json()["phone"] == w.resident.phone
