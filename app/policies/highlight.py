"""Snippets and highlighting of matched words in the original text.

Markup: the result is plain text with ``&``, ``<``, ``>``, ``"`` and ``'``
escaped as HTML entities, and every matched word wrapped in ``<em>…</em>``;
no other tag ever appears. A front end can hand it to ``<rich-text>`` as is,
or split it on the two tags. A snippet cut from the middle of the text starts
or ends with ``…``.

Matches are found in the original text by patterns that accept every form
of each character (``text.mark_pattern``: 医 or 醫, a or A or Ａ), so a query
in traditional characters or full-width letters marks the words as the
document wrote them, without folding a whole body for every result. Every
member of a synonym group is marked (a search for 医保 marks 医疗保险).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

from app.policies.text import fold, mark_pattern

SNIPPET_CHARS = 80
# A snippet starts a little before its first match, so the match has context.
LEAD_CHARS = 12
# Bodies are scanned this far for the best window: a long body's snippet comes
# from its beginning, and a request never pays for reading a whole book.
SCAN_CHARS = 20_000
# Candidate windows start at the first this many matches; enough for any real
# document and a bound on the work for a body that repeats a word endlessly.
MAX_SPANS = 300
ELLIPSIS = "…"
OPEN, CLOSE = "<em>", "</em>"


@lru_cache(maxsize=512)
def _pattern(marks: tuple[str, ...]) -> re.Pattern[str] | None:
    if not marks:
        return None
    # Longest first (``marks`` is sorted so), so 医疗保险 wins over 医疗 at one place.
    return re.compile("|".join(mark_pattern(m) for m in marks))


def _matches(text: str, marks: tuple[str, ...]) -> list[tuple[int, int]]:
    pattern = _pattern(marks)
    if pattern is None:
        return []
    return [m.span() for m in pattern.finditer(text)]


def _render(text: str, spans: list[tuple[int, int]], start: int, end: int) -> str:
    out = []
    pos = start
    for a, b in spans:
        if a < start or b > end:
            continue
        out.append(html.escape(text[pos:a]))
        out.append(OPEN + html.escape(text[a:b]) + CLOSE)
        pos = b
    out.append(html.escape(text[pos:end]))
    return "".join(out)


def highlight(text: str, marks: tuple[str, ...]) -> str:
    """The whole text, escaped, with every match marked (titles)."""
    return _render(text, _matches(text, marks), 0, len(text))


def snippet(text: str, marks: tuple[str, ...], width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of ``text`` around the densest matches: the
    window holding the most distinct matched words, then the most matches,
    then the earliest. Without a match, the beginning of the text."""
    spans = _matches(text[:SCAN_CHARS], marks)[:MAX_SPANS]
    if not spans:
        return _cut(text, 0, width, [])
    words = [fold(text[x:y]) for x, y in spans]
    best: tuple[int, int, int] | None = None  # (-distinct, -count, start)
    for a, _ in spans:
        start = max(0, a - LEAD_CHARS)
        inside = [i for i, (x, y) in enumerate(spans) if x >= start and y <= start + width]
        key = (-len({words[i] for i in inside}), -len(inside), start)
        if best is None or key < best:
            best = key
    assert best is not None
    return _cut(text, best[2], width, spans)


def _cut(text: str, start: int, width: int, spans: list[tuple[int, int]]) -> str:
    end = min(len(text), start + width)
    # Never cut through a marked word at the end of the window.
    for a, b in spans:
        if a < end < b:
            end = b
    if end == len(text) and start > 0:
        # Near the end: use the whole width rather than a short tail.
        start = max(0, end - width)
        for a, b in spans:
            if a < start < b:
                start = a
    body = _render(text, spans, start, end)
    return (ELLIPSIS if start > 0 else "") + body + (ELLIPSIS if end < len(text) else "")
