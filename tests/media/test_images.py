"""The image rules on their own: what is accepted, and what is stored."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image, ImageCms

from app.media import images
from app.media.images import (
    CorruptImage,
    NotAnImage,
    TooManyPixels,
    UnsupportedType,
    process,
)
from tests.media.helpers import (
    BLUE,
    GPS_IFD,
    RED,
    bilevel_png,
    encode,
    exif_with_gps,
    halves,
    jpeg,
    jpeg_claiming,
    opened,
    png_header_only,
)

SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
ZIP = b"PK\x03\x04" + b"\x00" * 60


def close(color: tuple[int, ...], expected: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(color[:3], expected, strict=True))


def gif() -> bytes:
    return encode(Image.new("P", (8, 8)), "GIF")


@pytest.mark.parametrize(
    ("data", "error", "detected"),
    [
        pytest.param(gif(), UnsupportedType, "gif", id="gif"),
        pytest.param(SVG, UnsupportedType, "svg", id="svg"),
        pytest.param(b"  <svg width='1'/>", UnsupportedType, "svg", id="bare-svg"),
        pytest.param(b"%PDF-1.7\n%...", UnsupportedType, "pdf", id="pdf"),
        pytest.param(encode(Image.new("RGB", (4, 4)), "BMP"), UnsupportedType, "bmp", id="bmp"),
        pytest.param(encode(Image.new("RGB", (4, 4)), "TIFF"), UnsupportedType, "tiff", id="tiff"),
        pytest.param(
            b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32, UnsupportedType, "heif", id="heic"
        ),
        pytest.param(b"", NotAnImage, None, id="empty"),
        pytest.param("楼道灯坏了，请尽快处理".encode(), NotAnImage, None, id="text"),
        pytest.param(b"<html><body>hi</body></html>", NotAnImage, None, id="html"),
        pytest.param(ZIP, NotAnImage, None, id="zip"),
        # Polyglots: the magic number of an accepted type, then something else.
        pytest.param(
            b"\xff\xd8\xff" + b"<html><script>alert(1)</script></html>",
            UnsupportedType,
            "unknown",
            id="jpeg-magic-then-html",
        ),
        pytest.param(
            b"\x89PNG\r\n\x1a\n" + ZIP, UnsupportedType, "unknown", id="png-magic-then-zip"
        ),
    ],
)
def test_refused_types(data: bytes, error: type[Exception], detected: str | None) -> None:
    with pytest.raises(error) as info:
        process(data)
    if detected is not None:
        assert info.value.details == {"detected": detected}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(jpeg((800, 600))[:-2000], id="jpeg-cut"),
        pytest.param(encode(halves((300, 300)), "PNG")[:-300], id="png-cut"),
        pytest.param(encode(halves((300, 300)), "WEBP", quality=90)[:-200], id="webp-cut"),
        pytest.param(png_header_only(100, 100), id="png-garbage-pixels"),
        pytest.param(b"RIFF\x20\x00\x00\x00WEBPVP8 junk", id="webp-container-junk"),
    ],
)
def test_truncated_or_broken_pixels_are_corrupt(data: bytes) -> None:
    with pytest.raises(CorruptImage):
        process(data)


def test_truncated_big_jpeg_is_corrupt_even_when_decoded_scaled_down() -> None:
    # Large JPEGs are decoded at a reduced scale; the whole stream is still read.
    data = jpeg((5000, 2600))
    with pytest.raises(CorruptImage):
        process(data[: len(data) * 3 // 4])


def test_pillow_guard_is_set_to_our_cap() -> None:
    assert Image.MAX_IMAGE_PIXELS == images.MAX_PIXELS == 40_000_000


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "data",
    [
        # Garbage pixel data: decoding would say "corrupt", so only the header
        # check can answer "too many pixels".
        pytest.param(png_header_only(7000, 7000), id="png-header-49mp"),
        pytest.param(jpeg_claiming(8000, 6000), id="jpeg-header-48mp"),
        pytest.param(jpeg_claiming(65000, 65000), id="jpeg-header-4gp"),
        # Real, valid bombs: a few KB of PNG that decode to 49 MP and 400 MP.
        pytest.param(bilevel_png(7000, 7000), id="png-bomb-49mp"),
        pytest.param(bilevel_png(20000, 20000), id="png-bomb-400mp"),
    ],
)
def test_too_many_pixels_refused_on_the_header(data: bytes) -> None:
    assert len(data) < 100_000
    with pytest.raises(TooManyPixels):
        process(data)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_pixel_cap_boundary() -> None:
    ok = process(bilevel_png(8000, 5000))  # exactly 40 MP
    assert (ok.full.width, ok.full.height) == (2048, 1280)
    with pytest.raises(TooManyPixels) as info:
        process(bilevel_png(8001, 5000))
    assert info.value.details["width"] == 8001


def test_jpeg_exif_and_gps_removed_and_orientation_applied() -> None:
    # Stored sideways (400x200, red left) with "rotate 90° clockwise" in EXIF.
    source = encode(halves((400, 200)), "JPEG", quality=90, exif=exif_with_gps(orientation=6))
    assert opened(source).getexif().get_ifd(GPS_IFD)  # the input really has GPS

    out = process(source)

    for rendition in (out.full, out.thumb):
        img = opened(rendition.data)
        assert img.format == "JPEG"
        assert rendition.content_type == "image/jpeg"
        assert not img.getexif()
        assert b"Exif\x00\x00" not in rendition.data
        assert b"TestCam" not in rendition.data
        assert "icc_profile" not in img.info and "xmp" not in img.info
    full = opened(out.full.data)
    assert full.size == (200, 400) == (out.full.width, out.full.height)
    # Turned clockwise: the left (red) half is now on top.
    assert close(full.getpixel((100, 50)), RED)
    assert close(full.getpixel((100, 350)), BLUE)


def test_png_exif_removed() -> None:
    source = encode(halves((64, 64), "RGBA"), "PNG", exif=exif_with_gps())
    assert opened(source).getexif().get_ifd(GPS_IFD)
    out = process(source)
    assert b"eXIf" not in out.full.data and b"TestCam" not in out.full.data


def test_icc_profile_is_converted_and_dropped() -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(halves((64, 64)), "JPEG", quality=95, icc_profile=icc)
    assert opened(source).info.get("icc_profile")
    out = process(source)
    img = opened(out.full.data)
    assert "icc_profile" not in img.info
    assert close(img.getpixel((5, 5)), RED)


def test_png_icc_profile_is_not_carried_over() -> None:
    # The PNG encoder copies a profile it finds on the image: it must find none.
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    source = encode(Image.new("RGBA", (32, 32), (*RED, 100)), "PNG", icc_profile=icc)
    assert opened(source).info.get("icc_profile")
    out = process(source)
    assert out.full.content_type == "image/png"
    assert b"iCCP" not in out.full.data and b"iCCP" not in out.thumb.data
    assert "icc_profile" not in opened(out.full.data).info


@pytest.mark.parametrize(
    ("size", "full", "thumb"),
    [
        ((5000, 1000), (2048, 410), (320, 64)),
        ((1000, 5000), (410, 2048), (64, 320)),
        ((2048, 100), (2048, 100), (320, 16)),
        ((300, 200), (300, 200), (300, 200)),
    ],
)
def test_downscaled_to_2048_and_thumbnail_to_320(
    size: tuple[int, int], full: tuple[int, int], thumb: tuple[int, int]
) -> None:
    out = process(jpeg(size))
    assert opened(out.full.data).size == full == (out.full.width, out.full.height)
    assert opened(out.thumb.data).size == thumb


def test_large_jpeg_keeps_its_colours_after_scaled_decoding() -> None:
    out = process(jpeg((6000, 3000)))
    img = opened(out.full.data)
    assert img.size == (2048, 1024)
    assert close(img.getpixel((10, 500)), RED)
    assert close(img.getpixel((2040, 500)), BLUE)


@pytest.mark.parametrize(
    ("img", "fmt", "stored"),
    [
        pytest.param(halves((50, 40)), "PNG", "image/jpeg", id="opaque-png"),
        pytest.param(halves((50, 40), "RGBA"), "PNG", "image/jpeg", id="png-alpha-all-opaque"),
        pytest.param(Image.new("RGBA", (50, 40), (0, 0, 0, 0)), "PNG", "image/png", id="png-alpha"),
        pytest.param(Image.new("LA", (50, 40), (9, 100)), "PNG", "image/png", id="grey-alpha"),
        pytest.param(Image.new("P", (50, 40), 3), "PNG", "image/jpeg", id="palette"),
        pytest.param(Image.new("I;16", (50, 40), 40000), "PNG", "image/jpeg", id="16-bit"),
        pytest.param(halves((50, 40)), "WEBP", "image/jpeg", id="webp"),
        pytest.param(
            Image.new("RGBA", (50, 40), (1, 2, 3, 128)), "WEBP", "image/png", id="webp-alpha"
        ),
        pytest.param(
            Image.new("CMYK", (50, 40), (0, 255, 255, 0)), "JPEG", "image/jpeg", id="cmyk"
        ),
        pytest.param(Image.new("L", (50, 40), 77), "JPEG", "image/jpeg", id="grey-jpeg"),
    ],
)
def test_stored_format(img: Image.Image, fmt: str, stored: str) -> None:
    out = process(encode(img, fmt))
    assert out.full.content_type == out.thumb.content_type == stored
    decoded = opened(out.full.data)
    assert decoded.format == {"image/jpeg": "JPEG", "image/png": "PNG"}[stored]
    assert decoded.size == (50, 40)


def test_16_bit_grey_is_scaled_not_clipped() -> None:
    out = process(encode(Image.new("I;16", (8, 8), 0x4000), "PNG"))
    assert abs(opened(out.full.data).convert("L").getpixel((2, 2)) - 0x40) <= 2


def test_transparency_is_kept() -> None:
    img = halves((40, 40), "RGBA")
    img.putpixel((0, 0), (0, 0, 0, 0))
    out = process(encode(img, "PNG"))
    assert opened(out.full.data).getpixel((0, 0))[3] == 0


def test_multi_picture_jpeg_from_a_phone_is_accepted() -> None:
    source = encode(halves((64, 48)), "MPO", save_all=True, append_images=[halves((64, 48))])
    assert Image.open(io.BytesIO(source)).format == "MPO"
    out = process(source)
    assert opened(out.full.data).size == (64, 48)


def test_data_appended_after_the_image_is_not_stored() -> None:
    # Accepted (phones append videos to photos), but only the pixels are kept.
    source = encode(halves((64, 48)), "PNG") + b"<script>alert(1)</script>"
    out = process(source)
    assert b"<script" not in out.full.data and b"<script" not in out.thumb.data


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"Exif\x00\x00MM\x00*\x00\x00\x00\x08" + b"\xff" * 40, id="bad-ifd"),
        pytest.param(b"Exif\x00\x00garbage", id="no-tiff-header"),
    ],
)
def test_broken_exif_does_not_refuse_the_photo(payload: bytes) -> None:
    data = jpeg((40, 30))
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    out = process(data[:2] + app1 + data[2:])
    assert (out.full.width, out.full.height) == (40, 30)
    assert b"garbage" not in out.full.data
