"""Who may be handed a case (DESIGN §4: "another person in the caller's
scope"): a community admin dispatches to any grid's worker of the community;
a grid worker transfers to a colleague over the case, such as the community's
网格长; nobody hands a case outside their scope."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.org.models import Department
from tests.factories import make_staff
from tests.reports.helpers import IN_GRID, act, make_world, submit, wgs


async def test_a_community_admin_dispatches_to_a_neighbouring_grids_worker(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    h = world.h(world.resident)
    # Returned to the community's queue by its grid's worker: the admin may
    # pick any worker of the community, not only of the grid the case is in.
    case = (await submit(client, h, location=wgs(IN_GRID))).json()
    r = await act(client, world.h(world.worker), case["id"], "return", {"reason": "本人休假"})
    assert r.status_code == 200 and r.json()["status"] == "submitted", r.text
    r = await act(
        client,
        world.h(world.community_admin),
        case["id"],
        "dispatch",
        {"assignee_id": world.other_worker.id},
    )
    assert r.status_code == 200, r.text
    assert r.json()["assignee"]["id"] == world.other_worker.id
    r = await act(client, world.h(world.other_worker), case["id"], "accept")
    assert r.status_code == 200, r.text

    located = (await submit(client, h, location=wgs(IN_GRID))).json()
    r = await act(client, world.h(world.community_admin), located["id"], "transfer",
                  {"assignee_id": world.other_worker.id, "reason": "本网格网格员休假"})  # fmt: skip
    assert r.status_code == 200, r.text
    # Outside the admin's community: as if the person did not exist.
    for user in (world.far_worker, world.other_community_admin):
        r = await act(client, world.h(world.community_admin), located["id"], "transfer",
                      {"assignee_id": user.id, "reason": "转派"})  # fmt: skip
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "staff.not_found"


async def test_a_worker_hands_a_case_to_the_communitys_grid_leader_but_not_sideways(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    world = await make_world(session, settings)
    community_leader = await make_staff(
        session, "grid_leader", world.tree.community, name="社区网格长"
    )
    case = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()
    assert case["assignee"]["id"] == world.worker.id
    worker = world.h(world.worker)
    # Not the worker of another grid, not an admin (that is escalation).
    for user in (world.other_worker, world.far_worker, world.community_admin):
        r = await act(client, worker, case["id"], "transfer",
                      {"assignee_id": user.id, "reason": "请协助"})  # fmt: skip
        assert r.status_code == 404, (user.name, r.text)
        assert r.json()["error"]["code"] == "staff.not_found"
    r = await act(client, worker, case["id"], "transfer",
                  {"assignee_id": community_leader.id, "reason": "需网格长协调"})  # fmt: skip
    assert r.status_code == 200, r.text
    r = await act(client, world.h(community_leader), case["id"], "accept")
    assert r.status_code == 200, r.text


async def test_department_staff_hand_a_case_on_only_to_someone_over_it(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    """A district department's grant is not a scope to hand cases around in:
    its staff may pass an escalated case to a worker over the case, not to a
    worker of another community of the district."""
    world = await make_world(session, settings)
    department = Department(
        name="城管局", region_id=world.tree.district.id, category_codes=["environment"]
    )
    session.add(department)
    await session.flush()
    staff = await make_staff(
        session, "department_staff", world.tree.district, department=department
    )
    rid = (await submit(client, world.h(world.resident), location=wgs(IN_GRID))).json()["id"]
    assert (await act(client, world.h(world.worker), rid, "accept")).status_code == 200
    r = await act(client, world.h(world.worker), rid, "escalate",
                  {"reason": "需要职能部门处理", "to": "department", "department_id": department.id})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (await act(client, world.h(staff), rid, "accept")).status_code == 200
    r = await act(client, world.h(staff), rid, "transfer",
                  {"assignee_id": world.far_worker.id, "reason": "转派"})  # fmt: skip
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "staff.not_found"
    r = await act(client, world.h(staff), rid, "transfer",
                  {"assignee_id": world.leader.id, "reason": "请网格长跟进"})  # fmt: skip
    assert r.status_code == 200, r.text
