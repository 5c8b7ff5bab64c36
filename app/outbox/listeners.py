"""Listeners of report events: the one hook through which a case's timeline
causes messages (WeChat notifications, webhooks …).

``app.reports.service.add_event`` calls ``report_event`` right after it creates
an event, inside the request's transaction: a listener only writes (usually
``outbox.enqueue``), never calls the network, and its writes commit or roll
back with the change itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from app.reports.models import Report, ReportEvent

Listener = Callable[[AsyncSession, "Report", "ReportEvent"], Awaitable[None]]

_listeners: list[Listener] = []


def listen(fn: Listener) -> Listener:
    """Register ``fn`` (usable as a decorator); registering it twice is a no-op."""
    if fn not in _listeners:
        _listeners.append(fn)
    return fn


def unlisten(fn: Listener) -> None:
    if fn in _listeners:
        _listeners.remove(fn)


async def report_event(session: AsyncSession, report: Report, event: ReportEvent) -> None:
    """Run every listener, in registration order. The event has its id and
    ``created_at`` by then (flushed when a listener is registered)."""
    if not _listeners:
        return
    if event.id is None:
        await session.flush()
    for fn in list(_listeners):
        await fn(session, report, event)
