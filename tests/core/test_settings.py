from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.core.settings import Settings, SettingsError, get_settings


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


def test_prod_refuses_a_short_media_url_secret() -> None:
    """It signs every photo URL: as guessable as a short JWT secret."""
    with pytest.raises(ValidationError) as info:
        Settings(
            env="prod",
            jwt_secret="j" * 48,
            media_url_secret="short",  # type: ignore[arg-type]
            wechat_appid="wx123",
            wechat_secret="s" * 32,
            _env_file=None,
        )  # type: ignore[call-arg]
    assert "EJIAREN_MEDIA_URL_SECRET" in str(info.value)
    assert "EJIAREN_JWT_SECRET" not in str(info.value)


def test_the_image_runs_in_prod() -> None:
    """The Docker image must not fall back to dev, whose default secrets are
    public: started without them it refuses, as prod does."""
    from pathlib import Path

    dockerfile = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text()
    assert "EJIAREN_ENV=prod" in dockerfile.split("FROM", 1)[1].split("CMD", 1)[0]


def test_prod_starts_with_real_secrets() -> None:
    s = Settings(
        env="prod",
        jwt_secret="j" * 48,
        media_url_secret="m" * 40,  # type: ignore[arg-type]
        wechat_appid="wx123",
        wechat_secret="s" * 32,
        metrics_token="t" * 32,
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


def test_prod_from_the_environment_names_every_default_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real path: EJIAREN_ variables, each default secret named, none printed."""
    monkeypatch.setenv("EJIAREN_ENV", "prod")
    monkeypatch.setenv("EJIAREN_WECHAT_APPID", "wx0123456789abcdef")
    monkeypatch.setenv("EJIAREN_WECHAT_SECRET", "s" * 32)
    monkeypatch.setenv("EJIAREN_METRICS_TOKEN", "t" * 32)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)  # type: ignore[call-arg]
    text = str(info.value)
    assert "生产环境拒绝启动" in text
    assert "EJIAREN_JWT_SECRET" in text
    assert "EJIAREN_MEDIA_URL_SECRET" in text
    assert "EJIAREN_WECHAT_APPID" not in text
    assert "s" * 32 not in text

    monkeypatch.setenv("EJIAREN_JWT_SECRET", "j" * 48)
    with pytest.raises(ValidationError) as info:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "EJIAREN_MEDIA_URL_SECRET" in str(info.value)
    assert "EJIAREN_JWT_SECRET" not in str(info.value)

    monkeypatch.setenv("EJIAREN_MEDIA_URL_SECRET", "m" * 40)
    assert Settings(_env_file=None).env == "prod"  # type: ignore[call-arg]


def test_the_refusal_names_variables_but_never_prints_their_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pydantic's own message repeats its input: a refused secret would land in
    the terminal or the container log. What the service raises does not."""
    monkeypatch.setenv("EJIAREN_ENV", "prod")
    monkeypatch.setenv("EJIAREN_JWT_SECRET", "too-short-but-still-secret")
    monkeypatch.setenv("EJIAREN_DB_POOL_SIZE", "many-pool-value")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    text = str(info.value)
    assert "EJIAREN_DB_POOL_SIZE" in text
    assert "too-short-but-still-secret" not in text
    assert "many-pool-value" not in text
    assert info.value.__cause__ is None and info.value.__suppress_context__

    monkeypatch.setenv("EJIAREN_DB_POOL_SIZE", "10")
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert str(info.value).startswith("生产环境拒绝启动：EJIAREN_JWT_SECRET")
    assert "too-short-but-still-secret" not in str(info.value)


def test_the_readme_documents_every_setting() -> None:
    """Each field of Settings has a row in the README's settings table, and no
    row names a setting that no longer exists."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## 配置 Settings", 1)[1].split("\n## ", 1)[0]
    documented = {
        name.lower()
        for line in section.splitlines()
        if line.startswith("| `")
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", line.split("|")[1])
    }
    fields = set(Settings.model_fields)
    assert not fields - documented, (
        f"settings missing from README.md: {sorted(fields - documented)}"
    )
    assert not documented - fields, (
        f"README.md lists unknown settings: {sorted(documented - fields)}"
    )


@pytest.mark.parametrize(
    "field", ["rate_limit_login", "rate_limit_reports", "rate_limit_uploads", "rate_limit_api_key"]
)
def test_a_malformed_rate_limit_stops_the_service_at_start(field: str) -> None:
    """Parsed only where applied, it made every login (or upload …) a 500 on a
    service that had started and answered /readyz."""
    with pytest.raises(ValidationError, match="无效的限流设置"):
        Settings(**{field: "bogusVALUE"})  # type: ignore[arg-type]
    assert getattr(Settings(**{field: "5/10 seconds"}), field) == "5/10 seconds"  # type: ignore[arg-type]
