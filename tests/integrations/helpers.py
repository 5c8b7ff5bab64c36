"""Helpers for third-party tests: API clients with a known key, a local
webhook receiver, fake resolvers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
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


# ---------------------------------------------------------------- webhooks


def sign(secret: str, body: bytes) -> str:
    """The ``X-Ejiaren-Signature`` value one secret makes for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verifies(header: str, body: bytes, secret: str) -> bool:
    """A receiver's check as the docs describe it: split the header on commas,
    any ``sha256=`` value made with the secret it holds is a match."""
    expected = sign(secret, body)
    return any(hmac.compare_digest(v.strip(), expected) for v in header.split(","))


@dataclass(frozen=True)
class Received:
    """One request a ``Receiver`` got."""

    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def signature(self) -> str:
        return self.headers.get("x-ejiaren-signature", "")

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """A tiny ASGI webhook receiver (serve it with ``serve``): answers
    ``statuses`` in turn, then 200, and keeps every request it got."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.got: list[Received] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.got.append(Received(headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})
