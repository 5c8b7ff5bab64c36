"""Cursor pagination: ``{"items": [...], "next_cursor": "..." | null}``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from app.core.errors import INT64_MAX, Invalid

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(description="本页条目")
    next_cursor: str | None = Field(None, description="下一页游标；为 null 表示没有更多")


def split_page(rows: Sequence[R], limit: int) -> tuple[list[R], bool]:
    """Rows read with ``limit + 1``: the page's rows, and whether more follow."""
    return list(rows[:limit]), len(rows) > limit


def _row_id(row: Any) -> int:
    return int(row.id)


def id_page(
    rows: Sequence[R],
    limit: int,
    item: Callable[[R], T],
    *,
    last_id: Callable[[R], int] = _row_id,
) -> Page[T]:
    """A page of a list ordered by id, newest first, from rows read with
    ``limit + 1``; the cursor names the last id shown (read with ``cursor_id``)."""
    page, more = split_page(rows, limit)
    return Page(
        items=[item(r) for r in page],
        next_cursor=encode_cursor({"id": last_id(page[-1])}) if more else None,
    )


# Our cursors are a few dozen characters.
MAX_CURSOR = 512


def encode_cursor(values: dict[str, Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR:
        raise Invalid("pagination.bad_cursor", "分页游标无效，请从第一页重新加载")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Invalid("pagination.bad_cursor", "分页游标无效，请从第一页重新加载") from exc
    if not isinstance(value, dict):
        raise Invalid("pagination.bad_cursor", "分页游标无效，请从第一页重新加载")
    return value


def cursor_id(cursor: str | None) -> int | None:
    """The last id of the previous page, for lists ordered by id."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    last = value.get("id")
    # ``True`` is an int to Python, not an id.
    if type(last) is not int or not 0 < last <= INT64_MAX:
        raise Invalid("pagination.bad_cursor", "分页游标无效，请从第一页重新加载")
    return last


Limit = Annotated[int, Query(ge=1, le=100, description="每页条数，默认 20，最大 100")]
Cursor = Annotated[str | None, Query(description="上一页返回的 next_cursor")]
