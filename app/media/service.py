"""Photos: storing an upload, who may read a photo, and the public shape with
fresh signed URLs. Other domains (reports) use ``load_owned_media``,
``media_read`` and ``can_read_media``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import anyio
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import STAFF_ROLES, Principal
from app.core import clock
from app.core.errors import Invalid, NotFound
from app.core.settings import Settings
from app.media import images, signing
from app.media.models import Media
from app.media.schemas import MediaRead
from app.media.storage import Storage, content_key
from app.reports.models import Report, ReportMedia

# Photos on one report or one event (the mini-program's picker allows 9).
MAX_MEDIA_PER_ITEM = 9

# Decoding a 40 MP PNG takes ~160 MB and a second of CPU: a few at a time per
# process keeps memory bounded; more uploads wait for a slot.
_IMAGE_JOBS = anyio.CapacityLimiter(2)

# Department staff see cases by department ownership, not by the region
# their department sits in (DESIGN §11).
_REGION_ROLES = STAFF_ROLES - {"department_staff"}


def media_not_found() -> NotFound:
    return NotFound("media.not_found", "图片不存在")


def media_read(media: Media, settings: Settings) -> MediaRead:
    """The public shape of ``media``, with URLs signed now. Callers have already
    decided that the viewer may see it."""
    exp = signing.expiry(clock.now())
    return MediaRead(
        id=media.id,
        url=signing.signed_url(settings, media.id, "full", exp),
        thumbnail_url=signing.signed_url(settings, media.id, "thumb", exp),
        width=media.width,
        height=media.height,
        sha256=media.sha256,
        expires_at=datetime.fromtimestamp(exp, UTC),
    )


async def find_upload(session: AsyncSession, *, owner_id: int, sha256: str) -> Media | None:
    """The caller's earlier upload of the same bytes, if any."""
    return await session.scalar(
        select(Media).where(Media.owner_id == owner_id, Media.sha256 == sha256)
    )


async def create_upload(
    session: AsyncSession, *, storage: Storage, owner_id: int, data: bytes, sha256: str
) -> Media:
    """Check and re-encode ``data`` (off the event loop), store the files and add
    the row. A concurrent upload of the same bytes by the same caller that
    commits first wins; its row is returned."""
    processed = await anyio.to_thread.run_sync(images.process, data, limiter=_IMAGE_JOBS)
    full_key = content_key(processed.full.data, processed.full.extension)
    thumb_key = content_key(processed.thumb.data, processed.thumb.extension)

    def _store() -> None:
        storage.put(full_key, processed.full.data)
        storage.put(thumb_key, processed.thumb.data)

    # Files first: a row never points at a missing file. A rollback after this
    # leaves unreferenced files, which the worker removes after a grace period
    # (``app.media.cleanup``).
    await anyio.to_thread.run_sync(_store)
    media = Media(
        owner_id=owner_id,
        sha256=sha256,
        content_type=processed.full.content_type,
        width=processed.full.width,
        height=processed.full.height,
        size_bytes=len(processed.full.data),
        storage_key=full_key,
        thumb_key=thumb_key,
    )
    try:
        async with session.begin_nested():
            session.add(media)
    except IntegrityError:
        existing = await find_upload(session, owner_id=owner_id, sha256=sha256)
        if existing is None:
            raise
        return existing
    return media


async def get_media(session: AsyncSession, media_id: int) -> Media:
    media = await session.get(Media, media_id)
    if media is None:
        raise media_not_found()
    return media


async def get_readable_media(session: AsyncSession, principal: Principal, media_id: int) -> Media:
    """The media if the caller may see it; 404 otherwise, so existence never leaks."""
    media = await session.get(Media, media_id)
    if media is None or not await can_read_media(session, principal, media):
        raise media_not_found()
    return media


async def load_owned_media(
    session: AsyncSession, *, owner_id: int, media_ids: list[int]
) -> list[Media]:
    """The caller's own uploads, in the order given, for attaching to a report or
    an event. An id that is unknown or someone else's is 404 ``media.not_found``
    (the two look the same); more than 9, or one id twice, is 422."""
    if not media_ids:
        return []
    if len(media_ids) > MAX_MEDIA_PER_ITEM:
        raise Invalid(
            "media.too_many",
            f"最多上传 {MAX_MEDIA_PER_ITEM} 张图片",
            details={"max": MAX_MEDIA_PER_ITEM, "given": len(media_ids)},
        )
    repeated = sorted(i for i, n in Counter(media_ids).items() if n > 1)
    if repeated:
        raise Invalid("media.duplicate", "同一张图片不能重复添加", details={"media_ids": repeated})
    rows = await session.scalars(
        select(Media).where(Media.id.in_(media_ids), Media.owner_id == owner_id)
    )
    by_id = {m.id: m for m in rows}
    missing = [i for i in media_ids if i not in by_id]
    if missing:
        raise NotFound(
            "media.not_found", "图片不存在或不属于当前用户", details={"media_ids": missing}
        )
    return [by_id[i] for i in media_ids]


async def can_read_media(session: AsyncSession, principal: Principal, media: Media) -> bool:
    """Who may see a photo: its uploader; and, for every report it is attached
    to, that report's reporter and current assignee, staff whose region scope
    covers the report, and staff of the department that owns it."""
    if media.owner_id == principal.id:
        return True
    rows = await session.execute(
        select(
            Report.reporter_id,
            Report.assignee_id,
            Report.region_path,
            Report.owner_department_id,
        )
        .join(ReportMedia, ReportMedia.report_id == Report.id)
        .where(ReportMedia.media_id == media.id)
    )
    departments = {
        g.department_id
        for g in principal.grants
        if g.role == "department_staff" and g.department_id is not None
    }
    for reporter_id, assignee_id, region_path, department_id in rows:
        if principal.id in (reporter_id, assignee_id):
            return True
        if principal.covers(region_path, roles=_REGION_ROLES):
            return True
        if department_id is not None and department_id in departments:
            return True
    return False
