"""Subscribe messages from case events, through the outbox and the fake WeChat."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from app.notify.models import SubscribeConsent
from app.outbox.models import OutboxMessage
from app.wechat.fake import FakeWeChatState, openid_for
from app.worker import run_once
from tests.auth.helpers import bearer, fake_wechat, wechat_login
from tests.factories import auth, make_staff, make_tree, make_user
from tests.reports.helpers import IN_GRID, act, submit, wgs

SUBS = "/api/v1/me/subscriptions"


def tmpl(settings: Settings, message_type: str) -> str:
    return settings.wechat_subscribe_templates[message_type].template_id


async def consent(
    client: httpx.AsyncClient, headers: dict[str, str], template_id: str, accepted: bool = True
) -> dict[str, Any]:
    r = await client.post(
        SUBS, headers=headers, json={"template_id": template_id, "accepted": accepted}
    )
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def sent_to(fake: FakeWeChatState, openid: str) -> list[dict[str, Any]]:
    return [m for m in fake.subscribe_messages if m["touser"] == openid]


async def _messages(session: AsyncSession) -> list[OutboxMessage]:
    return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_login_submit_worker_told_accept_resolve_resident_told(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    fake = fake_wechat(app)
    tree = await make_tree(session)
    worker = await make_staff(session, "grid_worker", tree.grid, name="王网格")
    hw = auth(settings, worker)
    r = await client.post("/api/v1/me/wechat", headers=hw, json={"code": "worker-wx"})
    assert r.status_code == 200, r.text
    await consent(client, hw, tmpl(settings, "task_new"))

    login = (await wechat_login(client, "resident-wx")).json()
    hr = bearer(login["access_token"])
    for message_type in ("report_dispatched", "report_resolved"):
        await consent(client, hr, tmpl(settings, message_type))

    r = await submit(client, hr, location=wgs(IN_GRID), description="楼道灯坏了，晚上很黑")
    assert r.status_code == 201, r.text
    report = r.json()
    assert report["status"] == "dispatched" and report["assignee"]["id"] == worker.id
    # Written with the case, nothing sent yet: only the worker delivers.
    assert fake.subscribe_messages == []
    assert {m.payload["type"] for m in await _messages(session)} == {
        "task_new",
        "report_dispatched",
    }

    await run_once(app.state)
    [new_case] = sent_to(fake, openid_for("worker-wx"))
    assert new_case["template_id"] == tmpl(settings, "task_new")
    assert new_case["data"]["character_string1"]["value"] == report["number"]
    assert new_case["data"]["thing3"]["value"] == "楼道灯坏了，晚上很黑"
    assert new_case["page"] == f"pages/report/detail?id={report['id']}"
    [dispatched] = sent_to(fake, openid_for("resident-wx"))
    assert dispatched["data"]["phrase3"]["value"] == "已派单"
    assert dispatched["data"]["thing5"]["value"] == "王网格"

    assert (await act(client, hw, report["id"], "accept")).status_code == 200
    r = await act(client, hw, report["id"], "resolve", {"note": "已更换灯泡"})
    assert r.status_code == 200, r.text
    await run_once(app.state)
    resident_messages = sent_to(fake, openid_for("resident-wx"))
    assert len(resident_messages) == 2
    resolved = resident_messages[1]
    assert resolved["template_id"] == tmpl(settings, "report_resolved")
    assert resolved["data"]["phrase3"]["value"] == "已办结"
    assert resolved["data"]["thing5"]["value"] == "已办结，请对处理结果进行评价"
    assert all(m.status == "sent" for m in await _messages(session))

    # Each consent allowed one message and was used.
    r = await client.get(SUBS, headers=hr)
    assert {i["template_id"]: i["remaining"] for i in r.json()["items"]} == {
        tmpl(settings, "report_dispatched"): 0,
        tmpl(settings, "report_resolved"): 0,
    }


async def test_no_consent_no_message_and_declining_resets(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    await make_staff(session, "grid_worker", tree.grid)
    resident = await make_user(session)
    h = auth(settings, resident)
    t = tmpl(settings, "report_dispatched")
    assert (await consent(client, h, t))["remaining"] == 1
    assert (await consent(client, h, t))["remaining"] == 2
    assert (await consent(client, h, t, accepted=False))["remaining"] == 0

    r = await submit(client, h, location=wgs(IN_GRID))
    assert r.status_code == 201
    assert [m.payload["user_id"] for m in await _messages(session)] == []

    await consent(client, h, t)
    r = await submit(client, h, location=wgs(IN_GRID), description="第二件事情需要处理")
    messages = await _messages(session)
    assert [(m.payload["type"], m.payload["user_id"]) for m in messages] == [
        ("report_dispatched", resident.id)
    ]


async def test_staff_without_wechat_get_nothing(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    tree = await make_tree(session)
    await make_staff(session, "grid_worker", tree.grid)  # no openid
    resident = await make_user(session, openid=None)
    r = await submit(client, auth(settings, resident), location=wgs(IN_GRID))
    assert r.status_code == 201
    assert await _messages(session) == []


async def test_no_consent_at_wechat_is_final_and_clears_the_count(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    fake = fake_wechat(app)
    tree = await make_tree(session)
    await make_staff(session, "grid_worker", tree.grid)
    resident = await make_user(session)
    h = auth(settings, resident)
    t = tmpl(settings, "report_dispatched")
    await consent(client, h, t)
    await consent(client, h, t)
    assert (await submit(client, h, location=wgs(IN_GRID))).status_code == 201
    assert resident.openid is not None
    fake.no_consent.add(resident.openid)  # the user turned subscriptions off in WeChat

    await run_once(app.state)
    [message] = await _messages(session)
    await session.refresh(message)
    assert message.status == "dead" and message.attempts == 1
    assert "43101" in (message.last_error or "")
    row = await session.get(SubscribeConsent, (resident.id, t))
    assert row is not None
    await session.refresh(row)
    assert row.remaining == 0
    await run_once(app.state)
    assert len(fake.calls("/cgi-bin/message/subscribe/send")) == 1, "43101 is not retried"


async def test_bad_data_is_retried_and_an_expired_token_is_refreshed_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    fake = fake_wechat(app)
    tree = await make_tree(session)
    await make_staff(session, "grid_worker", tree.grid)
    resident = await make_user(session)
    h = auth(settings, resident)
    await consent(client, h, tmpl(settings, "report_dispatched"))
    assert (await submit(client, h, location=wgs(IN_GRID))).status_code == 201
    send = "/cgi-bin/message/subscribe/send"

    fake.fail_next(errcode=47003, path=send)
    await run_once(app.state)
    [message] = await _messages(session)
    await session.refresh(message)
    assert message.status == "pending" and "47003" in (message.last_error or "")

    from datetime import timedelta

    from app.core import clock

    clock.set_now(message.next_attempt_at + timedelta(seconds=1))
    fake.expire_access_token()
    await run_once(app.state)
    await session.refresh(message)
    assert message.status == "sent" and message.attempts == 2
    calls = fake.calls(send)
    assert len(calls) == 3  # 47003, 42001, then the retry with the new token
    assert calls[1].params["access_token"] != calls[2].params["access_token"]


async def test_subscription_route_rejects_unknown_templates_and_bad_input(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    h = auth(settings, await make_user(session))
    r = await client.post(SUBS, headers=h, json={"template_id": "someone-elses", "accepted": True})
    assert r.status_code == 422 and r.json()["error"]["code"] == "notify.unknown_template"
    r = await client.post(SUBS, headers=h, json={"template_id": "", "accepted": "maybe"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = await client.post(SUBS, json={"template_id": "x", "accepted": True})
    assert r.status_code == 401


async def test_an_sos_tells_the_grid_leader_at_once(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    fake = fake_wechat(app)
    tree = await make_tree(session)
    worker = await make_staff(session, "grid_worker", tree.grid, name="王网格")
    leader = await make_staff(session, "grid_leader", tree.grid, name="周网格长")
    for user, code in ((worker, "sos-worker-wx"), (leader, "sos-leader-wx")):
        h = auth(settings, user)
        r = await client.post("/api/v1/me/wechat", headers=h, json={"code": code})
        assert r.status_code == 200, r.text
        await consent(client, h, tmpl(settings, "task_new"))
    resident = await make_user(session)

    r = await client.post(
        "/api/v1/reports",
        headers=auth(settings, resident),
        json={"kind": "sos", "category": "sos", "location": wgs(IN_GRID)},
    )
    assert r.status_code == 201, r.text
    assert r.json()["assignee"]["id"] == worker.id
    await run_once(app.state)
    [to_worker] = sent_to(fake, openid_for("sos-worker-wx"))
    [to_leader] = sent_to(fake, openid_for("sos-leader-wx"))
    assert to_worker["template_id"] == to_leader["template_id"] == tmpl(settings, "task_new")
    # An ordinary case does not disturb the leader.
    r = await submit(client, auth(settings, resident), location=wgs(IN_GRID))
    assert r.status_code == 201, r.text
    await consent(client, auth(settings, leader), tmpl(settings, "task_new"))
    await run_once(app.state)
    assert len(sent_to(fake, openid_for("sos-leader-wx"))) == 1
