"""A fixed set of cases with known timestamps, made through the API and the
sweeps with a frozen clock, so the figures are checked against what the
lifecycle really writes. The figures expected of it are worked out by hand in
test_fixed_figures.py.

Category ``environment``: response 60 minutes, resolution 1 day (24 natural
hours) from acceptance. All times are Asia/Shanghai (+08:00).

  K  g1  09-30 23:59  submitted, never accepted (outside the window)
  A  g1  10-31 23:30  accepted 23:50 (20 min, on time); resolved 11-01 10:00
                      (due 11-01 23:50); rated 满意 11-01 12:00
  B  g1  11-01 00:30  accepted 02:00 (90 min, late: due 01:30); extension of
                      24 h approved 11-01 20:00 (due 11-02 02:00 → 11-03 02:00);
                      resolved 11-02 20:00 (on time thanks to the extension);
                      never rated: auto-closed by the sweep of 11-10 09:00
  C  g2  11-02 09:00  accepted 09:30 (30 min); resolved 17:00; rated 不满意
                      18:00; reopened 11-03 09:00 (new due 11-04 09:00);
                      resolved again 11-04 10:00 (late); rated 基本满意 11-04 12:00
  D  g3  11-03 10:00  rejected 10:20 (left out of every figure)
  E  g3  11-04 08:00  never accepted (no grid leader in its community to take
                      it over): open and overdue
  F  g1  11-05 08:00  not accepted: reminded by the sweep of 09:30, reassigned
                      to the grid leader by the sweep of 10:05 (new response
                      deadline 11:05); the leader accepts 10:30 — 150 min after
                      creation, late against the first deadline (09:00) —
                      and resolves 15:00; not rated, still ``resolved``
  G  g2  11-06 09:00  accepted 09:10 (10 min); past its deadline (11-07 09:10)
                      the sweep of 11-07 10:00 flags it overdue and escalates it
                      to community A; the community admin accepts 10:30,
                      resolves 16:00 (within the new deadline, but it was
                      overdue: late); rated 不满意 17:00
  H  g2  11-08 10:00  accepted 10:20 (20 min); overdue, escalated by the sweep
                      of 11-10 09:00 to community A's queue: no owner, open
  J  g3  11-09 08:00  cancelled 08:05 (left out of every figure)
  L  g1  12-01 00:00  submitted, never accepted (outside the window)

The figures are read at NOW = 2026-12-02 12:00 over [2026-10-01, 2026-12-01).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.clock import SHANGHAI
from app.core.settings import Settings
from app.reports.sweeps import run_sweeps
from app.users.models import User
from tests.reports.helpers import IN_GRID, IN_OTHER_GRID, World, act, make_world, submit, wgs

IN_FAR_GRID = (112.925, 35.005)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=SHANGHAI)
WINDOW = {"from": "2026-10-01", "to": "2026-12-01"}


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@dataclass
class Fixed:
    world: World
    ids: dict[str, int]


async def make_fixed(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession, settings: Settings
) -> Fixed:
    w = await make_world(session, settings)
    w.resident.home_grid_id = w.tree.grid.id
    await session.flush()
    # Tokens expire: each request gets a fresh one, issued at the frozen time.
    resident, worker, other = w.resident, w.worker, w.other_worker
    leader, admin = w.leader, w.community_admin
    ids: dict[str, int] = {}

    async def file(name: str, when: datetime, point: tuple[float, float]) -> None:
        clock.set_now(when)
        r = await submit(client, w.h(resident), location=wgs(point))
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "dispatched", r.text
        ids[name] = r.json()["id"]

    async def do(
        name: str, when: datetime, who: User, action: str, body: Any = None
    ) -> dict[str, Any]:
        clock.set_now(when)
        r = await act(client, w.h(who), ids[name], action, body)
        assert r.status_code in (200, 201), (name, action, r.text)
        return r.json()  # type: ignore[no-any-return]

    async def sweep(when: datetime) -> None:
        clock.set_now(when)
        await run_sweeps(app.state.db)

    await file("K", at(9, 30, 23, 59), IN_GRID)
    await file("A", at(10, 31, 23, 30), IN_GRID)
    await do("A", at(10, 31, 23, 50), worker, "accept")
    await file("B", at(11, 1, 0, 30), IN_GRID)
    await do("B", at(11, 1, 2, 0), worker, "accept")
    await do("A", at(11, 1, 10, 0), worker, "resolve", {"note": "已清运"})
    await do("A", at(11, 1, 12, 0), resident, "rating", {"score": "satisfied"})
    ext = await do(
        "B", at(11, 1, 18, 0), worker, "extension", {"hours": 24, "reason": "需协调物业"}
    )
    clock.set_now(at(11, 1, 20, 0))
    r = await client.post(
        f"/api/v1/reports/{ids['B']}/extension/{ext['pending_extension']['id']}/decision",
        json={"approve": True},
        headers=w.h(admin),
    )
    assert r.status_code == 200, r.text
    await file("C", at(11, 2, 9, 0), IN_OTHER_GRID)
    await do("C", at(11, 2, 9, 30), other, "accept")
    await do("C", at(11, 2, 17, 0), other, "resolve", {"note": "已处理"})
    await do("C", at(11, 2, 18, 0), resident, "rating", {"score": "unsatisfied"})
    await do("B", at(11, 2, 20, 0), worker, "resolve", {"note": "已处理"})
    await do("C", at(11, 3, 9, 0), resident, "reopen", {"reason": "问题又出现了"})
    await file("D", at(11, 3, 10, 0), IN_FAR_GRID)
    await do("D", at(11, 3, 10, 20), w.other_community_admin, "reject", {"reason": "重复提交"})
    await file("E", at(11, 4, 8, 0), IN_FAR_GRID)
    await do("C", at(11, 4, 10, 0), other, "resolve", {"note": "彻底处理"})
    await do("C", at(11, 4, 12, 0), resident, "rating", {"score": "basically_satisfied"})
    await file("F", at(11, 5, 8, 0), IN_GRID)
    await sweep(at(11, 5, 9, 30))
    await sweep(at(11, 5, 10, 5))
    await do("F", at(11, 5, 10, 30), leader, "accept")
    await do("F", at(11, 5, 15, 0), leader, "resolve", {"note": "已处理"})
    await file("G", at(11, 6, 9, 0), IN_OTHER_GRID)
    await do("G", at(11, 6, 9, 10), other, "accept")
    await sweep(at(11, 7, 10, 0))
    await do("G", at(11, 7, 10, 30), admin, "accept")
    await do("G", at(11, 7, 16, 0), admin, "resolve", {"note": "社区协调解决"})
    await do("G", at(11, 7, 17, 0), resident, "rating", {"score": "unsatisfied"})
    await file("H", at(11, 8, 10, 0), IN_OTHER_GRID)
    await do("H", at(11, 8, 10, 20), other, "accept")
    await file("J", at(11, 9, 8, 0), IN_FAR_GRID)
    await do("J", at(11, 9, 8, 5), resident, "cancel")
    await sweep(at(11, 10, 9, 0))
    await file("L", at(12, 1, 0, 0), IN_GRID)
    clock.set_now(NOW)
    return Fixed(world=w, ids=ids)
