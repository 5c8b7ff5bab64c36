"""Service settings, read from the environment with the prefix ``EJIAREN_``.

Default secrets exist so that ``dev`` and ``test`` run with no setup at all;
``prod`` refuses to start while any of them is still in place, and while
``/metrics`` is served without a token.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.core.rate import Rate

DEFAULT_JWT_SECRET = "dev-only-jwt-secret-change-me-before-production"
DEFAULT_MEDIA_SECRET = "dev-only-media-url-secret-change-me"
WECHAT_API_BASE = "https://api.weixin.qq.com"


class SubscribeTemplate(BaseModel):
    """One subscribe-message template: its id in the WeChat console, the page
    the message opens (``{report_id}`` is filled in), and for each template
    field the value source (a name from ``app.notify.service.SOURCES``, or a
    fixed text after ``=``)."""

    template_id: str
    page: str | None = None
    fields: dict[str, str]


def default_subscribe_templates() -> dict[str, SubscribeTemplate]:
    """Development defaults; production sets EJIAREN_WECHAT_SUBSCRIBE_TEMPLATES
    with the template ids and field names of its own WeChat console."""
    page = "pages/report/detail?id={report_id}"
    return {
        "report_dispatched": SubscribeTemplate(
            template_id="dev-tmpl-report-dispatched",
            page=page,
            fields={
                "character_string1": "number",
                "thing2": "category",
                "phrase3": "status",
                "time4": "event_at",
                "thing5": "assignee_name",
            },
        ),
        "report_resolved": SubscribeTemplate(
            template_id="dev-tmpl-report-resolved",
            page=page,
            fields={
                "character_string1": "number",
                "thing2": "category",
                "phrase3": "status",
                "time4": "event_at",
                "thing5": "=已办结，请对处理结果进行评价",
            },
        ),
        "report_rejected": SubscribeTemplate(
            template_id="dev-tmpl-report-rejected",
            page=page,
            fields={
                "character_string1": "number",
                "thing2": "category",
                "phrase3": "status",
                "time4": "event_at",
                "thing5": "note",
            },
        ),
        "task_new": SubscribeTemplate(
            template_id="dev-tmpl-task-new",
            page=page,
            fields={
                "character_string1": "number",
                "thing2": "category",
                "thing3": "description",
                "time4": "due_at",
                "thing5": "address",
            },
        ),
        "task_reminder": SubscribeTemplate(
            template_id="dev-tmpl-task-reminder",
            page=page,
            fields={
                "character_string1": "number",
                "thing2": "category",
                "time3": "due_at",
                "thing4": "note",
            },
        ),
        "task_escalated": SubscribeTemplate(
            template_id="dev-tmpl-task-escalated",
            page=page,
            fields={
                "character_string1": "number",
                "thing2": "category",
                "phrase3": "status",
                "time4": "event_at",
                "thing5": "note",
            },
        ),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EJIAREN_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "prod"] = "dev"
    database_url: str = "sqlite+aiosqlite:///./var/ejiaren.db"
    database_read_url: str | None = Field(
        None,
        description="只读副本（PostgreSQL 流复制备库）；设置后统计接口从此读取，未设置则读主库",
    )
    db_pool_size: int = Field(
        20,
        description="PostgreSQL 连接池常驻连接数（每个进程）。应不少于同时处理的请求数："
        "超出部分的连接用完即关，高峰时每个请求都要新建连接",
    )
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

    # -- outbox delivery and WeChat subscribe messages --
    outbox_max_attempts: int = Field(8, ge=1, description="每条消息最多尝试次数，之后为 dead")
    outbox_backoff_base_seconds: float = Field(
        30.0, gt=0, description="首次重试前等待秒数，之后每次翻倍"
    )
    outbox_backoff_max_seconds: float = Field(3600.0, gt=0, description="重试等待的上限（秒）")
    outbox_backoff_jitter: float = Field(0.2, ge=0, le=1, description="等待时间随机缩短的最大比例")
    outbox_lease_seconds: int = Field(
        300, ge=10, description="认领后未回写结果多久可被其他进程重新认领"
    )
    outbox_batch_size: int = Field(50, ge=1, description="每轮最多认领的消息数")
    outbox_send_timeout_seconds: float = Field(15.0, gt=0, description="单次投递的超时（秒）")
    wechat_token_wait_seconds: float = Field(
        5.0, ge=0, description="另一进程正在刷新 access_token 时最多等待的秒数"
    )
    wechat_miniprogram_state: Literal["developer", "trial", "formal"] = Field(
        "formal", description="订阅消息点开后进入的小程序版本"
    )
    wechat_subscribe_templates: dict[str, SubscribeTemplate] = Field(
        default_factory=default_subscribe_templates,
        description="订阅消息模板：消息类型 → 模板 id、跳转页与字段取值",
    )

    media_dir: Path = Path("./var/media")
    media_url_secret: SecretStr = SecretStr(DEFAULT_MEDIA_SECRET)

    redis_url: str | None = None
    rate_limit_login: str = "20/minute"
    rate_limit_reports: str = "10/minute"
    rate_limit_uploads: str = Field("60/minute", description="每人上传照片的频率上限")
    trusted_proxies: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)

    # -- third parties: API keys, webhooks, Open311 --
    rate_limit_api_key: str = Field("600/minute", description="每个 API Key 的请求频率上限")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="单次 webhook 投递的超时（秒）")
    open311_public_read: bool = Field(
        False,
        description="Open311 GET requests 不带 api_key 时是否返回公开视图（不含地址、坐标与照片）",
    )
    open311_contact: str = Field("", description="Open311 discovery 中的联系方式")
    public_url: str | None = Field(
        None,
        description="对外访问的根地址，如 https://ejia.example.cn（只含协议与主机，可带端口）；"
        "设置后 Open311 的绝对地址（discovery 的 url、media_url）由它生成而不取请求的 Host，"
        "生产环境应设置",
    )

    # -- operations: request limits and metrics --
    idempotency_lease_seconds: float = Field(
        30.0,
        gt=0,
        description="幂等键被认领后，首次请求未完成（如进程崩溃）多久后允许重试接手（秒）；"
        "应大于最慢请求的耗时",
    )
    max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="JSON/表单请求体上限（字节）；照片上传与网格导入有各自的上限",
    )
    metrics_enabled: bool = Field(True, description="是否开放 GET /metrics（Prometheus）")
    metrics_token: SecretStr | None = Field(
        None,
        description="设置后 /metrics 需带 Authorization: Bearer <token>；"
        "prod 开启 /metrics 时必须设置（至少 32 个字符）",
    )
    metrics_db_cache_seconds: float = Field(
        10.0, ge=0, description="/metrics 中来自数据库的数字（在办、超时、队列积压）缓存秒数"
    )

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

    @field_validator("metrics_token", mode="before")
    @classmethod
    def _trim_token(cls, value: object) -> object:
        # A token read from a secret file often ends with a newline, which no
        # client sends: it would never match.
        if isinstance(value, str):
            return value.strip() or None
        return value

    @field_validator("public_url", mode="before")
    @classmethod
    def _check_public_url(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        value = value.strip().rstrip("/")
        if not value:
            return None
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 -- raises on a port that is not a number in range
        except ValueError as exc:
            raise ValueError("端口无效") from exc
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path
            or parts.query
            or parts.fragment
            or "?" in value
            or "#" in value
            or parts.username is not None
        ):
            raise ValueError(
                "应为 http(s) 根地址，如 https://ejia.example.cn（不带路径、查询或片段）"
            )
        return value

    @field_validator(
        "rate_limit_login", "rate_limit_reports", "rate_limit_uploads", "rate_limit_api_key"
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        # Parsed where it is applied; checked here so a malformed limit stops
        # the service at start instead of failing every login with a 500.
        Rate.parse(value)
        return value

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
        if (
            self.media_url_secret.get_secret_value() == DEFAULT_MEDIA_SECRET
            or len(self.media_url_secret.get_secret_value()) < 32
        ):
            problems.append("EJIAREN_MEDIA_URL_SECRET 必须设置为至少 32 个字符的随机值")
        if not self.wechat_appid or not self.wechat_secret.get_secret_value():
            problems.append("EJIAREN_WECHAT_APPID 与 EJIAREN_WECHAT_SECRET 必须设置")
        # Open to anyone, /metrics tells outsiders the load, the backlog and
        # which routes fail: production serves it only to a token holder.
        if self.metrics_enabled and (
            self.metrics_token is None or len(self.metrics_token.get_secret_value()) < 32
        ):
            problems.append(
                "EJIAREN_METRICS_TOKEN 必须设置为至少 32 个字符的随机值"
                "（或设 EJIAREN_METRICS_ENABLED=false 关闭 /metrics）"
            )
        if problems:
            raise ValueError("生产环境拒绝启动：" + "；".join(problems))
        return self


class SettingsError(RuntimeError):
    """The environment cannot start the service. The message names the
    variables and what is wrong with them, never their values: pydantic's own
    message repeats the input, which would print a refused secret."""


def describe_problems(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = err.get("loc") or ()
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        parts.append(f"EJIAREN_{str(loc[0]).upper()}：{message}" if loc else message)
    return "；".join(parts)


@lru_cache
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_problems(exc)) from None
