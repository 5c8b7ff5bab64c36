"""For tests of real concurrent requests on committed data (each request on
its own connection, as in production): emptying the tables they fill, and a
caller's bearer header."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import delete

from app.core.models import AppState, IdempotencyRecord, RateLimitBucket
from app.core.security import issue_token
from app.media.models import Media
from app.notify.models import SubscribeConsent
from app.org.models import Region
from app.outbox.models import OutboxMessage
from app.privacy.models import AuditEntry
from app.reports.models import (
    ExtensionRequest,
    Report,
    ReportEvent,
    ReportFollow,
    ReportMedia,
)
from app.users.models import Membership, User


async def wipe(app: FastAPI) -> None:
    """Empty what these tests write, children first."""
    async with app.state.db.session(write=True) as s:
        for model in (
            AuditEntry,
            OutboxMessage,
            SubscribeConsent,
            ReportMedia,
            ReportEvent,
            ReportFollow,
            ExtensionRequest,
            Report,
            IdempotencyRecord,
            Media,
            Membership,
            User,
            Region,
            AppState,
            RateLimitBucket,
        ):
            await s.execute(delete(model))
        await s.commit()


def bearer(app: FastAPI, user: User) -> dict[str, str]:
    token = issue_token(
        app.state.settings, user_id=user.id, version=user.token_version, type="access"
    )
    return {"Authorization": f"Bearer {token}"}
