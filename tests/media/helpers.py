"""Images built in memory for the media tests, and small API helpers."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from typing import Any

import httpx
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.reports.models import Category, Report, ReportMedia
from app.users.models import User
from tests.factories import auth

_seq = itertools.count(1)

RED = (220, 20, 20)
BLUE = (20, 20, 220)

GPS_IFD = 0x8825
ORIENTATION = 0x0112


def exif_with_gps(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    if orientation is not None:
        exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {
        1: "N",
        2: (35.0, 5.0, 30.0),
        3: "E",
        4: (112.0, 57.0, 1.0),
    }
    return exif


def halves(size: tuple[int, int] = (400, 200), mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: shows where the image was turned."""
    img = Image.new(mode, size, RED if mode == "RGB" else (*RED, 255))
    w, h = size
    img.paste(BLUE if mode == "RGB" else (*BLUE, 255), (w // 2, 0, w, h))
    return img


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg(size: tuple[int, int] = (400, 200), **options: Any) -> bytes:
    return encode(halves(size), "JPEG", quality=90, **options)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def bilevel_png(width: int, height: int) -> bytes:
    """A real, valid 1-bit black PNG: a few KB for tens of megapixels."""
    row = b"\x00" * (1 + (width + 7) // 8)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row * 500) for _ in range(height // 500))
    idat += packer.compress(row * (height % 500)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` but whose pixel data is
    garbage: decoding it fails, so only a check on the header can refuse it
    for its size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", b"not zlib at all")
        + png_chunk(b"IEND", b"")
    )


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF) is patched to claim another size."""
    data = bytearray(jpeg((16, 16)))
    sof = data.index(b"\xff\xc0")
    # SOF layout: marker(2) length(2) precision(1) height(2) width(2)
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


async def upload(
    client: httpx.AsyncClient,
    settings: Settings,
    user: User,
    data: bytes,
    *,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        "/api/v1/media",
        files={"file": (filename, data, content_type)},
        headers={**auth(settings, user), **(headers or {})},
    )


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """What the mini-program's ``<image>`` does: a plain GET, no credentials."""
    return await client.get(url)


def opened(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


async def make_report(
    session: AsyncSession,
    *,
    reporter: User,
    region_path: str,
    assignee: User | None = None,
    department_id: int | None = None,
    media_ids: tuple[int, ...] = (),
) -> Report:
    category = Category(code=f"media_test_{next(_seq)}", name="测试类别")
    session.add(category)
    await session.flush()
    report = Report(
        kind="issue",
        category_id=category.id,
        reporter_id=reporter.id,
        description="楼道灯坏了",
        region_path=region_path,
        assignee_id=assignee.id if assignee else None,
        owner_department_id=department_id,
        status="dispatched",
    )
    session.add(report)
    await session.flush()
    for position, media_id in enumerate(media_ids):
        session.add(ReportMedia(report_id=report.id, media_id=media_id, position=position))
    await session.flush()
    return report
