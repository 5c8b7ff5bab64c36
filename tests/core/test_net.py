from __future__ import annotations

import pytest
from starlette.requests import Request

from app.core.net import client_ip


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
