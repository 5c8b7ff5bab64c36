"""A delivery context on the app under test, and a handler whose outcome each
test scripts, registered for the kind ``test.record``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from app.outbox import (
    DeliveryContext,
    DeliveryResult,
    OutboxMessage,
    PermanentDelivery,
    RetryableDelivery,
    register_handler,
    unregister_handler,
)

KIND = "test.record"


@dataclass
class Recorder:
    """Records each delivery; ``outcomes`` scripts the next ones ("ok",
    "retry", "dead"); when it is empty every delivery succeeds."""

    delivered: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)

    async def __call__(self, message: OutboxMessage, ctx: DeliveryContext) -> DeliveryResult:
        self.delivered.append((message.id, message.delivery_id, dict(message.payload)))
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        if outcome == "retry":
            raise RetryableDelivery("接收方暂时不可用")
        if outcome == "dead":
            raise PermanentDelivery("接收方拒收")
        if outcome == "boom":
            raise RuntimeError("handler bug")
        return DeliveryResult({"ok": True})

    def delivery_ids(self) -> list[str]:
        return [d for _, d, _ in self.delivered]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    register_handler(KIND, rec)
    yield rec
    unregister_handler(KIND)


@pytest_asyncio.fixture(loop_scope="session")
async def ctx(app: FastAPI) -> AsyncIterator[DeliveryContext]:
    async with httpx.AsyncClient() as http:
        yield DeliveryContext(
            settings=app.state.settings, http=http, db=app.state.db, wechat=app.state.wechat
        )
