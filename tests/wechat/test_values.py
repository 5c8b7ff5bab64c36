"""Subscribe-message values cut to WeChat's rules, checked against the fake's 47003 rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.notify.values import fit
from app.wechat.fake import _valid_subscribe_data

LONG = "小区东门路灯坏了三个晚上，老人晚上出门很不方便，希望尽快修好"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("thing1", "路灯不亮", "路灯不亮"),
        ("thing2", LONG, LONG[:19] + "…"),
        ("thing3", "第一行\n第二行\r\n第三行", "第一行 第二行 第三行"),
        ("thing4", "  ", "-"),
        ("thing5", None, "-"),
        ("phrase1", "已办结", "已办结"),
        ("phrase2", "正在处理之中啊", "正在处理之"),
        ("character_string1", "E20261102-000042", "E20261102-000042"),
        ("character_string2", "编号E2026-01", "E2026-01"),
        ("character_string3", "A" * 40, "A" * 32),
        ("character_string4", "全中文", "-"),
        ("name1", "欧阳娜娜娜娜娜娜娜娜娜", "欧阳娜娜娜娜娜娜娜…"),
        ("number1", 42, "42"),
        ("time1", datetime(2026, 11, 2, 2, 30, tzinfo=UTC), "2026-11-02 10:30"),
        ("date1", datetime(2026, 11, 2, 17, 0, tzinfo=UTC), "2026-11-03"),
        ("time2", None, "-"),
    ],
)
def test_fit(key: str, value: object, expected: str) -> None:
    assert fit(key, value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [LONG, "a\nb", "中文" * 30, "x" * 100, "", None])
@pytest.mark.parametrize("key", ["thing1", "phrase2", "character_string3", "name4"])
def test_whatever_goes_in_the_fake_accepts_what_comes_out(key: str, value: str | None) -> None:
    assert _valid_subscribe_data({key: {"value": fit(key, value)}})


def test_the_fake_refuses_what_wechat_refuses() -> None:
    assert not _valid_subscribe_data({"thing1": {"value": "x" * 21}})
    assert not _valid_subscribe_data({"phrase1": {"value": "六个字的短语"}})
    assert not _valid_subscribe_data({"character_string1": {"value": "编号1"}})
    assert not _valid_subscribe_data({"thing1": {"value": "a\nb"}})
    assert not _valid_subscribe_data({"time1": {"value": "明天"}})
    assert not _valid_subscribe_data({"thing1": {"value": ""}})
    assert _valid_subscribe_data({"time1": {"value": "2026-11-02 10:30"}})
