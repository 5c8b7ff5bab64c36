"""Creating POSTs of the console accept Idempotency-Key: a retry returns the first result."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.factories import auth, make_staff, make_tree


async def test_staff_department_and_category_creates_are_idempotent(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    admin = await make_staff(session, "district_admin", tree.district)
    cases = [
        (
            "/api/v1/admin/staff",
            {
                "username": "idem_worker",
                "password": "password123",
                "name": "幂等测试",
                "role": "grid_worker",
                "region_id": tree.grid.id,
            },
        ),
        (
            "/api/v1/admin/departments",
            {"name": "城管执法中队", "region_id": tree.street.id, "category_codes": []},
        ),
        ("/api/v1/admin/categories", {"code": "idem_cat", "name": "幂等类别", "kind": "issue"}),
    ]
    for n, (path, body) in enumerate(cases):
        headers = {**auth(settings, admin), "Idempotency-Key": f"create-{n}"}
        first = await client.post(path, json=body, headers=headers)
        again = await client.post(path, json=body, headers=headers)
        assert first.status_code == 201, (path, first.text)
        assert again.status_code == 201, (path, again.text)
        assert again.json() == first.json()
        assert again.headers.get("idempotency-replayed") == "true"
        changed = await client.post(path, json={**body, "name": "另一个名字"}, headers=headers)
        assert changed.status_code == 422
        assert changed.json()["error"]["code"] == "idempotency.key_reused"
