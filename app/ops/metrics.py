"""Prometheus metrics (``GET /metrics``).

- HTTP: requests and latency per route template (``/api/v1/reports/{report_id}``,
  never the raw path, so ids do not explode the label set).
- Cases: created and dispatched by the route dispatch took, counted when the
  transaction that made them commits (a rolled-back submit counts nothing).
- Background: runs of each job (sweeps, moderation recheck, outbox delivery).
- From the database at scrape time, cached for a few seconds: open and overdue
  cases, outbox backlog by status.

One registry per process (``METRICS``): with several processes Prometheus adds
the per-process counters up, and the database gauges are the same from every
process.
"""

from __future__ import annotations

import re
import time
from functools import lru_cache
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import clock

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "ejiaren_http_requests", "HTTP 请求数", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "ejiaren_http_request_duration_seconds",
            "HTTP 请求耗时（秒）",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reports_created = Counter(
            "ejiaren_reports_created", "新建诉求数", ["kind"], registry=r
        )
        self.reports_dispatched = Counter(
            "ejiaren_reports_routed",
            "新建诉求的派单去向（rule：grid_worker 网格员、grid_leader 网格长、"
            "community_queue 社区队列、no_grid_queue 无网格队列 …）",
            ["rule"],
            registry=r,
        )
        self.job_runs = Counter(
            "ejiaren_background_runs", "后台任务运行次数", ["job", "outcome"], registry=r
        )
        self.open_reports = Gauge("ejiaren_reports_open", "在办诉求数", registry=r)
        self.overdue_reports = Gauge("ejiaren_reports_overdue", "在办且已超时的诉求数", registry=r)
        self.outbox = Gauge(
            "ejiaren_outbox_messages", "消息队列中各状态的消息数", ["status"], registry=r
        )
        self._db_read_at = 0.0

    async def refresh_from_db(self, session: AsyncSession, max_age: float) -> None:
        if time.monotonic() - self._db_read_at < max_age:
            return
        from app.outbox.models import OutboxMessage
        from app.reports.models import Report
        from app.reports.state import OPEN
        from app.stats.queries import overdue_expr

        now = clock.now()
        is_open = Report.status.in_(OPEN)
        # The overdue test of the lists and the figures, so the three agree.
        late = overdue_expr(now)
        open_n, overdue_n = (
            await session.execute(
                select(func.count(), func.count().filter(late)).select_from(Report).where(is_open)
            )
        ).one()
        self.open_reports.set(open_n)
        self.overdue_reports.set(overdue_n)
        counts = dict(
            (
                await session.execute(
                    select(OutboxMessage.status, func.count())
                    .where(OutboxMessage.status != "sent")
                    .group_by(OutboxMessage.status)
                )
            ).all()
        )
        for status in ("pending", "sending", "dead"):
            self.outbox.labels(status).set(counts.get(status, 0))
        self._db_read_at = time.monotonic()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request by its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = self.routes.template(scope.get("path", ""))
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


class RouteTemplates:
    """Path → route template (``/api/v1/reports/123`` → ``/api/v1/reports/{report_id}``),
    from the app's OpenAPI paths, which are complete whatever way routers were
    included. A literal segment wins over a parameter (``/reports/nearby``)."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None
        self.template = lru_cache(maxsize=4096)(self._match)

    def _patterns(self) -> list[tuple[re.Pattern[str], str]]:
        if self._compiled is None:
            paths = list(self._app.openapi().get("paths", {}))
            # Fewer parameters first, then longer literal text.
            paths.sort(key=lambda p: (p.count("{"), -len(re.sub(r"\{[^}]*\}", "", p))))
            self._compiled = [(compile_path(p)[0], p) for p in paths]
        return self._compiled

    def _match(self, path: str) -> str:
        for regex, template in self._patterns():
            if regex.match(path):
                return template
        # Unknown paths (404s, scanners) share one label instead of one each.
        return "<unmatched>"


METRICS = Metrics()


async def on_report_event(session: AsyncSession, report: Any, event: Any) -> None:
    """Report-event listener: a new case (its ``created`` event) is counted with
    the route its first dispatch took (the ``dispatched`` or ``queued`` event
    that follows in the same transaction); a later manual dispatch is not new."""
    fresh: set[int] = session.info.setdefault("metrics_fresh_reports", set())
    if event.type == "created":
        fresh.add(report.id)
    elif event.type in ("dispatched", "queued") and report.id in fresh:
        fresh.discard(report.id)
        count_new_report(session, METRICS, report.kind, (event.data or {}).get("rule"))


def count_new_report(session: AsyncSession, metrics: Metrics, kind: str, rule: str | None) -> None:
    """Count a new case when (and only if) its transaction commits."""
    session.info.setdefault(_NEW_REPORTS, []).append((metrics, kind, rule))


# Once for every session, rather than a listener added to each session that
# files a case (adding one costs more than the rest of the bookkeeping).
_NEW_REPORTS = "metrics_new_reports"


@event.listens_for(Session, "after_commit")
def _count_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the outer one decides
        return
    for metrics, kind, rule in session.info.pop(_NEW_REPORTS, ()):
        metrics.reports_created.labels(kind).inc()
        metrics.reports_dispatched.labels(rule or "unknown").inc()


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back(session: Session, previous: Any) -> None:
    if previous.nested:  # a SAVEPOINT rolled back: the outer transaction goes on
        return
    session.info.pop(_NEW_REPORTS, None)
