"""Staff and role ids in the path are 64-bit: the largest is looked up (404),
one more is refused as input (422) before it reaches the database driver."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import INT64_MAX
from app.core.settings import Settings
from tests.factories import auth, make_staff, make_tree

STAFF = "/api/v1/admin/staff"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", STAFF + "/{id}"),
        ("PATCH", STAFF + "/{id}"),
        ("DELETE", STAFF + "/1/roles/{id}"),
    ],
)
async def test_staff_path_ids_are_bounded_to_int64(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, method: str, path: str
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "street_admin", tree.street)
    h = auth(settings, admin)
    body = {"json": {"name": "改名"}} if method == "PATCH" else {}

    r = await client.request(method, path.format(id=INT64_MAX), headers=h, **body)
    assert r.status_code == 404, r.text

    r = await client.request(method, path.format(id=INT64_MAX + 1), headers=h, **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
