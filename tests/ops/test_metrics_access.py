"""Who may read GET /metrics: in prod only a caller with the token; prod
refuses to start with the endpoint open and no token (or a guessable one)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr, ValidationError

from app.core.settings import Settings, SettingsError, get_settings

TOKEN = "metrics-" + "t" * 40
SECRETS: dict[str, Any] = {
    "jwt_secret": "j" * 48,
    "media_url_secret": "m" * 40,
    "wechat_appid": "wx123",
    "wechat_secret": "s" * 32,
}


def _prod(**overrides: Any) -> Settings:
    return Settings(env="prod", _env_file=None, **{**SECRETS, **overrides})  # type: ignore[call-arg]


def test_prod_refuses_to_start_with_open_metrics_and_no_token() -> None:
    with pytest.raises(ValidationError) as info:
        _prod()
    text = str(info.value)
    assert "生产环境拒绝启动" in text
    assert "EJIAREN_METRICS_TOKEN" in text and "EJIAREN_METRICS_ENABLED" in text
    # Only the metrics setting is wrong: the other secrets are not blamed.
    assert "EJIAREN_JWT_SECRET" not in text and "EJIAREN_WECHAT_APPID" not in text


@pytest.mark.parametrize("token", ["", "short-token", "x" * 31])
def test_prod_refuses_a_guessable_metrics_token(token: str) -> None:
    with pytest.raises(ValidationError) as info:
        _prod(metrics_token=token)
    assert "EJIAREN_METRICS_TOKEN" in str(info.value)


def test_prod_starts_with_a_metrics_token_or_with_metrics_off() -> None:
    assert _prod(metrics_token="x" * 32).metrics_token is not None
    assert _prod(metrics_enabled=False).metrics_enabled is False


def test_a_token_from_a_secret_file_loses_its_newline() -> None:
    s = _prod(metrics_token=f"{TOKEN}\n")
    assert s.metrics_token is not None and s.metrics_token.get_secret_value() == TOKEN
    with pytest.raises(ValidationError):
        _prod(metrics_token=" " * 40)


def test_dev_and_test_still_serve_metrics_without_a_token() -> None:
    for env in ("dev", "test"):
        s = Settings(env=env, _env_file=None)  # type: ignore[call-arg]
        assert s.metrics_enabled and s.metrics_token is None


def test_the_refusal_from_the_environment_names_the_variables_not_the_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EJIAREN_ENV", "prod")
    monkeypatch.setenv("EJIAREN_JWT_SECRET", SECRETS["jwt_secret"])
    monkeypatch.setenv("EJIAREN_MEDIA_URL_SECRET", SECRETS["media_url_secret"])
    monkeypatch.setenv("EJIAREN_WECHAT_APPID", SECRETS["wechat_appid"])
    monkeypatch.setenv("EJIAREN_WECHAT_SECRET", SECRETS["wechat_secret"])
    monkeypatch.setenv("EJIAREN_METRICS_TOKEN", "too-short-metrics-token")
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as info:
            get_settings()
        assert str(info.value).startswith("生产环境拒绝启动：EJIAREN_METRICS_TOKEN")
        assert "too-short-metrics-token" not in str(info.value)

        monkeypatch.setenv("EJIAREN_METRICS_TOKEN", TOKEN)
        get_settings.cache_clear()
        assert get_settings().metrics_token is not None

        monkeypatch.delenv("EJIAREN_METRICS_TOKEN")
        monkeypatch.setenv("EJIAREN_METRICS_ENABLED", "false")
        get_settings.cache_clear()
        assert get_settings().metrics_enabled is False
    finally:
        get_settings.cache_clear()


@pytest.fixture
def prod_app(app: FastAPI, settings: Settings) -> FastAPI:
    """The test app serving /metrics with settings that passed prod's checks."""
    prod = _prod(metrics_token=TOKEN)
    app.state.settings = settings.model_copy(
        update={"env": "prod", "metrics_enabled": True, "metrics_token": prod.metrics_token}
    )
    return app


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "service.metrics_token"
    assert r.json()["error"]["message"] == "需要运行指标访问令牌"
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert "ejiaren_http_requests" not in r.text


@pytest.mark.usefixtures("prod_app")
async def test_prod_metrics_need_the_token(client: httpx.AsyncClient) -> None:
    _refused(await client.get("/metrics"))
    for wrong in (
        "Bearer wrong",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        TOKEN,
        f"Basic {TOKEN}",
        "Bearer ",
        "Bearer",
    ):
        _refused(await client.get("/metrics", headers={"Authorization": wrong}))

    r = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert "ejiaren_http_requests_total" in r.text
    # The scheme is case-insensitive (RFC 7235).
    r = await client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert r.status_code == 200, r.text


async def test_dev_metrics_without_a_token_are_unchanged(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"env": "dev", "metrics_token": None})
    r = await client.get("/metrics")
    assert r.status_code == 200 and "ejiaren_http_requests_total" in r.text
    # A token set in dev is checked as in prod.
    app.state.settings = settings.model_copy(
        update={"env": "dev", "metrics_token": SecretStr("dev-token")}
    )
    assert (await client.get("/metrics")).status_code == 401
    r = await client.get("/metrics", headers={"Authorization": "Bearer dev-token"})
    assert r.status_code == 200


async def test_prod_settings_without_a_token_keep_metrics_closed(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """Settings that skipped validation (a copy, a test) still fail closed."""
    app.state.settings = settings.model_copy(update={"env": "prod", "metrics_token": None})
    _refused(await client.get("/metrics"))
    _refused(await client.get("/metrics", headers={"Authorization": "Bearer "}))


@pytest.mark.parametrize("public_url", ["", "https://ejia.example.cn"])
async def test_prod_without_a_public_url_says_so_at_start(
    settings: Settings, caplog: pytest.LogCaptureFixture, public_url: str
) -> None:
    """Open311's absolute URLs come from the Host header until it is set."""
    from app.main import create_app

    prod = _prod(
        metrics_token=SecretStr(TOKEN),
        database_url=settings.database_url,
        run_background=False,
        redis_url=None,
        public_url=public_url,
    )
    app = create_app(prod)
    with caplog.at_level("WARNING", logger="ejiaren"):
        async with app.router.lifespan_context(app):
            pass
    warned = any("EJIAREN_PUBLIC_URL" in r.getMessage() for r in caplog.records)
    assert warned is (public_url == "")
