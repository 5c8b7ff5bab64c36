"""Checking and re-encoding uploaded photos: pure and CPU-bound, so callers run
``process`` in a worker thread.

Rules (DESIGN §11):
- the type comes from the bytes: a magic number first, then Pillow restricted
  to that one format must agree; the file name and Content-Type are ignored;
- only JPEG, PNG and WebP reach Pillow; any other bytes are refused on their
  signature, so Pillow's many other decoders never see untrusted input;
- the pixel cap is checked on the header's dimensions, before any decoding;
- the whole image is decoded (``load()``), so a truncated file is an error;
- what is stored is a new encoding of the pixels only: orientation applied,
  colours converted to sRGB, no EXIF (GPS included), XMP, ICC profile or
  comments, long side at most 2048 px, plus a thumbnail of at most 320 px.

Stored format: JPEG, or PNG when the image really has transparency. Every
client (WeChat ``<image>`` without its ``webp`` flag, old Android web views,
the console) shows both, JPEG keeps photos small, and WebP input is served the
same way. Data appended after the image (Motion Photo videos, scripts in a
polyglot) is dropped by the re-encoding.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from app.core.errors import AppError, Invalid

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 2048
THUMB_SIDE = 320
JPEG_QUALITY = 85
THUMB_QUALITY = 80

# Pillow's own bomb guard starts near 179 MP. Lowered to our cap it warns above
# 40 MP and refuses above 80 MP by itself: a second line behind the header check
# below, which covers the range in between.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class UnsupportedType(Invalid):
    code = "media.unsupported_type"
    message = "仅支持 JPG、PNG、WebP 格式的图片"


class NotAnImage(Invalid):
    code = "media.not_an_image"
    message = "上传的文件不是图片"


class CorruptImage(Invalid):
    code = "media.corrupt"
    message = "图片已损坏或不完整，请重新选择"


class TooManyPixels(Invalid):
    code = "media.too_many_pixels"
    message = "图片像素过多（上限 4000 万像素），请压缩后再上传"


class TooLarge(AppError):
    status_code = 413
    code = "media.too_large"
    message = "图片不能超过 10 MB"


@dataclass(frozen=True)
class Rendition:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


@dataclass(frozen=True)
class Processed:
    full: Rendition
    thumb: Rendition


# The three accepted kinds: the Pillow plugin allowed to open each, and the
# formats it may report (phone cameras write multi-picture JPEGs, "MPO").
_PIL_OPEN = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
_PIL_FORMATS = {"jpeg": {"JPEG", "MPO"}, "png": {"PNG"}, "webp": {"WEBP"}}

# Image formats recognised only to say "not supported" instead of "not an image".
_OTHER_IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x00\x00\x01\x00", "ico"),
    (b"8BPS", "psd"),
    (b"%PDF-", "pdf"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jpeg2000"),
    (b"\xff\x0a", "jpegxl"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jpegxl"),
)
_ISO_MEDIA_BRANDS = {
    b"heic",
    b"heix",
    b"hevc",
    b"heim",
    b"heis",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
}


def sniff(data: bytes) -> str:
    """``jpeg``, ``png`` or ``webp`` from the magic number; any other bytes are refused."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    other = _other_image_format(data)
    if other is not None:
        raise UnsupportedType(details={"detected": other})
    raise NotAnImage()


def _other_image_format(data: bytes) -> str | None:
    for signature, name in _OTHER_IMAGE_SIGNATURES:
        if data.startswith(signature):
            return name
    if data[4:8] == b"ftyp" and data[8:12] in _ISO_MEDIA_BRANDS:
        return "heif"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<") and b"<svg" in head:
        return "svg"
    return None


def process(data: bytes) -> Processed:
    """Check ``data`` and return the stored renditions; raises the errors above."""
    kind = sniff(data)
    img = _open(data, kind)
    width, height = img.size
    if width * height > MAX_PIXELS:
        raise TooManyPixels(details={"width": width, "height": height, "max_pixels": MAX_PIXELS})
    _decode(img, kind)
    img = _to_srgb(img)
    img = _normalise_mode(img)
    # A square box caps the long side whatever the orientation, so shrinking
    # before rotating gives the same result with far less memory and work.
    img.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    img = _upright(img)
    thumb = img.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    fmt = "PNG" if img.mode in ("RGBA", "LA") else "JPEG"
    return Processed(full=_encode(img, fmt, JPEG_QUALITY), thumb=_encode(thumb, fmt, THUMB_QUALITY))


def _open(data: bytes, kind: str) -> Image.Image:
    try:
        img = Image.open(io.BytesIO(data), formats=[_PIL_OPEN[kind]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Over 80 MP Pillow refuses by itself; the warning it gives between
        # 40 and 80 MP only arrives here when warnings are turned into errors.
        raise TooManyPixels(details={"max_pixels": MAX_PIXELS}) from exc
    except UnidentifiedImageError as exc:
        # The magic number says JPEG/PNG/WebP, but the header is not one:
        # a polyglot or a file merely disguised as an image.
        raise UnsupportedType(details={"detected": "unknown"}) from exc
    except Exception as exc:  # noqa: BLE001 - malformed headers raise anything
        raise CorruptImage() from exc
    if img.format not in _PIL_FORMATS[kind]:
        raise UnsupportedType(details={"detected": str(img.format).lower()})
    return img


def _decode(img: Image.Image, kind: str) -> None:
    """Decode every pixel (so truncation is caught), scaled down by the JPEG
    decoder itself when the image is much larger than what we keep."""
    if kind == "jpeg":
        width, height = img.size
        factor = max(width, height) / MAX_SIDE
        if factor > 1:
            img.draft(None, (max(1, int(width / factor)), max(1, int(height / factor))))
    try:
        img.load()
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(details={"max_pixels": MAX_PIXELS}) from exc
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken stream fails deep in a decoder
        raise CorruptImage() from exc


def _upright(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - broken EXIF from some cameras
        # A photo with unreadable EXIF is still a photo: keep it as stored.
        return img


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert colours from an embedded ICC profile (Display P3 on iPhones, CMYK)
    to sRGB, so the profile itself need not be kept."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ("RGB", "RGBA", "CMYK"):
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        converted = ImageCms.profileToProfile(
            img, source, _SRGB, outputMode="RGBA" if img.mode == "RGBA" else "RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img  # an unusable profile is dropped: colours as encoded
    if converted is None:
        return img
    converted.info = dict(img.info)  # keep EXIF for the orientation
    return converted


def _normalise_mode(img: Image.Image) -> Image.Image:
    """RGB or L when opaque, RGBA or LA with transparency: palette, bilevel and
    16-bit images are expanded so that resizing filters them properly."""
    info = dict(img.info)
    transparent = img.mode in ("RGBA", "LA", "PA") or "transparency" in info
    if img.mode.startswith("I"):
        # 16-bit grey PNGs: scale to 8 bits (a plain convert would clip to white).
        img = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    grey = img.mode in ("1", "L", "LA")
    target = ("LA" if transparent else "L") if grey else ("RGBA" if transparent else "RGB")
    out = img if img.mode == target else img.convert(target)
    if transparent and out.getchannel("A").getextrema() == (255, 255):
        # An alpha channel that is opaque everywhere (common in screenshots).
        out = out.convert("L" if grey else "RGB")
    out.info = info
    return out


def _encode(img: Image.Image, fmt: str, quality: int) -> Rendition:
    # Nothing but pixels is written: no EXIF, XMP, ICC profile, DPI or comments.
    img.info = {}
    buf = io.BytesIO()
    options: dict[str, Any] = (
        {"quality": quality, "optimize": True, "progressive": True} if fmt == "JPEG" else {}
    )
    img.save(buf, fmt, **options)
    extension, content_type = ("jpg", "image/jpeg") if fmt == "JPEG" else ("png", "image/png")
    return Rendition(buf.getvalue(), content_type, extension, img.width, img.height)
