"""Imports every model so the metadata is complete (Alembic, tests)."""

from app.auth.models import UsedRefreshToken
from app.convenience.models import Booking, Service, ServicePoint, ServiceSlot
from app.core.models import AppState, IdempotencyRecord, RateLimitBucket
from app.integrations.models import ApiClient, Open311Request, Webhook, WebhookDelivery  # noqa: F401
from app.media.models import Media
from app.notify.models import SubscribeConsent
from app.org.models import Department, Region
from app.outbox.models import OutboxMessage
from app.policies.models import Policy, PolicyTag, PolicyTerm
from app.privacy.models import AuditEntry
from app.reports.models import (
    Category,
    ExtensionRequest,
    Holiday,
    Report,
    ReportEvent,
    ReportFollow,
    ReportMedia,
)
from app.users.models import Membership, User

__all__ = [
    "AppState",
    "AuditEntry",
    "UsedRefreshToken",
    "Booking",
    "Policy",
    "PolicyTag",
    "PolicyTerm",
    "Service",
    "ServicePoint",
    "ServiceSlot",
    "SubscribeConsent",
    "Category",
    "Department",
    "ExtensionRequest",
    "Holiday",
    "IdempotencyRecord",
    "Media",
    "Membership",
    "OutboxMessage",
    "RateLimitBucket",
    "Region",
    "Report",
    "ReportEvent",
    "ReportFollow",
    "ReportMedia",
    "User",
]
