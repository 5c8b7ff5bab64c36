"""Factories for third-party tests: API clients with a known key."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.integrations.models import ApiClient
from app.integrations.service import CLIENT_USER_KIND, hash_key, new_key
from app.org.models import Region
from app.users.models import User

# A public address that the tests never actually connect to.
PUBLIC = "93.184.216.34"

ALL_SCOPES = ("reports:read", "reports:write", "stats:read", "policies:read", "services:read")


async def make_api_client(
    session: AsyncSession,
    region: Region,
    scopes: Iterable[str] = ALL_SCOPES,
    *,
    name: str = "12345 热线平台",
) -> tuple[ApiClient, str]:
    """A client over ``region`` and its key in clear."""
    user = User(kind=CLIENT_USER_KIND, nickname=name, name=name)
    session.add(user)
    await session.flush()
    key, prefix = new_key()
    client = ApiClient(
        name=name,
        key_prefix=prefix,
        key_hash=hash_key(key),
        scopes=sorted(set(scopes)),
        region_id=region.id,
        user_id=user.id,
        created_at=clock.now(),
    )
    session.add(client)
    await session.flush()
    return client, key


def key_header(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


class _QuietServer(uvicorn.Server):
    """uvicorn on the test's own event loop, leaving signal handling to pytest."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(asgi: Any) -> AsyncIterator[str]:
    """Serve ``asgi`` over real HTTP on 127.0.0.1 (a free port), on the running
    loop, so the app under test keeps its rolled-back test connection."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _QuietServer(uvicorn.Config(asgi, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "local test server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class Resolver:
    """A DNS server that changes its mind: answers ``answers`` in turn (the
    last one again once they run out) and records the names looked up."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
