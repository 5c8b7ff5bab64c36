"""The page helpers every list uses: rows read with ``limit + 1``."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.core.errors import Invalid
from app.core.pagination import cursor_id, id_page, split_page


def test_split_page_says_whether_more_follow() -> None:
    assert split_page([1, 2, 3], 2) == ([1, 2], True)
    assert split_page([1, 2], 2) == ([1, 2], False)
    assert split_page([], 2) == ([], False)


def test_id_page_cursor_names_the_last_id_shown() -> None:
    rows = [SimpleNamespace(id=i) for i in (9, 7, 4)]
    page = id_page(rows, 2, lambda r: r.id * 10)
    assert page.items == [90, 70]
    assert cursor_id(page.next_cursor) == 7
    last = id_page(rows[:2], 2, lambda r: r.id)
    assert last.items == [9, 7] and last.next_cursor is None
    assert id_page([], 2, lambda r: r).model_dump() == {"items": [], "next_cursor": None}
    pairs = [(SimpleNamespace(id=5), "a"), (SimpleNamespace(id=3), "b")]
    by_first = id_page(pairs, 1, lambda p: p[1], last_id=lambda p: p[0].id)
    assert by_first.items == ["a"] and cursor_id(by_first.next_cursor) == 5


def test_a_cursor_that_is_not_ours_is_refused() -> None:
    with pytest.raises(Invalid):
        cursor_id("not-a-cursor")
