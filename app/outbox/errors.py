"""What a delivery handler raises, and the admin API's errors."""

from __future__ import annotations

from app.core.errors import Conflict, NotFound


class DeliveryFailed(Exception):
    """Base of the two outcomes a handler may report by raising."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryableDelivery(DeliveryFailed):
    """Try again later (with back-off), until the message runs out of attempts.
    ``retry_after`` (seconds) overrides the back-off when the receiver said when."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDelivery(DeliveryFailed):
    """Trying again cannot help: the message is dead at once."""


class OutboxMessageNotFound(NotFound):
    code = "outbox.not_found"
    message = "消息不存在"


class OutboxNotDead(Conflict):
    code = "outbox.not_dead"
    message = "只有投递失败（dead）的消息可以重试"
