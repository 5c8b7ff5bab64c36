"""Outbound HTTP to addresses vetted as they are connected to: a name is
resolved once per connection, every address it has is checked, and the socket
goes to a checked address while the URL (Host header, TLS server name) stays
the name. Fake resolvers only; the sockets are a recording stand-in or a
receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
import pytest

from app.core import net
from tests.integrations.helpers import PUBLIC, Resolver, serve

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


class _Stream(httpcore.AsyncMockStream):
    def __init__(self, backend: Recorder) -> None:
        super().__init__(list(backend.replies))
        self.backend = backend

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        self.backend.written += buffer

    async def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> httpcore.AsyncNetworkStream:
        self.backend.server_names.append(server_hostname)
        return self


class Recorder(httpcore.AsyncMockBackend):
    """Stands in for the sockets: records where connections go, the TLS
    server name and what is written, and answers ``replies``."""

    def __init__(self, replies: Iterable[bytes] = (OK,)) -> None:
        super().__init__(list(replies))
        self.replies = list(replies)
        self.connected: list[tuple[str, int]] = []
        self.server_names: list[str | None] = []
        self.written = b""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.connected.append((host, port))
        return _Stream(self)


def _client(
    resolve: Resolver, backend: Recorder, *, allow_private: bool = False
) -> httpx.AsyncClient:
    transport = net.VettedTransport(
        allow_private=allow_private, resolve=resolve, network_backend=backend
    )
    return httpx.AsyncClient(transport=transport)


async def test_a_name_that_rebinds_to_a_private_address_is_never_connected_to() -> None:
    resolve = Resolver([PUBLIC], ["127.0.0.1"])
    backend = Recorder()
    async with _client(resolve, backend) as http:
        r = await http.post("http://hooks.example.test/hook", content=b"{}")
        assert r.status_code == 200
        # The first connection was closed by the server: the next request
        # connects again, and the name now answers with a loopback address.
        with pytest.raises(net.AddressRefused) as refused:
            await http.post("http://hooks.example.test/hook", content=b"{}")
    assert refused.value.address == "127.0.0.1"
    assert resolve.lookups == ["hooks.example.test", "hooks.example.test"]
    assert backend.connected == [(PUBLIC, 80)]


@pytest.mark.parametrize(
    "answer",
    [
        [PUBLIC, "10.0.0.5"],
        ["169.254.169.254"],
        ["100.100.100.200"],
        ["::1"],
        ["::ffff:192.168.1.1"],
        ["64:ff9b::7f00:1"],
        ["2002:a00:1::1"],
        ["fe80::1%eth0"],
    ],
)
async def test_any_private_address_among_the_answers_refuses_the_name(answer: list[str]) -> None:
    backend = Recorder()
    async with _client(Resolver(answer), backend) as http:
        with pytest.raises(net.AddressRefused):
            await http.get("https://hooks.example.test/hook")
    assert backend.connected == []


async def test_address_literals_are_checked_without_a_lookup() -> None:
    resolve = Resolver([PUBLIC])
    backend = Recorder()
    async with _client(resolve, backend) as http:
        with pytest.raises(net.AddressRefused):
            await http.get("http://127.0.0.1:9/hook")
        with pytest.raises(net.AddressRefused):
            await http.get("http://[::ffff:10.1.2.3]/hook")
        assert (await http.get(f"http://{PUBLIC}/hook")).status_code == 200
    assert resolve.lookups == []
    assert backend.connected == [(PUBLIC, 80)]


async def test_https_keeps_the_name_for_host_and_tls_while_connecting_to_the_address() -> None:
    resolve = Resolver([PUBLIC])
    backend = Recorder()
    async with _client(resolve, backend) as http:
        r = await http.post(
            "https://hooks.example.test/hook",
            content=b"{}",
            extensions={"sni_hostname": "other.example.test"},
        )
    assert r.status_code == 200 and r.content == b"ok"
    assert backend.connected == [(PUBLIC, 443)]
    assert backend.server_names == ["hooks.example.test"]
    assert b"\r\nHost: hooks.example.test\r\n" in backend.written


async def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    async def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    backend = Recorder()
    transport = net.VettedTransport(allow_private=False, resolve=nowhere, network_backend=backend)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get("https://nowhere.example.test/")
    assert backend.connected == []


async def test_where_private_addresses_are_allowed_the_resolved_address_is_used() -> None:
    """Development and tests: a name for a local receiver reaches it, at the
    address the resolver gave, with the name in the Host header."""
    seen: list[dict[str, str]] = []

    async def receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    resolve = Resolver(["127.0.0.1"])
    async with serve(receiver) as base:
        port = httpx.URL(base).port
        transport = net.VettedTransport(allow_private=True, resolve=resolve)
        async with httpx.AsyncClient(transport=transport) as http:
            r = await http.get(f"http://hooks.example.test:{port}/hook")
    assert r.status_code == 204
    assert resolve.lookups == ["hooks.example.test"]
    assert [s["host"] for s in seen] == [f"hooks.example.test:{port}"]
