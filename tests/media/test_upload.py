"""POST /media: who may upload, what is refused, what is stored and served."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import Settings
from app.media import service as media_service
from app.media.images import MAX_UPLOAD_BYTES
from app.media.models import Media
from app.media.storage import LocalStorage
from tests.factories import auth, make_staff, make_tree, make_user
from tests.media.helpers import (
    GPS_IFD,
    RED,
    bilevel_png,
    encode,
    exif_with_gps,
    fetch,
    halves,
    jpeg,
    opened,
    upload,
)


async def test_upload_jpeg_with_gps_serves_it_without_exif(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    source = encode(halves((400, 200)), "JPEG", quality=90, exif=exif_with_gps(orientation=6))
    assert opened(source).getexif().get_ifd(GPS_IFD)

    r = await upload(client, settings, user, source)

    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"id", "url", "thumbnail_url", "width", "height", "sha256"}
    assert (body["width"], body["height"]) == (200, 400)  # turned upright
    for url in (body["url"], body["thumbnail_url"]):
        assert url.startswith(f"/api/v1/media/{body['id']}/file?")
        served = await fetch(client, url)
        assert served.status_code == 200
        assert served.headers["content-type"] == "image/jpeg"
        img = opened(served.content)
        assert not img.getexif() and not img.getexif().get_ifd(GPS_IFD)
        assert b"Exif\x00\x00" not in served.content and b"TestCam" not in served.content
    media = await session.get(Media, body["id"])
    assert media is not None and media.owner_id == user.id
    assert (media.content_type, media.width, media.height) == ("image/jpeg", 200, 400)


@pytest.mark.parametrize(
    ("data", "content_type", "stored"),
    [
        pytest.param(encode(halves((80, 60), "RGBA"), "PNG"), "image/png", "image/jpeg", id="png"),
        pytest.param(
            encode(Image.new("RGBA", (80, 60), (*RED, 100)), "PNG"),
            "image/png",
            "image/png",
            id="png-translucent",
        ),
        pytest.param(encode(halves((80, 60)), "WEBP"), "image/webp", "image/jpeg", id="webp"),
    ],
)
async def test_upload_png_and_webp(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    data: bytes,
    content_type: str,
    stored: str,
) -> None:
    user = await make_user(session)
    r = await upload(client, settings, user, data, filename="x", content_type=content_type)
    assert r.status_code == 201, r.text
    assert (r.json()["width"], r.json()["height"]) == (80, 60)
    served = await fetch(client, r.json()["url"])
    assert served.headers["content-type"] == stored
    assert opened(served.content).size == (80, 60)


async def test_big_photo_is_downscaled_with_a_small_thumbnail(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    r = await upload(client, settings, user, jpeg((4000, 3000)))
    assert r.status_code == 201
    assert (r.json()["width"], r.json()["height"]) == (2048, 1536)
    full = opened((await fetch(client, r.json()["url"])).content)
    thumb = opened((await fetch(client, r.json()["thumbnail_url"])).content)
    assert full.size == (2048, 1536)
    assert thumb.size == (320, 240)


async def test_same_bytes_same_media_other_owner_other_media(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    alice, bob = await make_user(session), await make_user(session)
    data = jpeg((120, 90))
    first = await upload(client, settings, alice, data)
    again = await upload(client, settings, alice, data, filename="renamed.jpeg")
    other = await upload(client, settings, bob, data)
    different = await upload(client, settings, alice, jpeg((121, 90)))

    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert other.json()["id"] != first.json()["id"]
    assert different.json()["id"] != first.json()["id"]
    assert first.json()["sha256"] == other.json()["sha256"]
    rows = (
        await session.scalars(select(Media).where(Media.sha256 == first.json()["sha256"]))
    ).all()
    assert sorted(m.owner_id for m in rows) == sorted([alice.id, bob.id])
    # The two rows share the stored files (content-addressed).
    assert rows[0].storage_key == rows[1].storage_key
    assert LocalStorage(settings.media_dir).exists(rows[0].storage_key)


async def test_concurrent_duplicate_returns_the_row_that_won(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    # As if a second request with the same bytes passed the lookup before the
    # first one committed: the unique (owner, sha256) decides, no error.
    user = await make_user(session)
    data = jpeg((90, 90))
    first = await upload(client, settings, user, data)
    media = await media_service.create_upload(
        session,
        storage=LocalStorage(settings.media_dir),
        owner_id=user.id,
        data=data,
        sha256=first.json()["sha256"],
    )
    assert media.id == first.json()["id"]
    # The transaction is still usable afterwards (the savepoint took the failure).
    assert await session.get(Media, media.id) is media


async def test_file_name_and_declared_type_are_ignored(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    gif = encode(halves((8, 8)).convert("P"), "GIF")
    r = await upload(client, settings, user, gif, filename="photo.jpg", content_type="image/jpeg")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "media.unsupported_type"
    ok = await upload(client, settings, user, jpeg(), filename="a.gif", content_type="image/gif")
    assert ok.status_code == 201


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"just some text, not a picture", "media.not_an_image", id="text"),
        pytest.param(b"", "media.not_an_image", id="empty"),
        pytest.param(
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "media.unsupported_type",
            id="svg",
        ),
        pytest.param(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "media.unsupported_type", id="gif"),
        pytest.param(b"%PDF-1.4\n1 0 obj\n", "media.unsupported_type", id="pdf"),
        pytest.param(
            b"\xff\xd8\xff<html><script>alert(document.cookie)</script></html>",
            "media.unsupported_type",
            id="polyglot-jpeg-html",
        ),
        pytest.param(jpeg((600, 400))[:-1500], "media.corrupt", id="truncated-jpeg"),
    ],
)
async def test_refused_uploads(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings, data: bytes, code: str
) -> None:
    user = await make_user(session)
    r = await upload(client, settings, user, data)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    assert (await session.scalars(select(Media).where(Media.owner_id == user.id))).first() is None


async def test_appended_script_is_not_served(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    data = encode(halves((64, 48)), "PNG") + b"<script>alert(1)</script>"
    r = await upload(client, settings, user, data, content_type="image/png")
    assert r.status_code == 201
    served = await fetch(client, r.json()["url"])
    assert b"<script" not in served.content
    assert served.headers["x-content-type-options"] == "nosniff"


async def test_decompression_bomb_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    r = await upload(client, settings, user, bilevel_png(20000, 20000), content_type="image/png")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "media.too_many_pixels"


def _padded_jpeg(total: int) -> bytes:
    # A valid JPEG followed by padding: what lies after the image is ignored,
    # so only the size rule can refuse it.
    data = jpeg((32, 32))
    return data + b"\x00" * (total - len(data))


async def test_exactly_10_mb_is_accepted_one_byte_more_is_413(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    ok = await upload(client, settings, user, _padded_jpeg(MAX_UPLOAD_BYTES))
    assert ok.status_code == 201, ok.text
    over = await upload(client, settings, user, _padded_jpeg(MAX_UPLOAD_BYTES + 1))
    assert over.status_code == 413
    assert over.json()["error"]["code"] == "media.too_large"


def _multipart_head(boundary: str) -> bytes:
    return (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()


async def test_endless_body_is_cut_off_while_streaming(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    boundary = "b0undary"
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        yield _multipart_head(boundary) + b"\xff\xd8\xff"
        while sent < 100 * MAX_UPLOAD_BYTES:  # a safety stop far past the cap
            sent += 1 << 20
            yield b"\x00" * (1 << 20)

    r = await client.post(
        "/api/v1/media",
        content=endless(),
        headers={
            **auth(settings, user),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "media.too_large"
    assert sent <= MAX_UPLOAD_BYTES + 2 * (1 << 20)


async def test_declared_length_over_the_cap_is_refused_before_reading(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    boundary = "b0undary"
    chunks = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal chunks
        for _ in range(50):
            chunks += 1
            yield _multipart_head(boundary) if chunks == 1 else b"\x00" * (1 << 20)

    r = await client.post(
        "/api/v1/media",
        content=body(),
        headers={
            **auth(settings, user),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(50 << 20),
        },
    )
    assert r.status_code == 413
    assert chunks == 0


async def test_anonymous_upload_is_401(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/media", files={"file": ("a.jpg", jpeg(), "image/jpeg")})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "auth.unauthorized"


async def test_staff_may_upload(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    worker = await make_staff(session, "grid_worker", tree.grid)
    r = await upload(client, settings, worker, jpeg())
    assert r.status_code == 201


@pytest.mark.parametrize(
    ("files", "code"),
    [
        pytest.param(
            {"photo": ("a.jpg", b"x", "image/jpeg")}, "media.file_missing", id="wrong-field"
        ),
        pytest.param({"file": (None, b"not a file part")}, "media.file_missing", id="plain-field"),
    ],
)
async def test_malformed_upload_requests(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    files: dict[str, tuple[str | None, bytes] | tuple[str, bytes, str]],
    code: str,
) -> None:
    user = await make_user(session)
    r = await client.post("/api/v1/media", files=files, headers=auth(settings, user))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == code


async def test_not_multipart_is_422(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    r = await client.post(
        "/api/v1/media",
        content=jpeg(),
        headers={**auth(settings, user), "Content-Type": "image/jpeg"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "media.bad_upload"


async def test_two_files_are_refused(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    r = await client.post(
        "/api/v1/media",
        files=[
            ("file", ("a.jpg", jpeg(), "image/jpeg")),
            ("file", ("b.jpg", jpeg(), "image/jpeg")),
        ],
        headers=auth(settings, user),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "media.bad_upload"


async def test_idempotency_key(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    key = {"Idempotency-Key": "upload-1"}
    first = await upload(client, settings, user, jpeg((50, 50)), headers=key)
    again = await upload(client, settings, user, jpeg((50, 50)), headers=key)
    reused = await upload(client, settings, user, jpeg((51, 50)), headers=key)

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("idempotency-replayed") == "true"
    assert (await fetch(client, again.json()["url"])).status_code == 200
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency.key_reused"


async def test_idempotent_replay_issues_fresh_urls(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    key = {"Idempotency-Key": "upload-late-retry"}
    with clock.frozen(datetime(2026, 11, 22, 8, 0, tzinfo=UTC)):
        first = await upload(client, settings, user, jpeg((40, 40)), headers=key)
        clock.advance(timedelta(hours=3))
        again = await upload(client, settings, user, jpeg((40, 40)), headers=key)
        assert again.headers.get("idempotency-replayed") == "true"
        assert again.json()["id"] == first.json()["id"]
        assert (await fetch(client, first.json()["url"])).status_code == 403
        assert (await fetch(client, again.json()["url"])).status_code == 200


async def test_idempotency_key_remembers_a_refusal(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    user = await make_user(session)
    key = {"Idempotency-Key": "upload-bad"}
    first = await upload(client, settings, user, b"not an image", headers=key)
    again = await upload(client, settings, user, b"not an image", headers=key)
    assert first.status_code == again.status_code == 422
    assert again.json() == first.json()
    assert again.headers.get("idempotency-replayed") == "true"


async def test_uploads_are_rate_limited_per_person(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"rate_limit_uploads": "2/minute"})
    user, other = await make_user(session), await make_user(session)
    for n in range(2):
        r = await upload(client, settings, user, jpeg((40 + n, 30)))
        assert r.status_code == 201, r.text
    r = await upload(client, settings, user, jpeg((50, 30)))
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "media.rate_limited"
    assert int(r.headers["retry-after"]) >= 1
    # Someone else is not held back by it.
    r = await upload(client, settings, other, jpeg((60, 30)))
    assert r.status_code == 201, r.text
