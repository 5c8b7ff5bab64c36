"""Personal information (PIPL): export, deletion by anonymisation, masked
reporter details with an audited contact read for handlers, and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.convenience.models import Booking, Service, ServicePoint, ServiceSlot
from app.core import clock
from app.core.settings import Settings
from app.media.models import Media
from app.privacy.models import AuditEntry
from app.reports.models import Report
from app.users.models import User
from tests.reports.helpers import IN_GRID, World, act, jpeg_bytes, make_world, submit, upload, wgs


@pytest.fixture
async def world(session: AsyncSession, settings: Settings) -> World:
    return await make_world(session, settings)


async def _case(client: httpx.AsyncClient, w: World) -> int:
    r = await submit(client, w.h(w.resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == w.worker.id
    return int(r.json()["id"])


async def test_reporter_is_masked_for_staff_and_whole_for_themselves(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    rid = await _case(client, w)
    mine = (await client.get(f"/api/v1/reports/{rid}", headers=w.h(w.resident))).json()
    assert mine["reporter"]["name"] == "张居民"
    assert mine["reporter"]["phone_masked"] == "139****5678"
    # The resident acts again later in the case (a rating): the timeline names
    # them as the reporter field does.
    for action in ("accept", "resolve"):
        assert (
            await act(client, w.h(w.worker), rid, action, {"note": "已处理"})
        ).status_code == 200
    r = await act(client, w.h(w.resident), rid, "rating", {"score": "satisfied"})
    assert r.status_code == 200, r.text
    mine = (await client.get(f"/api/v1/reports/{rid}", headers=w.h(w.resident))).json()
    assert [e["actor"]["name"] for e in mine["timeline"] if e["type"] in ("created", "rated")] == [
        "张居民",
        "张居民",
    ]
    for staff in (w.worker, w.community_admin, w.street_admin):
        seen = (await client.get(f"/api/v1/reports/{rid}", headers=w.h(staff))).json()
        assert seen["reporter"]["name"] != "张居民" and seen["reporter"]["name"].startswith("张")
        assert "13912345678" not in str(seen)
        assert "张居民" not in str(seen)  # nowhere: not in the timeline either
        assert "王网格" in str(seen)  # staff names stay whole


async def test_the_handler_reads_the_contact_and_it_is_audited(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    w = world
    rid = await _case(client, w)
    r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(w.worker))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "report_id": rid,
        "user_id": w.resident.id,
        "name": "张居民",
        "phone": "13912345678",
        "address": None,
    }
    entries = list(
        await session.scalars(select(AuditEntry).where(AuditEntry.resource == f"report:{rid}"))
    )
    assert [(e.actor_id, e.subject_id, e.action) for e in entries] == [
        (w.worker.id, w.resident.id, "report.reporter_contact")
    ]
    # Staff who can see the case but do not handle it may not read the contact.
    for staff in (w.community_admin, w.street_admin, w.leader):
        r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(staff))
        assert r.status_code == 403, (staff.name, r.text)
        assert r.json()["error"]["code"] == "report.not_handler"
    # Outside the case's scope: it does not exist.
    for outsider in (w.other_resident, w.far_worker, w.other_community_admin):
        r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(outsider))
        assert r.status_code == 404, r.text
    # The reporter reading their own contact is not an audited staff read.
    r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(w.resident))
    assert r.status_code == 200 and r.json()["phone"] == "13912345678"
    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1


async def test_a_queued_case_can_be_called_by_the_community_admin(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    rid = await _case(client, w)
    r = await act(client, w.h(w.worker), rid, "return", {"reason": "不属于本网格"})
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(w.community_admin))
    assert r.status_code == 200, r.text
    r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(w.worker))
    assert r.status_code == 403


async def test_audit_log_is_scoped_paged_and_filtered(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    ids = [await _case(client, w) for _ in range(3)]
    for rid in ids:
        r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(w.worker))
        assert r.status_code == 200
    r = await client.get("/api/v1/admin/audit-log?limit=2", headers=w.h(w.community_admin))
    assert r.status_code == 200, r.text
    page = r.json()
    assert [e["resource"] for e in page["items"]] == [f"report:{ids[2]}", f"report:{ids[1]}"]
    assert page["next_cursor"]
    r = await client.get(
        "/api/v1/admin/audit-log",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=w.h(w.community_admin),
    )
    assert [e["resource"] for e in r.json()["items"]] == [f"report:{ids[0]}"]
    assert r.json()["next_cursor"] is None
    r = await client.get(
        "/api/v1/admin/audit-log",
        params={"actor_id": w.worker.id, "subject_id": w.resident.id},
        headers=w.h(w.street_admin),
    )
    assert len(r.json()["items"]) == 3
    assert r.json()["items"][0]["action"] == "report.reporter_contact"
    # Another community's admin sees none of it; non-admins may not ask.
    r = await client.get("/api/v1/admin/audit-log", headers=w.h(w.other_community_admin))
    assert r.status_code == 200 and r.json()["items"] == []
    for user in (w.worker, w.resident):
        r = await client.get("/api/v1/admin/audit-log", headers=w.h(user))
        assert r.status_code == 403
    r = await client.get("/api/v1/admin/audit-log")
    assert r.status_code == 401
    r = await client.get("/api/v1/admin/audit-log?from=yesterday", headers=w.h(w.street_admin))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


async def test_export_holds_everything_about_me_and_nothing_secret(
    client: httpx.AsyncClient, world: World
) -> None:
    w = world
    rid = await _case(client, w)
    photo = await upload(client, w.h(w.resident))
    r = await client.get(f"/api/v1/reports/{rid}/reporter-contact", headers=w.h(w.worker))
    assert r.status_code == 200
    r = await client.get("/api/v1/me/export", headers=w.h(w.resident))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["profile"]["id"] == w.resident.id
    assert data["profile"]["phone"] == "13912345678"
    assert "password_hash" not in data["profile"] and "token_version" not in data["profile"]
    assert [x["id"] for x in data["reports"]] == [rid]
    assert {e["report_id"] for e in data["report_events"]} == {rid}
    assert [m["id"] for m in data["media"]] == [photo["id"]]
    assert "sig=" in data["media"][0]["urls"]["url"]
    assert [a["actor_id"] for a in data["access_log"]] == [w.worker.id]
    assert data["bookings"] == [] and data["follows"] == []
    r = await client.get("/api/v1/me/export")
    assert r.status_code == 401


async def _booking(session: AsyncSession, user: User, start: datetime) -> Booking:
    service = Service(
        name="老年证办理",
        category="民政",
        description="办理老年证",
        materials=[],
        where_text="便民服务站",
        hours="工作日",
        bookable=True,
        errand=False,
        region_path="/",
        active=True,
    )
    point = ServicePoint(
        name="便民服务站",
        type="便民服务站",
        lat=35.0,
        lng=112.9,
        address="街道1号",
        opening_hours=[],
        open_on_holidays=False,
        region_path="/",
        active=True,
    )
    session.add_all([service, point])
    await session.flush()
    slot = ServiceSlot(
        service_id=service.id,
        point_id=point.id,
        start_at=start,
        end_at=start + timedelta(hours=1),
        capacity=5,
        booked=1,
    )
    session.add(slot)
    await session.flush()
    booking = Booking(slot_id=slot.id, user_id=user.id, status="booked")
    session.add(booking)
    await session.flush()
    return booking


async def test_delete_me_anonymises_and_keeps_the_cases(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    w = world
    rid = await _case(client, w)
    kept_photo = await upload(client, w.h(w.resident))
    r = await submit(
        client,
        w.h(w.resident),
        location=wgs(IN_GRID),
        media_ids=[kept_photo["id"]],
        description="路灯不亮已经一周了",
    )
    assert r.status_code == 201, r.text

    loose_photo = await upload(client, w.h(w.resident), jpeg_bytes((1, 2, 3)))
    future = await _booking(session, w.resident, clock.now() + timedelta(days=2))
    r = await client.post(f"/api/v1/reports/{rid}/follow", headers=w.h(w.other_resident))
    headers = w.h(w.resident)

    r = await client.delete("/api/v1/me", headers=headers)
    assert r.status_code == 204, r.text
    # The old tokens are revoked.
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    await session.refresh(w.resident)
    u = w.resident
    assert (u.name, u.phone, u.openid, u.address, u.home_grid_id) == (None, None, None, None, None)
    assert u.nickname == "已注销用户" and u.deleted_at is not None and u.disabled
    # The cases stay, counted as before.
    count = await session.scalar(
        select(func.count()).select_from(Report).where(Report.reporter_id == u.id)
    )
    assert count == 2
    # The future booking is cancelled and its seat freed.
    await session.refresh(future)
    assert future.status == "cancelled"
    slot = await session.get(ServiceSlot, future.slot_id)
    assert slot is not None
    await session.refresh(slot)
    assert slot.booked == 0
    # The photo on a case stays; the loose one goes.
    assert await session.get(Media, kept_photo["id"]) is not None
    session.expunge_all()
    assert await session.get(Media, loose_photo["id"]) is None
    # Staff still handle the case; the reporter shows as deleted.
    seen = (await client.get(f"/api/v1/reports/{rid}", headers=w.h(w.worker))).json()
    assert seen["reporter"]["phone_masked"] is None


async def test_staff_cannot_delete_themselves(client: httpx.AsyncClient, world: World) -> None:
    r = await client.delete("/api/v1/me", headers=world.h(world.worker))
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "me.staff_account"
    r = await client.delete("/api/v1/me")
    assert r.status_code == 401


async def test_a_deleted_resident_logging_in_again_is_a_new_account(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/v1/auth/wechat/login", json={"code": "pipl-again"})
    assert r.status_code == 200
    first = r.json()["user"]["id"]
    token = r.json()["access_token"]
    r = await client.delete("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 204
    r = await client.post("/api/v1/auth/wechat/login", json={"code": "pipl-again"})
    assert r.status_code == 200 and r.json()["user"]["id"] != first


async def test_export_lists_consents_and_leaves_out_token_bookkeeping(
    client: httpx.AsyncClient,
) -> None:
    r = await client.post("/api/v1/auth/wechat/login", json={"code": "pipl-export-2"})
    tokens = r.json()
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.post(
        "/api/v1/me/subscriptions",
        headers=headers,
        json={"template_id": "dev-tmpl-report-resolved", "accepted": True},
    )
    assert r.status_code == 200, r.text
    data = (await client.get("/api/v1/me/export", headers=headers)).json()
    assert [c["template_id"] for c in data["subscribe_consent"]] == ["dev-tmpl-report-resolved"]
    assert "used_refresh_token" not in data


async def test_delete_me_removes_subscription_consents(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    from app.notify.models import SubscribeConsent

    r = await client.post("/api/v1/auth/wechat/login", json={"code": "pipl-consents"})
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    uid = r.json()["user"]["id"]
    r = await client.post(
        "/api/v1/me/subscriptions",
        headers=headers,
        json={"template_id": "dev-tmpl-report-resolved", "accepted": True},
    )
    assert r.status_code == 200, r.text
    consents = (
        select(func.count()).select_from(SubscribeConsent).where(SubscribeConsent.user_id == uid)
    )
    assert await session.scalar(consents) == 1
    r = await client.delete("/api/v1/me", headers=headers)
    assert r.status_code == 204
    assert await session.scalar(consents) == 0
