"""Report events → webhook messages: which events a timeline entry raises, and
one outbox message per live webhook that wants it, written in the transaction
that changed the case (a rolled-back change sends nothing)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.rawsql import Raw, json_value
from app.integrations.webhooks import KIND
from app.outbox import listeners
from app.outbox.service import enqueue
from app.reports.models import Category, Report, ReportEvent
from app.reports.service import report_number

_HOOKS_KEY = "ejiaren_live_webhooks"


def event_names(event: ReportEvent) -> list[str]:
    names = []
    if event.type == "created":
        names.append("report.created")
    if event.type == "dispatched":
        names.append("report.dispatched")
    if event.type == "rated":
        names.append("report.rated")
    if event.to_status and event.from_status and event.to_status != event.from_status:
        names.append("report.status_changed")
    return names


async def on_report_event(session: AsyncSession, report: Report, event: ReportEvent) -> None:
    """Queue one message per matching webhook: live, of a live client whose
    region holds the case, subscribed to the event."""
    names = event_names(event)
    if not names:
        return
    hooks = [h for h in await _live_hooks(session) if report.region_path.startswith(h["path"])]
    if not hooks:
        return
    data = await _event_data(session, report, event)
    for hook in hooks:
        events = json_value(hook["events"])
        for name in names:
            if name in events:
                await enqueue(
                    session,
                    kind=KIND,
                    target=hook["url"],
                    payload={
                        "webhook_id": hook["id"],
                        "event": name,
                        "created_at": event.created_at.isoformat(),
                        "data": data,
                    },
                )


async def _live_hooks(session: AsyncSession) -> list[Any]:
    """Live webhooks of live clients (not revoked, key not expired), with their
    client's region path. Read on
    every case event, so through ``Raw``, and once per transaction (a new case
    has two events)."""
    raw = await Raw.of(session)
    cached = session.info.get(_HOOKS_KEY)
    if cached is not None and cached[0] is raw:
        return cached[1]  # type: ignore[no-any-return]
    rows = await raw.fetch(
        "SELECT w.id, w.url, w.events, r.path FROM webhook w"
        " JOIN api_client c ON c.id = w.client_id JOIN region r ON r.id = c.region_id"
        " WHERE w.deleted_at IS NULL AND c.revoked_at IS NULL"
        " AND (c.expires_at IS NULL OR c.expires_at > $1)",
        clock.now(),
    )
    session.info[_HOOKS_KEY] = (raw, rows)
    return rows


async def _event_data(session: AsyncSession, report: Report, event: ReportEvent) -> dict[str, Any]:
    """The case as an integrator may know it, without residents' personal data
    (they read the rest with GET /reports/{id})."""
    category = await session.get(Category, report.category_id)
    return {
        "report": {
            "id": report.id,
            "number": report_number(report),
            "kind": report.kind,
            "category": category.code if category else None,
            "status": report.status,
            "grid_id": report.grid_id,
            "created_at": report.created_at.isoformat(),
            "response_due_at": report.response_due_at.isoformat()
            if report.response_due_at
            else None,
            "resolve_due_at": report.resolve_due_at.isoformat() if report.resolve_due_at else None,
            "rating": report.rating_score,
        },
        "event": {
            "id": event.id,
            "type": event.type,
            "from_status": event.from_status,
            "to_status": event.to_status,
            "at": event.created_at.isoformat(),
        },
    }


listeners.listen(on_report_event)
