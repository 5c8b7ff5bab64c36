"""Concurrent bookings on committed data (not inside a rolled-back transaction):
each request has its own connection and transaction, as in production.

Runs on both databases. On PostgreSQL the bookers of one slot queue on its row
lock and each re-checks ``booked < capacity`` after the one before commits; on
SQLite ``BEGIN IMMEDIATE`` serialises the writers. Either way exactly
``capacity`` bookings succeed.

The fixture deletes only the rows it created (and the bookings, slots and
idempotency records made for them): other tests' committed data and the
categories seeded by the migrations stay.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from app.convenience.models import Booking, Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.models import IdempotencyRecord
from app.core.security import issue_token
from app.core.settings import Settings
from app.main import create_app
from app.org.models import Region
from app.users.models import Membership, User
from tests.convenience.helpers import make_point, make_service, make_slot
from tests.factories import make_staff, make_tree, make_user

RESIDENTS = 50
CAPACITY = 10


@dataclass
class Live:
    app: FastAPI
    client: httpx.AsyncClient
    residents: list[User]
    service: Service
    point: ServicePoint
    region_ids: list[int]
    user_ids: list[int]
    slot_ids: list[int] = field(default_factory=list)

    def h(self, user: User) -> dict[str, str]:
        token = issue_token(
            self.app.state.settings, user_id=user.id, version=user.token_version, type="access"
        )
        return {"Authorization": f"Bearer {token}"}

    async def new_slot(self, capacity: int = CAPACITY) -> int:
        async with self.app.state.db.session(write=True) as s:
            service = await s.get(Service, self.service.id)
            point = await s.get(ServicePoint, self.point.id)
            assert service is not None and point is not None
            slot = await make_slot(
                s, service, point, start=clock.now() + timedelta(days=1), capacity=capacity
            )
            await s.commit()
        self.slot_ids.append(slot.id)
        return slot.id

    async def seats(self, slot_id: int) -> tuple[int, int]:
        """The slot's counter and its active bookings, from a fresh connection."""
        async with self.app.state.db.session(write=False) as s:
            booked = await s.scalar(select(ServiceSlot.booked).where(ServiceSlot.id == slot_id))
            active = await s.scalar(
                select(func.count())
                .select_from(Booking)
                .where(Booking.slot_id == slot_id, Booking.status != "cancelled")
            )
        return int(booked or 0), int(active or 0)

    async def book(self, user: User, slot_id: int, key: str) -> httpx.Response:
        return await self.client.post(
            "/api/v1/bookings",
            json={"slot_id": slot_id},
            headers={**self.h(user), "Idempotency-Key": key},
        )


async def _cleanup(live: Live) -> None:
    async with live.app.state.db.session(write=True) as s:
        slots = select(ServiceSlot.id).where(ServiceSlot.service_id == live.service.id)
        await s.execute(delete(Booking).where(Booking.slot_id.in_(slots)))
        await s.execute(delete(ServiceSlot).where(ServiceSlot.service_id == live.service.id))
        await s.execute(delete(ServicePoint).where(ServicePoint.id == live.point.id))
        await s.execute(delete(Service).where(Service.id == live.service.id))
        await s.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.owner.in_([f"user:{u}" for u in live.user_ids])
            )
        )
        await s.execute(delete(Membership).where(Membership.user_id.in_(live.user_ids)))
        await s.execute(delete(User).where(User.id.in_(live.user_ids)))
        # Children before parents: ids grow down the tree as it was built.
        for region_id in sorted(live.region_ids, reverse=True):
            await s.execute(delete(Region).where(Region.id == region_id))
        await s.commit()


@pytest.fixture
async def live(settings: Settings) -> AsyncIterator[Live]:
    # Enough connections that every request of the burst holds one at once.
    app = create_app(
        settings.model_copy(
            update={"db_pool_size": RESIDENTS, "db_max_overflow": 10, "db_pool_timeout": 60}
        )
    )
    async with app.state.db.session(write=True) as s:
        tree = await make_tree(s)
        worker = await make_staff(s, "grid_worker", tree.grid)
        residents = [await make_user(s) for _ in range(RESIDENTS)]
        service = await make_service(s, tree.street, name="并发预约测试事项")
        point = await make_point(s, tree.grid)
        await s.commit()
    regions = [
        tree.district,
        tree.street,
        tree.community,
        tree.grid,
        tree.other_grid,
        tree.other_community,
        tree.far_grid,
    ]
    transport = httpx.ASGITransport(app=app)
    state = Live(
        app=app,
        client=httpx.AsyncClient(transport=transport, base_url="http://live"),
        residents=residents,
        service=service,
        point=point,
        region_ids=[r.id for r in regions],
        user_ids=[worker.id, *[r.id for r in residents]],
    )
    try:
        yield state
    finally:
        await state.client.aclose()
        await _cleanup(state)
        await app.state.wechat.aclose()
        await app.state.db.dispose()


async def test_fifty_bookers_ten_seats_exactly_ten_win(live: Live) -> None:
    slot_id = await live.new_slot(CAPACITY)
    results = await asyncio.gather(
        *[live.book(user, slot_id, f"burst-{i}") for i, user in enumerate(live.residents)]
    )
    codes = [r.status_code for r in results]
    assert codes.count(201) == CAPACITY, [r.text for r in results if r.status_code != 409]
    assert codes.count(409) == RESIDENTS - CAPACITY
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {"booking.full"}
    winners = {r.json()["id"] for r in results if r.status_code == 201}
    assert len(winners) == CAPACITY
    assert await live.seats(slot_id) == (CAPACITY, CAPACITY)


async def test_one_resident_firing_at_once_gets_one_seat(live: Live) -> None:
    slot_id = await live.new_slot(CAPACITY)
    resident = live.residents[0]
    results = await asyncio.gather(*[live.book(resident, slot_id, f"twice-{i}") for i in range(6)])
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 5, [r.text for r in results]
    assert {r.json()["error"]["code"] for r in results if r.status_code == 409} == {
        "booking.duplicate"
    }
    assert await live.seats(slot_id) == (1, 1)


async def test_cancels_and_bookings_at_once_keep_the_count_true(live: Live) -> None:
    slot_id = await live.new_slot(CAPACITY)
    holders, others = live.residents[:CAPACITY], live.residents[CAPACITY:]
    first = [await live.book(u, slot_id, f"hold-{i}") for i, u in enumerate(holders)]
    assert [r.status_code for r in first] == [201] * CAPACITY
    cancels = [
        live.client.post(f"/api/v1/bookings/{r.json()['id']}/cancel", headers=live.h(u))
        for r, u in zip(first[:5], holders[:5], strict=True)
    ]
    books = [live.book(u, slot_id, f"late-{i}") for i, u in enumerate(others[:20])]
    results = await asyncio.gather(*cancels, *books)
    assert [r.status_code for r in results[:5]] == [200] * 5
    won = sum(r.status_code == 201 for r in results[5:])
    assert all(r.status_code in (201, 409) for r in results[5:])
    booked, active = await live.seats(slot_id)
    assert booked == active == CAPACITY - 5 + won
    assert booked <= CAPACITY
