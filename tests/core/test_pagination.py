"""The page helpers every list uses: rows read with ``limit + 1``."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import httpx
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


def _raw(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "value",
    [
        '{"id": true}',  # an int to Python, not an id
        '{"id": false}',
        '{"id": 0}',
        '{"id": -5}',
        '{"id": 9223372036854775808}',
        '{"id": 1.5}',
        '{"id": "7"}',
        "[" * 5000 + "]" * 5000,
    ],
)
def test_a_tampered_cursor_is_refused(value: str) -> None:
    with pytest.raises(Invalid) as caught:
        cursor_id(_raw(value))
    assert caught.value.code == "pagination.bad_cursor"


def test_an_overlong_cursor_is_refused_before_decoding() -> None:
    with pytest.raises(Invalid):
        cursor_id(_raw('{"id": 7, "pad": "' + "x" * 2000 + '"}'))
    assert cursor_id(_raw('{"id": 9223372036854775807}')) == 9223372036854775807


async def test_a_tampered_cursor_is_422_on_a_list(client: httpx.AsyncClient) -> None:
    # Before: a boolean id reached the query builder, and every id-paged list was a 500.
    r = await client.get("/api/v1/services", params={"cursor": _raw('{"id": true}')})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "pagination.bad_cursor"
