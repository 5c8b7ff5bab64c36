"""Ids in paths: plain decimal digits, within a 64-bit key.

pydantic reads ``" 1"``, ``"+1"`` and ``"1_0"`` (ten) as whole numbers, so
``/admin/staff/1%0A`` reached staff 1 and ``/reports/1_0`` case 10. An id in a
path is written as digits and nothing else: anything else is a 422, like
``abc``. Every path id is declared with ``PLAIN_DIGITS`` and the bounds of
``id_path``.
"""

from __future__ import annotations

from typing import Any

from fastapi import Path
from pydantic import BeforeValidator

from app.core.errors import INT64_MAX

ID_MESSAGE = "应为正整数（只含数字）"


def _plain_digits(value: Any) -> Any:
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise ValueError(ID_MESSAGE)
    return value


PLAIN_DIGITS = BeforeValidator(_plain_digits)


def id_path(description: str, **extra: Any) -> Any:
    """The ``Path`` of an id: at least 1, at most 2^63-1 (a larger one is a 422
    here, not a driver error)."""
    return Path(ge=1, le=INT64_MAX, description=description, **extra)
