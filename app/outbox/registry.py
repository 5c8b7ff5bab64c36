"""Delivery handlers by message kind, and what they are given to work with."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from app.core.db import Database
from app.core.settings import Settings
from app.outbox.models import OutboxMessage

if TYPE_CHECKING:
    from app.wechat.client import WeChatClient


@dataclass
class DeliveryContext:
    """Everything a handler may need; no database transaction is open while it runs."""

    settings: Settings
    http: httpx.AsyncClient
    db: Database
    wechat: WeChatClient


@dataclass
class DeliveryResult:
    """What the receiver answered, kept on the message (``result``) for admins."""

    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[OutboxMessage, DeliveryContext], Awaitable[DeliveryResult | None]]

_handlers: dict[str, Handler] = {}


def register_handler(kind: str, handler: Handler) -> None:
    """Deliver messages of ``kind`` with ``handler`` (a later registration replaces it)."""
    _handlers[kind] = handler


def unregister_handler(kind: str) -> None:
    _handlers.pop(kind, None)


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(kind)
