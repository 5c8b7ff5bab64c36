"""An admin reads only the roles of a staff member that lie in their own scope
(DESIGN §11 "Nobody sees outside their scope"): a member who also works
elsewhere shows here with the roles held here, on every route that answers
with the staff record."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.users.models import User
from tests.factories import grant, make_staff
from tests.users.helpers import STAFF, World, make_world


@pytest.fixture
async def w(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


@pytest.fixture
async def two_hats(session: AsyncSession, w: World) -> User:
    """Grid worker in community A, community admin of community B."""
    user = await make_staff(session, "grid_worker", w.tree.grid, name="两地员工")
    await grant(session, user, "community_admin", w.tree.other_community)
    return user


def roles(body: dict[str, object]) -> list[tuple[str, int | None]]:
    return [(r["role"], r["region_id"]) for r in body["roles"]]  # type: ignore[index, union-attr]


@pytest.mark.parametrize(
    ("caller", "seen"),
    [
        ("community_admin", [("grid_worker", "grid")]),
        ("other_admin", [("community_admin", "other_community")]),
        ("street_admin", [("grid_worker", "grid"), ("community_admin", "other_community")]),
        ("superadmin", [("grid_worker", "grid"), ("community_admin", "other_community")]),
    ],
)
async def test_get_one_shows_the_roles_in_the_callers_scope(
    client: httpx.AsyncClient, w: World, two_hats: User, caller: str, seen: list[tuple[str, str]]
) -> None:
    r = await client.get(f"{STAFF}/{two_hats.id}", headers=w.as_(getattr(w, caller)))
    assert r.status_code == 200, r.text
    assert roles(r.json()) == [(role, getattr(w.tree, region).id) for role, region in seen]


async def test_list_shows_the_roles_in_the_callers_scope(
    client: httpx.AsyncClient, w: World, two_hats: User
) -> None:
    r = await client.get(STAFF, params={"q": "两地员工"}, headers=w.as_(w.community_admin))
    assert r.status_code == 200, r.text
    [item] = r.json()["items"]
    assert roles(item) == [("grid_worker", w.tree.grid.id)]
    r = await client.get(STAFF, params={"q": "两地员工"}, headers=w.as_(w.street_admin))
    [item] = r.json()["items"]
    assert len(item["roles"]) == 2


async def test_grant_answers_with_the_roles_in_the_callers_scope(
    client: httpx.AsyncClient, w: World, two_hats: User
) -> None:
    r = await client.post(
        f"{STAFF}/{two_hats.id}/roles",
        json={"role": "grid_worker", "region_id": w.tree.other_grid.id},
        headers=w.as_(w.community_admin),
    )
    assert r.status_code == 201, r.text
    assert roles(r.json()) == [
        ("grid_worker", w.tree.grid.id),
        ("grid_worker", w.tree.other_grid.id),
    ]


async def test_own_record_shows_every_own_role(
    client: httpx.AsyncClient, session: AsyncSession, w: World
) -> None:
    # As /me does: one's own roles are no one else's data.
    await grant(session, w.community_admin, "grid_worker", w.tree.far_grid)
    r = await client.get(f"{STAFF}/{w.community_admin.id}", headers=w.as_(w.community_admin))
    assert r.status_code == 200, r.text
    assert roles(r.json()) == [
        ("community_admin", w.tree.community.id),
        ("grid_worker", w.tree.far_grid.id),
    ]


async def test_a_refused_edit_names_no_role_outside_the_callers_scope(
    client: httpx.AsyncClient, w: World, two_hats: User
) -> None:
    """Community A's admin may not edit a member who is an admin in community B
    (a peer): refused, without telling which role B gave them."""
    r = await client.patch(
        f"{STAFF}/{two_hats.id}", json={"on_duty": False}, headers=w.as_(w.community_admin)
    )
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "staff.role_too_high"
    assert r.json()["error"]["details"] == {}
