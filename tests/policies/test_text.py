"""The text pipeline on its own: folding, terms, Markdown to text, snippets."""

from __future__ import annotations

import pytest

from app.policies import highlight, text


def test_fold_keeps_length_so_offsets_map_back() -> None:
    sample = "".join(chr(c) for c in range(0x20, 0x10000, 7) if not 0xD800 <= c <= 0xDFFF)
    assert len(text.fold(sample)) == len(sample)
    mixed = "醫療保險報銷ＡＢＣ１２３　乾燥…㈱ﬁ"
    assert len(text.fold(mixed)) == len(mixed)


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("醫保報銷", "医保报销"),
        ("ＡＰＰ１２３", "app123"),
        ("低保\u3000申请", "低保 申请"),
        ("养老认证", "养老认证"),
        ("a\x00b", "a b"),
    ],
)
def test_fold(raw: str, folded: str) -> None:
    assert text.fold(raw) == folded


@pytest.mark.parametrize(
    ("query", "terms"),
    [
        ("医保怎么报销", ("医保", "报销")),
        ("医疗保险报销", ("医疗", "保险", "医保", "报销")),
        ("低保申请条件", ("低保", "申请", "条件")),
        ("高龄补贴", ("高龄津贴", "补贴", "高龄")),
        ("退伍", ("退役",)),
        ('" OR 1=1 --', ("or", "1")),
        ("怎么办", ("怎么办",)),  # only stop words: search for them rather than nothing
        ("！？。", ()),
    ],
)
def test_parse_query(query: str, terms: tuple[str, ...]) -> None:
    assert set(text.parse_query(query).terms) == set(terms)


def test_synonyms_are_one_term_in_documents_and_queries() -> None:
    doc = text.index_terms("城乡居民基本医疗保险报销办法")
    assert doc["医保"] == 1
    assert "医疗保险" not in doc and "基本医疗保险" not in doc
    assert {"医保", "报销"} <= set(text.parse_query("医保报销").terms) <= set(doc)


def test_query_terms_are_capped() -> None:
    assert (
        len(text.parse_query("医保 低保 " * 50 + "".join(chr(0x4E00 + i) for i in range(99))).terms)
        <= text.MAX_QUERY_TERMS
    )


def test_plain_text_drops_markdown_but_keeps_words() -> None:
    md = (
        "## 一、标题\n\n**加粗**和`代码`、[链接文字](https://example.com/x)、![图](a.png)\n"
        "- 列表项\n> 引用\n\n| 年龄 | 标准 |\n|---|---|\n| 80 | 100元 |\n<br/>小于号 a<b 和 <定点医院>"
    )
    plain = text.plain_text(md)
    for kept in ("一、标题", "加粗和代码、链接文字、图", "列表项", "引用", "80", "100元"):
        assert kept in plain
    for gone in ("##", "**", "`", "https", "a.png", "<br/>", "|"):
        assert gone not in plain
    assert "a<b" in plain and "<定点医院>" in plain


def test_snippet_without_matches_is_the_beginning() -> None:
    body = "甲" * 200
    out = highlight.snippet(body, ("乙",))
    assert out == "甲" * highlight.SNIPPET_CHARS + "…"
    assert highlight.snippet("短文", ()) == "短文"


def test_snippet_picks_the_window_with_most_distinct_words() -> None:
    body = "医保" + "。" * 150 + "医保和报销都在这里" + "。" * 150
    out = highlight.snippet(body, ("报销", "医保"))
    assert "<em>医保</em>和<em>报销</em>" in out
    assert out.startswith("…") and out.endswith("…")


def test_snippet_near_the_end_uses_the_whole_width() -> None:
    body = "。" * 300 + "最后是报销"
    out = highlight.snippet(body, ("报销",))
    assert out.endswith("<em>报销</em>")
    assert len(out.replace("<em>", "").replace("</em>", "")) == highlight.SNIPPET_CHARS + 1


def test_highlight_escapes_everything_but_the_marks() -> None:
    assert (
        highlight.highlight('<b>医保</b> & "引号"', ("医保",))
        == "&lt;b&gt;<em>医保</em>&lt;/b&gt; &amp; &quot;引号&quot;"
    )
