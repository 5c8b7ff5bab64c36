"""A rate limit as settings write it (``"20/minute"``): parsed when the settings
are read, so a malformed one stops the service at start, not every request
that meets it (``core.ratelimit`` applies them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)?\s*(second|minute|hour|day)s?\s*$")


@dataclass(frozen=True)
class Rate:
    limit: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"20/minute"``, ``"5/10 seconds"``, ``"1000/day"``."""
        m = _RATE.match(text)
        if not m:
            raise ValueError(f"无效的限流设置：{text!r}（应如 20/minute）")
        count = int(m.group(2) or 1)
        return cls(limit=int(m.group(1)), window_seconds=count * _UNITS[m.group(3)])
