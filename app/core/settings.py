"""Service settings, read from the environment with the prefix ``EJIAREN_``.

Default secrets exist so that ``dev`` and ``test`` run with no setup at all;
``prod`` refuses to start while any of them is still in place.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "dev-only-jwt-secret-change-me-before-production"
DEFAULT_MEDIA_SECRET = "dev-only-media-url-secret-change-me"
WECHAT_API_BASE = "https://api.weixin.qq.com"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EJIAREN_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite+aiosqlite:///./var/ejiaren.db"
    db_pool_size: int = Field(10, description="PostgreSQL 连接池常驻连接数（每个进程）")
    db_max_overflow: int = Field(10, description="连接池高峰时可额外打开的连接数")
    db_pool_timeout: float = 10.0
    db_echo: bool = False

    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    access_token_ttl_seconds: int = 2 * 3600
    refresh_token_ttl_seconds: int = 30 * 24 * 3600

    wechat_appid: str = ""
    wechat_secret: SecretStr = SecretStr("")
    wechat_api_base: str = WECHAT_API_BASE
    wechat_timeout_seconds: float = 5.0

    media_dir: Path = Path("./var/media")
    media_url_secret: SecretStr = SecretStr(DEFAULT_MEDIA_SECRET)

    redis_url: str | None = None
    rate_limit_login: str = "20/minute"
    rate_limit_reports: str = "10/minute"
    trusted_proxies: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)

    log_level: str = "INFO"
    run_background: bool = Field(
        True,
        description="在 API 进程内运行后台循环（单机部署）；多进程部署时关闭，改用 ejiaren worker",
    )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def wechat_offline(self) -> bool:
        """No appid in dev/test: the built-in fake WeChat answers instead of the real one."""
        return self.env != "prod" and not self.wechat_appid

    @model_validator(mode="after")
    def _refuse_default_secrets_in_prod(self) -> Settings:
        if self.env != "prod":
            return self
        problems = []
        if (
            self.jwt_secret.get_secret_value() == DEFAULT_JWT_SECRET
            or len(self.jwt_secret.get_secret_value()) < 32
        ):
            problems.append("EJIAREN_JWT_SECRET 必须设置为至少 32 个字符的随机值")
        if self.media_url_secret.get_secret_value() == DEFAULT_MEDIA_SECRET:
            problems.append("EJIAREN_MEDIA_URL_SECRET 必须设置")
        if not self.wechat_appid or not self.wechat_secret.get_secret_value():
            problems.append("EJIAREN_WECHAT_APPID 与 EJIAREN_WECHAT_SECRET 必须设置")
        if problems:
            raise ValueError("生产环境拒绝启动：" + "；".join(problems))
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
