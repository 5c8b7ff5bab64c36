"""Phone and identity card numbers inside free text (``mask_numbers_in_text``), as a follower or a
third party reads a resident's description."""

from __future__ import annotations

import pytest

from app.core.masking import mask_numbers_in_text

CASES = [
    ("井盖丢失，有事请联系我王五 13987654321", "井盖丢失，有事请联系我王五 139****4321"),
    ("电话139 8765 4321。", "电话139****4321。"),
    ("+86 139-8765-4321", "+86 139****4321"),
    ("8613987654321", "86139****4321"),
    ("１３９８７６５４３２１", "１３９****４３２１"),  # full-width digits
    ("13987654321和13812345678", "139****4321和138****5678"),
    ("座机0391-2345678", "座机0391-*****78"),
    ("（0391）2345678", "（0391）*****78"),
    ("010 12345678", "010 ******78"),
    # Not phone numbers: left as written.
    ("12345678901", "12345678901"),  # no mainland mobile starts 12
    # Identity card numbers: the first six and the last four shown.
    ("身份证410882199001011234", "身份证410882********1234"),
    (
        "身份证号 41088220051231123X，电话13987654321",
        "身份证号 410882********123X，电话139****4321",
    ),
    ("订单号 139876543210", "订单号 139876543210"),
    ("3号楼2单元301，2026年5月1日", "3号楼2单元301，2026年5月1日"),
    ("0391-23456", "0391-23456"),
    ("410882199013011234", "410882199013011234"),  # no 13th month: not an ID number
    ("4108821990010112345", "4108821990010112345"),  # 19 digits: something else
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_mask_numbers_in_text(text: str, expected: str) -> None:
    assert mask_numbers_in_text(text) == expected
