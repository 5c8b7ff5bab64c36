"""Chinese text for policy search: folding, segmentation, synonyms, stop words.

The same pipeline turns a document and a query into terms, so whatever a
resident types meets the words a document was indexed under:

1. ``fold``: full-width → half-width (NFKC, one character at a time), lower
   case, traditional → simplified (OpenCC ``t2s``). Folding never changes the
   length of a text, so a match found in the folded text is at the same
   offsets in the original, which is what the snippet highlights.
2. jieba in precise mode without HMM (segmentation then depends only on the
   dictionary, so a phrase is cut the same way in a document and in a query),
   with the governance terms of ``dictionary.txt`` and ``synonyms.txt``.
3. Every dictionary word inside a longer token is a term too
   (基本医疗保险 → 基本, 医疗, 保险, 医疗保险 …), so a query for a part finds the whole.
4. Each term is replaced by the canonical word of its synonym group
   (医疗保险 → 医保), and stop words (``stopwords.txt``) are dropped.

jieba builds its dictionary once, when this module is imported (about a second
with its cache, a few on the very first run), never inside a request.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jieba
import opencc

HERE = Path(__file__).resolve().parent
DICTIONARY_FILE = HERE / "dictionary.txt"
SYNONYMS_FILE = HERE / "synonyms.txt"
STOP_WORDS_FILE = HERE / "stopwords.txt"

# Longer "tokens" are runs of letters or digits (codes, URLs): never a search word.
MAX_TERM_CHARS = 32


def _nfkc_table() -> dict[int, str]:
    """Per-character NFKC + lower-case, for the characters where that yields one
    character (full-width letters, digits and punctuation, the ideographic
    space …); characters that would expand (… → ...) are kept as they are."""
    table: dict[int, str] = {}
    for code in range(0x20, 0x10000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        folded = unicodedata.normalize("NFKC", char).lower()
        if len(folded) != 1:
            folded = char.lower() if len(char.lower()) == 1 else char
        if folded != char:
            table[code] = folded
    # Control characters (NUL included) become spaces: PostgreSQL refuses NUL in
    # text, and no control character is ever part of a word.
    for code in list(range(0x00, 0x20)) + [0x7F]:
        table[code] = " "
    return table


_NFKC = _nfkc_table()
_CONTROLS = {c: " " for c in [*range(0x20), 0x7F]}
_T2S = opencc.OpenCC("t2s")


def _t2s_tables() -> tuple[frozenset[str], dict[int, str]]:
    """From OpenCC's t2s dictionaries: the characters that can make it change a
    text, and a character-level table for the rare text whose phrase-level
    conversion would change its length."""
    _T2S.convert("")  # loads the dictionaries
    triggers: set[str] = set()
    chars: dict[int, str] = {}
    for _, _, mapping in _T2S.dict_cache.values():
        for key, value in mapping.items():
            target = value.split(" ")[0]
            if len(key) == len(target):
                triggers.update(k for k, v in zip(key, target, strict=True) if k != v)
            else:
                triggers.update(key)
            if len(key) == 1 and len(target) == 1 and key != target:
                chars[ord(key)] = target
    return frozenset(triggers), chars


_T2S_TRIGGERS, _T2S_CHARS = _t2s_tables()


def _variants() -> dict[str, str]:
    """Folded character → every character that folds to it (itself first):
    half-width, full-width and upper-case letters, traditional characters."""
    found: dict[str, list[str]] = {}
    for table in (_NFKC, _T2S_CHARS):
        for code, target in table.items():
            if target.strip():
                found.setdefault(target, [target]).append(chr(code))
    return {k: "".join(dict.fromkeys(v)) for k, v in found.items()}


_VARIANTS = _variants()


def mark_pattern(mark: str) -> str:
    """A regular expression matching ``mark`` (folded) in unfolded text, so a
    snippet is searched without folding the whole body: 医保 also matches 醫保."""
    parts = []
    for char in mark:
        variants = _VARIANTS.get(char)
        parts.append("[" + re.escape(variants) + "]" if variants else re.escape(char))
    return "".join(parts)


def fold(text: str) -> str:
    """Full-width → half-width, lower case, traditional → simplified; same length."""
    folded = text.translate(_NFKC)
    if _T2S_TRIGGERS.isdisjoint(folded):
        # Nearly every text: OpenCC would return it unchanged, and skipping it
        # keeps folding a whole document body well under a millisecond.
        return folded
    converted = _T2S.convert(folded)
    if len(converted) == len(folded):
        return converted
    return folded.translate(_T2S_CHARS)


def normalize_label(value: str) -> str:
    """A category or tag as stored and as filtered by: half-width, simplified,
    single spaces; letter case is kept (labels are shown as written)."""
    text = unicodedata.normalize("NFKC", value.translate(_CONTROLS))
    if not _T2S_TRIGGERS.isdisjoint(text):
        text = _T2S.convert(text)
    return " ".join(text.split())


def _read_lines(path: Path) -> Iterator[str]:
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            yield line


def _load_synonyms(path: Path) -> dict[str, str]:
    canonical: dict[str, str] = {}
    for line in _read_lines(path):
        words = [fold(w) for w in line.split()]
        for word in words:
            canonical.setdefault(word, words[0])
    return canonical


CANONICAL = _load_synonyms(SYNONYMS_FILE)
STOP_WORDS = frozenset(fold(w) for line in _read_lines(STOP_WORDS_FILE) for w in line.split())
# Canonical term → every surface form that the snippet should mark.
SURFACES: dict[str, tuple[str, ...]] = {}
for _word, _canon in CANONICAL.items():
    SURFACES.setdefault(_canon, ())
    SURFACES[_canon] = (*SURFACES[_canon], _word)
USER_WORDS = tuple(dict.fromkeys([fold(w.split()[0]) for w in _read_lines(DICTIONARY_FILE)]))


def _build_tokenizer() -> jieba.Tokenizer:
    # jieba announces its dictionary build on stderr at INFO level.
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for line in _read_lines(DICTIONARY_FILE):
        parts = line.split()
        tokenizer.add_word(fold(parts[0]), int(parts[1]) if len(parts) > 1 else None)
    for word in CANONICAL:
        tokenizer.add_word(word)
    return tokenizer


@functools.cache
def tokenizer() -> jieba.Tokenizer:
    """Built on first use (about 75 MB and a second or two): processes that never
    search policies — workers, short CLI commands — never pay for it."""
    return _build_tokenizer()


def _freq() -> dict[str, int]:
    return tokenizer().FREQ  # type: ignore[no-any-return]


# Identifies the index built by this pipeline: stored with every indexed policy,
# so a change of dictionary, synonyms or rules shows which rows need a reindex.
INDEX_VERSION = hashlib.sha256(
    "\n".join(
        [
            "rules-2",
            getattr(jieba, "__version__", ""),
            DICTIONARY_FILE.read_text(encoding="utf-8"),
            SYNONYMS_FILE.read_text(encoding="utf-8"),
            STOP_WORDS_FILE.read_text(encoding="utf-8"),
        ]
    ).encode()
).hexdigest()[:16]


def _searchable(token: str) -> bool:
    """A token with at least one letter or digit (not punctuation or space)."""
    return 0 < len(token) <= MAX_TERM_CHARS and any(
        unicodedata.category(c)[0] in "LN" for c in token
    )


def _expand(token: str) -> set[str]:
    """The token and every dictionary word of two or more characters inside it."""
    found = {token}
    n = len(token)
    if n > 2 and not token.isascii():
        for length in range(2, n):
            for start in range(n - length + 1):
                part = token[start : start + length]
                if _freq().get(part):
                    found.add(part)
    return found


def _terms_of_token(token: str) -> set[str]:
    terms = set()
    for part in _expand(token):
        term = CANONICAL.get(part, part)
        if term not in STOP_WORDS:
            terms.add(term)
    return terms


def _tokens(folded: str) -> Iterator[str]:
    for token in tokenizer().cut(folded, HMM=False):
        token = token.strip()
        if _searchable(token):
            yield token


def index_terms(text: str) -> Counter[str]:
    """Term frequencies of a document field (each occurrence of a token counts
    once for each distinct term it yields)."""
    counts: Counter[str] = Counter()
    for token in _tokens(fold(text)):
        counts.update(_terms_of_token(token))
    return counts


@dataclass(frozen=True)
class Query:
    """What a resident typed, as search terms and as the forms to highlight."""

    terms: tuple[str, ...]
    # Folded forms to mark in the text, longest first.
    marks: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.terms


MAX_QUERY_TERMS = 16


def parse_query(text: str) -> Query:
    """Search terms of a query, in the order typed. Operators and punctuation
    mean nothing here: every term is matched as a literal word. A query made
    only of stop words (怎么办) searches for those words rather than nothing."""
    tokens = list(_tokens(fold(text)))
    terms: dict[str, None] = {}
    for token in tokens:
        for term in sorted(_terms_of_token(token), key=lambda t: (-len(t), t)):
            terms.setdefault(term)
    if not terms:
        for token in tokens:
            terms.setdefault(CANONICAL.get(token, token))
    chosen = tuple(terms)[:MAX_QUERY_TERMS]
    marks: set[str] = set()
    for term in chosen:
        marks.add(term)
        marks.update(SURFACES.get(term, ()))
    marks.update(t for t in tokens if t not in STOP_WORDS)
    return Query(terms=chosen, marks=tuple(sorted(marks, key=lambda m: (-len(m), m))))


def vocabulary_with_prefix(prefix: str, limit: int = 50) -> list[str]:
    """Governance terms (dictionary and synonym words) starting with ``prefix``,
    shortest first: the curated words offered as the resident types."""
    folded = fold(prefix).strip()
    if not folded:
        return []
    words = {w for w in (*USER_WORDS, *CANONICAL) if w.startswith(folded)}
    return sorted(words, key=lambda w: (len(w), w))[:limit]


def canonical(word: str) -> str:
    return CANONICAL.get(word, word)


_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MD_LINE_PREFIX = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|>[ \t]?|[-*+][ \t]+|\|)", re.MULTILINE)
_MD_EMPHASIS = re.compile(r"\*\*|__|~~|`+")
_MD_RULES = re.compile(r"^[ \t]*[-*_]{3,}[ \t]*$|\|", re.MULTILINE)
# Only what looks like an HTML tag: "<定点医院>" in a sentence is text.
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]{0,200})?/?>")
_SPACES = re.compile(r"\s+")


def plain_text(markdown: str) -> str:
    """The readable text of a Markdown body on one line: what snippets are cut
    from and what the body is indexed as (no link targets, no markup)."""
    text = _MD_IMAGE.sub(r"\1", markdown)
    text = _MD_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    text = _MD_LINE_PREFIX.sub("", text)
    text = _MD_RULES.sub(" ", text)
    text = _MD_EMPHASIS.sub("", text)
    return _SPACES.sub(" ", text).strip()


def index_fields(
    *,
    title: str,
    body: str,
    category: str,
    tags: Iterable[str],
    issuer: str | None,
    doc_number: str | None,
) -> tuple[Counter[str], Counter[str]]:
    """Terms of the two ranked fields: the title, and everything else a
    resident might search by (body, category, tags, issuer, 文号)."""
    title_terms = index_terms(title)
    extra = " ".join([category, *tags, issuer or "", doc_number or ""])
    body_terms = index_terms(plain_text(body) + " " + extra)
    return title_terms, body_terms
