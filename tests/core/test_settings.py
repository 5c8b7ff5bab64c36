from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.settings import Settings


def test_prod_refuses_default_secrets() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(env="prod", _env_file=None)  # type: ignore[call-arg]
    text = str(info.value)
    assert "EJIAREN_JWT_SECRET" in text
    assert "EJIAREN_WECHAT_APPID" in text


def test_prod_refuses_short_jwt_secret() -> None:
    with pytest.raises(ValidationError):
        Settings(
            env="prod",
            jwt_secret="short",
            media_url_secret="m" * 40,  # type: ignore[arg-type]
            wechat_appid="wx123",
            wechat_secret="s" * 32,
            _env_file=None,
        )  # type: ignore[call-arg]


def test_prod_starts_with_real_secrets() -> None:
    s = Settings(
        env="prod",
        jwt_secret="j" * 48,
        media_url_secret="m" * 40,  # type: ignore[arg-type]
        wechat_appid="wx123",
        wechat_secret="s" * 32,
        _env_file=None,
    )  # type: ignore[call-arg]
    assert s.env == "prod"
    assert not s.wechat_offline


def test_dev_without_appid_is_offline() -> None:
    s = Settings(env="dev", _env_file=None)  # type: ignore[call-arg]
    assert s.wechat_offline
    assert s.is_sqlite


def test_secrets_are_not_printed() -> None:
    s = Settings(env="dev", jwt_secret="super-secret-value-1234567890", _env_file=None)  # type: ignore[arg-type,call-arg]
    assert "super-secret-value" not in repr(s)
