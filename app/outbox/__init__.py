"""The durable outbox: messages written in the caller's transaction and
delivered by the worker with retries (see ``service``)."""

from app.outbox.errors import PermanentDelivery, RetryableDelivery
from app.outbox.models import OutboxMessage
from app.outbox.registry import (
    DeliveryContext,
    DeliveryResult,
    register_handler,
    unregister_handler,
)
from app.outbox.service import deliver_due, enqueue

__all__ = [
    "DeliveryContext",
    "DeliveryResult",
    "OutboxMessage",
    "PermanentDelivery",
    "RetryableDelivery",
    "deliver_due",
    "enqueue",
    "register_handler",
    "unregister_handler",
]
