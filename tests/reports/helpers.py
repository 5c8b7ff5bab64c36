"""Helpers for report tests: a small world of grids, staff and residents."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org.geo import wgs84_to_gcj02
from app.users.models import User
from tests.factories import Tree, auth, make_staff, make_tree, make_user

# Inside tree.grid (square 112.90..112.91 E, 35.00..35.01 N), in WGS-84.
IN_GRID = (112.905, 35.005)
IN_OTHER_GRID = (112.915, 35.005)
NOWHERE = (113.5, 34.5)  # in China, outside every test grid


@dataclass
class World:
    tree: Tree
    worker: User
    other_worker: User
    far_worker: User
    leader: User
    community_admin: User
    other_community_admin: User
    street_admin: User
    resident: User
    other_resident: User
    settings: Settings

    def h(self, user: User) -> dict[str, str]:
        return auth(self.settings, user)


async def make_world(session: AsyncSession, settings: Settings) -> World:
    tree = await make_tree(session)
    return World(
        tree=tree,
        worker=await make_staff(session, "grid_worker", tree.grid, name="王网格"),
        other_worker=await make_staff(session, "grid_worker", tree.other_grid, name="李网格"),
        far_worker=await make_staff(session, "grid_worker", tree.far_grid, name="赵网格"),
        leader=await make_staff(session, "grid_leader", tree.grid, name="周网格长"),
        community_admin=await make_staff(
            session, "community_admin", tree.community, name="社区管理员"
        ),
        other_community_admin=await make_staff(
            session, "community_admin", tree.other_community, name="另一社区管理员"
        ),
        street_admin=await make_staff(session, "street_admin", tree.street, name="街道管理员"),
        resident=await make_user(session, name="张居民", phone="13912345678"),
        other_resident=await make_user(session, name="李居民", phone="13987654321"),
        settings=settings,
    )


def gcj(point: tuple[float, float]) -> dict[str, Any]:
    lng, lat = wgs84_to_gcj02(*point)
    return {"lat": lat, "lng": lng, "coord": "gcj02"}


def wgs(point: tuple[float, float]) -> dict[str, Any]:
    return {"lat": point[1], "lng": point[0], "coord": "wgs84"}


def jpeg_bytes(
    color: tuple[int, int, int] = (200, 30, 30),
    size: tuple[int, int] = (64, 48),
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes | None = None
) -> dict[str, Any]:
    r = await client.post(
        "/api/v1/media",
        headers=headers,
        files={"file": ("photo.jpg", data or jpeg_bytes(), "image/jpeg")},
    )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def submit(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    **fields: Any,
) -> httpx.Response:
    body = {
        "kind": "issue",
        "category": "environment",
        "description": "小区门口垃圾堆积三天无人清运",
        **fields,
    }
    return await client.post("/api/v1/reports", json=body, headers=headers)


async def act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    report_id: int,
    action: str,
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    return await client.post(
        f"/api/v1/reports/{report_id}/{action}", json=body or {}, headers=headers
    )
