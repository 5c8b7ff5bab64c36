"""Signed, expiring media URLs.

The mini-program's ``<image>`` cannot send an Authorization header, so the URL
itself is the authorisation: an HMAC-SHA256 (key ``EJIAREN_MEDIA_URL_SECRET``)
of the media id, the variant and the expiry time. Access is checked when a URL
is issued; the file route only checks the signature and the expiry.

Expiry is rounded up to a 10-minute boundary, so every URL issued for one
media within those 10 minutes is the same string and clients can cache the
image by its URL. A URL lives between ``URL_TTL`` and ``URL_TTL`` + 10 minutes.

URLs are relative (``/api/v1/media/…``): the service may sit behind any host
name or proxy, and clients prefix the host they already call.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import urlencode

from app.core.errors import Forbidden
from app.core.settings import Settings

Variant = Literal["full", "thumb"]

URL_TTL = timedelta(hours=1)
_ROUND_SECONDS = 600
# Where the file route is mounted (app.main puts every router under /api/v1).
FILE_PATH = "/api/v1/media/{media_id}/file"


class BadSignature(Forbidden):
    code = "media.bad_signature"
    message = "图片链接无效"


class UrlExpired(Forbidden):
    code = "media.url_expired"
    message = "图片链接已过期，请刷新页面"


def expiry(now: datetime) -> int:
    """Unix time at which URLs issued at ``now`` stop working."""
    exp = int((now + URL_TTL).timestamp())
    return -(-exp // _ROUND_SECONDS) * _ROUND_SECONDS


def signature(settings: Settings, media_id: int, variant: str, exp: int) -> str:
    # A fixed label keeps these MACs apart from anything else the secret might sign.
    message = f"ejiaren-media-url-v1\n{media_id}\n{variant}\n{exp}".encode()
    key = settings.media_url_secret.get_secret_value().encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_url(settings: Settings, media_id: int, variant: Variant, exp: int) -> str:
    query = urlencode(
        {"v": variant, "exp": exp, "sig": signature(settings, media_id, variant, exp)}
    )
    return f"{FILE_PATH.format(media_id=media_id)}?{query}"


def verify(
    settings: Settings,
    *,
    media_id: int,
    variant: str,
    exp: int | None,
    sig: str | None,
    now: datetime,
) -> int:
    """Refuse a URL that was not issued by us, or that has expired; returns the
    seconds it is still valid for."""
    if exp is None or not sig:
        raise BadSignature()
    expected = signature(settings, media_id, variant, exp)
    if not hmac.compare_digest(expected.encode(), sig.lower().encode()):
        raise BadSignature()
    remaining = exp - int(now.astimezone(UTC).timestamp())
    if remaining <= 0:
        raise UrlExpired()
    return remaining
