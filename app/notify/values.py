"""WeChat's value rules for subscribe-message fields, by the field's type (its
key without the number: ``thing1`` is a ``thing``).

- ``thing`` ≤ 20 characters, ``phrase`` ≤ 5 (Chinese only in practice),
  ``name`` ≤ 10, ``character_string``/``letter``/``number`` ≤ 32 with no
  Chinese, ``symbol`` ≤ 5, ``car_number`` ≤ 8, ``phone_number`` ≤ 17,
  ``amount`` ≤ 11;
- ``time`` as ``2026-11-02 10:30``, ``date`` as ``2026-11-02`` (Asia/Shanghai);
- no newline anywhere, and never empty (WeChat refuses both with 47003).

Longer text is cut, with an ellipsis where the field is long enough to
carry one; a value left empty becomes a dash.
"""

from __future__ import annotations

import re
from datetime import datetime

from app.core import clock

LIMITS = {
    "thing": 20,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "letter": 32,
    "number": 32,
    "symbol": 5,
    "car_number": 8,
    "phone_number": 17,
    "amount": 11,
}
ASCII_ONLY = frozenset({"character_string", "letter", "number", "symbol", "phone_number", "amount"})
ELLIPSIS = "…"
EMPTY = "-"
_SPACE = re.compile(r"\s+")


def field_type(key: str) -> str:
    """``thing12`` → ``thing``."""
    return key.rstrip("0123456789")


def fit(key: str, value: str | datetime | int | None) -> str:
    """``value`` made acceptable for the template field named ``key``."""
    kind = field_type(key)
    if isinstance(value, datetime):
        local = clock.to_shanghai(value)
        return f"{local:%Y-%m-%d}" if kind == "date" else f"{local:%Y-%m-%d %H:%M}"
    text = _SPACE.sub(" ", "" if value is None else str(value)).strip()
    if kind in ASCII_ONLY:
        text = _SPACE.sub(" ", "".join(c if c.isascii() else " " for c in text)).strip()
    if kind in ("time", "date"):
        return text or EMPTY
    limit = LIMITS.get(kind, 20)
    if len(text) > limit:
        text = (
            text[: limit - 1].rstrip() + ELLIPSIS
            if limit >= 10 and kind not in ASCII_ONLY
            else text[:limit].rstrip()
        )
    return text or EMPTY
