from __future__ import annotations

import pytest
from starlette.requests import Request

from app.core.net import client_ip, limit_key


def _request(peer: str, xff: str | None) -> Request:
    headers = [(b"x-forwarded-for", xff.encode())] if xff is not None else []
    return Request({"type": "http", "client": (peer, 1234), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "expected"),
    [
        ("203.0.113.9", None, [], "203.0.113.9"),
        # Not behind a trusted proxy: the header is the client's own claim, ignored.
        ("203.0.113.9", "1.2.3.4", [], "203.0.113.9"),
        ("203.0.113.9", "1.2.3.4", ["10.0.0.0/8"], "203.0.113.9"),
        # Behind a trusted proxy: the right-most untrusted hop is the client.
        ("10.0.0.5", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.5", "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.5", "1.2.3.4, 10.0.0.7", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.5", "", ["10.0.0.0/8"], "10.0.0.5"),
        ("::1", "2001:db8::1", ["::1/128"], "2001:db8::1"),
    ],
)
def test_client_ip(peer: str, xff: str | None, trusted: list[str], expected: str) -> None:
    assert client_ip(_request(peer, xff), trusted) == expected


@pytest.mark.parametrize(
    ("address", "key"),
    [
        # IPv4 as it is.
        ("203.0.113.9", "203.0.113.9"),
        # An IPv6 client owns at least a /64: the prefix is the key.
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:0DB8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::1", "::/64"),
        # An IPv4 client seen through IPv6 is the IPv4 client.
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("::ffff:cb00:7109", "203.0.113.9"),
        # IPv4 clients behind a NAT64 gateway: each its own key, not the gateway's.
        ("64:ff9b::203.0.113.9", "203.0.113.9"),
        ("64:ff9b::cb00:710a", "203.0.113.10"),
        # As some proxies write them: brackets, a port.
        ("[2001:db8:1:2::1]", "2001:db8:1:2::/64"),
        ("[2001:db8:1:2::1]:443", "2001:db8:1:2::/64"),
        ("203.0.113.9:51234", "203.0.113.9"),
        # Not an address: kept as it is (one key, as before).
        ("unknown", "unknown"),
        ("not an address", "not an address"),
        ("", ""),
    ],
)
def test_limit_key(address: str, key: str) -> None:
    assert limit_key(address) == key


def test_one_ipv6_64_is_one_key_and_two_are_two() -> None:
    assert limit_key("2001:db8:a:b::1") == limit_key("2001:db8:a:b:1234:5678:9abc:def0")
    assert limit_key("2001:db8:a:b::1") != limit_key("2001:db8:a:c::1")
    assert limit_key("::ffff:198.51.100.7") == limit_key("198.51.100.7")
    assert limit_key("198.51.100.7") != limit_key("198.51.100.8")
