"""Errors of the WeChat server API, each with its own stable code.

WeChat answers most failures as HTTP 200 with an ``errcode``; the client turns
every failure (errcode, timeout, HTTP 5xx, garbage) into one of these so a
front end can tell "get a new wx.login code" from "try again in a minute".
"""

from __future__ import annotations

from typing import Any

from app.core.errors import AppError, RateLimited


class WeChatError(AppError):
    """An errcode we have no specific meaning for (details carry it)."""

    status_code = 502
    code = "wechat.error"
    message = "微信服务返回错误，请稍后再试"


class WeChatInvalidCode(WeChatError):
    status_code = 400
    code = "wechat.invalid_code"
    message = "微信登录凭证无效或已过期，请重新进入小程序后再试"


class WeChatHighRiskUser(WeChatError):
    status_code = 403
    code = "wechat.high_risk_user"
    message = "该微信账号存在安全风险，暂时无法使用，请联系微信客服"


class WeChatBusy(WeChatError):
    status_code = 503
    code = "wechat.busy"
    message = "微信服务繁忙，请稍后再试"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(headers={"Retry-After": "2"}, **kwargs)


class WeChatTimeout(WeChatError):
    status_code = 504
    code = "wechat.timeout"
    message = "微信服务响应超时，请稍后再试"


class WeChatUnavailable(WeChatError):
    """HTTP 5xx, a broken connection or an answer that is not WeChat's JSON."""

    status_code = 502
    code = "wechat.unavailable"
    message = "暂时无法连接微信服务，请稍后再试"


class WeChatNoConsent(WeChatError):
    """43101: the user has no subscription left for this template; retrying cannot help."""

    status_code = 409
    code = "wechat.no_subscription"
    message = "用户未订阅该消息或订阅次数已用完"


class WeChatRateLimited(RateLimited):
    # 45011 is WeChat's per-minute quota, so a minute is the honest wait.
    RETRY_AFTER_SECONDS = 60

    def __init__(self) -> None:
        super().__init__(
            self.RETRY_AFTER_SECONDS,
            "wechat.rate_limited",
            "微信接口调用过于频繁，请一分钟后再试",
        )


# errcode → error class for the codes that mean the same on every endpoint.
ERRCODE_ERRORS: dict[int, type[AppError]] = {
    40029: WeChatInvalidCode,
    45011: WeChatRateLimited,
    40226: WeChatHighRiskUser,
    -1: WeChatBusy,
    43101: WeChatNoConsent,
}
# The access token was refused: refresh it and try once more.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


def error_for(errcode: int) -> AppError:
    cls = ERRCODE_ERRORS.get(errcode)
    if cls is None:
        return WeChatError(details={"errcode": errcode})
    return cls()  # type: ignore[call-arg]
