"""Network addresses: the client's address, trusting ``X-Forwarded-For`` only
behind named proxies; and outbound HTTP that only connects to vetted addresses."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from functools import lru_cache

import anyio
import httpcore
import httpx
from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(addr: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_ip(request: Request, trusted_proxies: list[str]) -> str:
    """The peer address, or, when the peer is a trusted proxy, the right-most
    address of ``X-Forwarded-For`` that is not itself a trusted proxy."""
    peer = request.client.host if request.client else "unknown"
    networks = _networks(tuple(trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return peer
    forwarded = request.headers.get("x-forwarded-for", "")
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address as peers and proxies write it: bare, ``[v6]``, ``[v6]:port``
    or ``v4:port``; None when it is none of these."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def limit_key(address: str) -> str:
    """The client a per-address rate limit counts: an IPv4 address as it is;
    an IPv6 address by its /64, since one subscriber gets at least a /64 and
    can take a new address in it for every request; an IPv4-mapped IPv6
    address as its IPv4 address. What is not an address ("unknown") is kept
    as it is. Only for limits: the audit log keeps the full address."""
    ip = _address(address)
    if ip is None:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ip in _NAT64:
            # IPv4 clients behind a NAT64 gateway share its /96, not one client's /64.
            return str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        return f"{ipaddress.IPv6Address(int(ip) >> 64 << 64)}/64"
    return str(ip)


# ------------------------------------------------------------------ outbound

# NAT64 (RFC 6052) carries an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

Resolver = Callable[[str, int], Awaitable[list[str]]]


def is_public(address: str) -> bool:
    """Whether ``address`` is a public unicast address; IPv6 forms that carry
    an IPv4 address (mapped, 6to4, NAT64) are judged by that address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.is_global and not ip.is_multicast


async def resolve_host(host: str, port: int) -> list[str]:
    """The addresses of ``host`` from the system resolver, in its order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressRefused(Exception):
    """A destination outside what outbound calls may reach. Not an ``httpx``
    error on purpose: it is final, not a network failure worth retrying."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}, which is not a public address")
        self.host = host
        self.address = address


async def vetted_addresses(
    host: str, port: int, *, allow_private: bool, resolve: Resolver | None = None
) -> list[str]:
    """Resolve ``host`` once and check every address it has (one bad address
    refuses the host: the connection could land on any of them). ``OSError``
    when it does not resolve."""
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = await (resolve or resolve_host)(host, port)
    if not addresses:
        raise OSError(f"{host} has no address")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise AddressRefused(host, address)
    return addresses


class _VettedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to addresses vetted in the same step: the
    host is resolved here, once, and the socket goes to a checked address. TLS
    is started afterwards by httpcore with the URL's host name, so SNI and
    certificate checks are for the name, not the address."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver | None,
        inner: httpcore.AsyncNetworkBackend | None,
    ) -> None:
        self._allow_private = allow_private
        self._resolve = resolve
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await vetted_addresses(
                    host, port, allow_private=self._allow_private, resolve=self._resolve
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not an outbound destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_HTTPX_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProxyError: httpx.ProxyError,
}


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            mapped = _HTTPX_ERRORS.get(cls)
            if mapped is not None:
                raise mapped(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _as_httpx_errors():
                await close()


KEEPALIVE_SECONDS = 5.0


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


class VettedTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport for URLs that outsiders choose (webhooks): every
    connection goes to an address resolved and checked at connect time, so a
    name that resolves differently between a check and the connection (DNS
    rebinding) cannot reach a private address. The URL, and so the ``Host``
    header and the TLS server name, are left as they are. No proxies: a proxy
    would resolve the name itself."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolve: Resolver | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or _ssl_context(),
            # A receiver may close an idle connection at any moment; one kept
            # only briefly is rarely reused after the other side dropped it.
            keepalive_expiry=KEEPALIVE_SECONDS,
            network_backend=_VettedBackend(
                allow_private=allow_private, resolve=resolve, inner=network_backend
            ),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            # The server name is always the URL's host.
            extensions={k: v for k, v in request.extensions.items() if k != "sni_hostname"},
        )
        with _as_httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
