"""Signed, expiring media URLs: GET /media/{id}/file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import Settings
from app.media import signing
from app.media.models import Media
from app.users.models import User
from tests.factories import auth, make_user
from tests.media.helpers import fetch, jpeg, opened, upload

T0 = datetime(2026, 11, 22, 8, 3, 20, tzinfo=UTC)


def _parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    return split.path, {k: v[0] for k, v in parse_qs(split.query).items()}


def _with(url: str, **changes: str) -> str:
    path, query = _parts(url)
    return f"{path}?{urlencode({**query, **changes})}"


async def _uploaded(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> dict:
    user = await make_user(session)
    r = await upload(client, settings, user, jpeg((640, 480)))
    assert r.status_code == 201
    return r.json()  # type: ignore[no-any-return]


async def test_signed_url_serves_the_file_with_safe_headers(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    with clock.frozen(T0):
        body = await _uploaded(client, session, settings)
        r = await fetch(client, body["url"])
        # Fetched at the same frozen moment: a URL issued at T0 expires an hour later.
        thumb = await fetch(client, body["thumbnail_url"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-content-type-options"] == "nosniff"
    cache = r.headers["cache-control"]
    assert cache.startswith("private, max-age=")
    max_age = int(cache.split("=")[1])
    # Valid for the TTL, rounded up to a 10-minute boundary.
    assert 3600 <= max_age <= 3600 + 600
    assert datetime.fromisoformat(body["expires_at"]) == T0 + timedelta(seconds=max_age)
    assert opened(r.content).size == (body["width"], body["height"]) == (640, 480)
    assert thumb.status_code == 200
    assert opened(thumb.content).size == (320, 240)


async def test_urls_issued_close_together_are_identical(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    # The same string lets the mini-program cache the image by its URL.
    with clock.frozen(T0):
        body = await _uploaded(client, session, settings)
        headers = await _owner_headers(session, settings, body["id"])
        clock.advance(timedelta(minutes=1))
        soon = await client.get(f"/api/v1/media/{body['id']}", headers=headers)
        clock.advance(timedelta(minutes=10))
        later = await client.get(f"/api/v1/media/{body['id']}", headers=headers)
    assert soon.json()["url"] == body["url"]
    assert later.json()["url"] != body["url"]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda u, b: _with(u, sig="0" * 64), id="other-sig"),
        pytest.param(
            lambda u, b: _with(u, sig=_parts(u)[1]["sig"][:-1] + ("0" if u[-1] != "0" else "1")),
            id="one-char-changed",
        ),
        pytest.param(lambda u, b: _with(u, sig=""), id="empty-sig"),
        pytest.param(lambda u, b: _parts(u)[0] + "?v=full", id="no-sig-no-exp"),
        pytest.param(lambda u, b: _with(u, v="thumb"), id="other-variant"),
        pytest.param(
            lambda u, b: _with(u, exp=str(int(_parts(u)[1]["exp"]) + 86400)), id="later-expiry"
        ),
        pytest.param(
            lambda u, b: u.replace(f"/media/{b['id']}/", f"/media/{b['id'] + 1}/"), id="other-id"
        ),
        pytest.param(lambda u, b: _with(u, sig="签名"), id="non-ascii-sig"),
    ],
)
async def test_tampered_url_is_403(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, tamper
) -> None:
    with clock.frozen(T0):
        body = await _uploaded(client, session, settings)
        assert (await fetch(client, body["url"])).status_code == 200
        r = await fetch(client, tamper(body["url"], body))
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "media.bad_signature"


async def test_url_signed_with_another_secret_is_403(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    with clock.frozen(T0):
        body = await _uploaded(client, session, settings)
        other = settings.model_copy(update={"media_url_secret": SecretStr("x" * 40)})
        exp = int(_parts(body["url"])[1]["exp"])
        forged = signing.signed_url(other, body["id"], "full", exp)
        r = await fetch(client, forged)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "media.bad_signature"


async def test_expired_url_is_403_and_a_fresh_one_works(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    with clock.frozen(T0):
        body = await _uploaded(client, session, settings)
        clock.advance(timedelta(minutes=59))
        assert (await fetch(client, body["url"])).status_code == 200
        clock.advance(timedelta(minutes=12))  # past the rounded expiry
        r = await fetch(client, body["url"])
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "media.url_expired"
        assert (await fetch(client, body["thumbnail_url"])).status_code == 403

        owner_headers = await _owner_headers(session, settings, body["id"])
        fresh = await client.get(f"/api/v1/media/{body['id']}", headers=owner_headers)
        assert fresh.status_code == 200
        assert fresh.json()["url"] != body["url"]
        assert (await fetch(client, fresh.json()["url"])).status_code == 200
        assert (await fetch(client, fresh.json()["thumbnail_url"])).status_code == 200


async def _owner_headers(
    session: AsyncSession, settings: Settings, media_id: int
) -> dict[str, str]:
    media = await session.get(Media, media_id)
    assert media is not None
    owner = await session.get(User, media.owner_id)
    assert owner is not None
    return auth(settings, owner)


async def test_validly_signed_url_for_unknown_media_is_404(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    with clock.frozen(T0):
        url = signing.signed_url(settings, 987654321, "full", signing.expiry(clock.now()))
        r = await fetch(client, url)
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "media.not_found"


async def test_unknown_variant_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    with clock.frozen(T0):
        body = await _uploaded(client, session, settings)
        r = await fetch(client, _with(body["url"], v="original"))
    assert r.status_code == 422
