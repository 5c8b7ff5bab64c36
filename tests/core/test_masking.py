"""Numbers in free text that are not phone numbers stay as written, real
landline and mobile forms are masked, and no input makes the patterns slow."""

from __future__ import annotations

import pytest

from app.core.masking import mask_numbers_in_text

LEFT_AS_WRITTEN = [
    # Order, case and reference numbers that start with 0.
    "订单号 012345678901",
    "案件编号0123456789",
    "单号 0100123456789",
    "工单 0211234567890",
    # No area code has this shape: 01x other than 010, 02x with 4 digits.
    "编号 01112345678",
    "编号 0201234567",
    # A 3-digit area code has an 8-digit local number; a 4-digit one 7 or 8.
    "0391234567",
    "010-1234567",
    "0391-123456",
    "0391-123456789",
    # A local number never starts with 0.
    "0391-0234567",
    # Dates, times and amounts.
    "20261122",
    "2026-11-22 09:30",
    "20261122093015",
    "金额 0.5 元，共 120000 元",
    # Inside a longer run of digits.
    "6222021398765432100",
    "00391234567890",
]


@pytest.mark.parametrize("text", LEFT_AS_WRITTEN)
def test_numbers_that_are_not_phone_numbers_are_left_as_written(text: str) -> None:
    assert mask_numbers_in_text(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0391-2345678", "0391-*****78"),
        ("03912345678", "0391*****78"),
        ("0391 23456789", "0391 ******89"),
        ("(0391)2345678", "(0391)*****78"),
        ("（0391） 2345678", "（0391） *****78"),
        ("0755-86001234", "0755-******34"),
        ("075586001234", "0755******34"),
        ("010-62345678", "010-******78"),
        ("02162345678", "021******78"),
        ("０３９１－２３４５６７８", "０３９１－*****７８"),  # full-width digits
        ("电话：0391-2345678转801", "电话：0391-*****78转801"),
        # A mobile dialled with the long-distance 0 in front.
        ("013987654321", "0139****4321"),
        # A list item number or a sentence end right next to a number.
        ("1.13987654321 2.0391-2345678", "1.139****4321 2.0391-*****78"),
        ("电话0391-2345678.", "电话0391-*****78."),
        ("电话13987654321.", "电话139****4321."),
    ],
)
def test_landline_and_mobile_forms_are_masked(text: str, expected: str) -> None:
    assert mask_numbers_in_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0" * 100_000,
        "1" * 100_000,
        "0391" * 25_000,
        "0391-" * 20_000,
        "(0" * 50_000,
        "139 " * 25_000,
        "+86 1" * 20_000,
        "19900101" * 12_500,
        "0." * 50_000,
    ],
)
def test_long_inputs_are_not_pathological(text: str) -> None:
    """Every pattern is bounded, so the work grows with the length of the
    text (these would take minutes with nested quantifiers)."""
    masked = mask_numbers_in_text(text)
    assert len(masked) == len(text)
