"""Who may call what: one row per operation of the OpenAPI, one column per kind
of caller (DESIGN §11, API.md "Conventions").

Columns, in this order:

- ``anon``    no credentials at all;
- ``res``     resident A acting on resident B's objects;
- ``wrk``     the grid worker of another grid (g2) of the same community;
- ``adm``     the admin of another community of the same street;
- ``str``     the street admin over the object (allowed where DESIGN says);
- ``k-sc``    an API key over the object's region without the scope the route
              needs (with every scope, where the route takes no key);
- ``k-rg``    an API key with every scope over another district.

Cells:

- ``ok``      2xx: the caller may act;
- ``hide``    2xx, but the response lists nothing of the object (a list route
              filtered to the caller's scope);
- ``401`` ``403`` ``404``  refused with that status (outside the scope is 404
              so that existence never leaks; a route not for the role is 403;
              no credentials 401). Open311 answers an unusable key with 403,
              as its spec does, and a case outside the key's region with 400.
- ``409``     refused by a rule about the caller's own account (staff may not
              delete themselves).
- ``422``     a key files a case outside its region (``api_key.outside_region``).

``owner`` names the callers who must succeed with the same request (a
``World`` user, or ``key`` for a key with every scope over the street), so a
refusal in the row is about authority, never about a bad request. ``fresh``
marks actions that consume their object: each allowed cell gets a new one.
``extra`` adds cells for other ``World`` users where the columns say too little
(routes for district-level roles: the district admin of another district).
``scope`` is the scope a key needs on the route. ``own`` marks routes where
callers act on their own account (logout, deletion): each user column is then
played by a fresh user of the same kind, so the world's callers survive.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tests.reports.helpers import IN_GRID, gcj, jpeg_bytes, wgs
from tests.security.world import World

CALLERS = ("anon", "res", "wrk", "adm", "str", "k-sc", "k-rg")
OUTCOMES = frozenset({"ok", "hide", "400", "401", "403", "404", "409", "422"})


@dataclass
class Req:
    path: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] | None = None
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    # For ``hide`` cells: the id that must not appear among the listed items.
    hidden: Any = None


Build = Callable[[World], Awaitable[Req]]


@dataclass(frozen=True)
class Row:
    op: str
    cells: dict[str, str]
    owner: tuple[str, ...]
    build: Build
    scope: str | None
    fresh: bool
    own: bool
    extra: dict[str, str]

    @property
    def method(self) -> str:
        return self.op.split(" ", 1)[0]

    @property
    def template(self) -> str:
        return self.op.split(" ", 1)[1]


def row(
    op: str,
    cells: str,
    build: Build,
    *,
    owner: str | tuple[str, ...] = (),
    scope: str | None = None,
    fresh: bool = False,
    own: bool = False,
    extra: dict[str, str] | None = None,
) -> Row:
    values = cells.split()
    assert len(values) == len(CALLERS), f"{op}: {len(values)} cells for {len(CALLERS)} callers"
    assert set(values) <= OUTCOMES, f"{op}: unknown outcome in {values}"
    owners = (owner,) if isinstance(owner, str) else owner
    for value in (extra or {}).values():
        assert value in OUTCOMES, f"{op}: unknown outcome {value}"
    cells_ = dict(zip(CALLERS, values, strict=True))
    return Row(op, cells_, owners, build, scope, fresh, own, extra or {})


# ---------------------------------------------------------------- request builders


def static(**kw: Any) -> Build:
    async def build(w: World) -> Req:
        return Req(**kw)

    return build


NONE = static()


def on_report(
    state: str = "in_progress",
    body: Any = None,
    *,
    kind: str = "issue",
    default: bool = False,
) -> Build:
    """A report of resident B in grid g1, in ``state``; ``default`` uses the
    world's shared in-progress report (for reads)."""

    async def build(w: World) -> Req:
        if default:
            rid = w.report_id
        elif kind == "consultation":
            rid = (
                await w.answered_consultation()
                if state == "resolved"
                else await w.report(state, kind="consultation")
            )
        else:
            rid = await w.report(state)
        payload = body(w) if callable(body) else body
        return Req(path={"report_id": rid}, json=payload, hidden=rid)

    return build


async def _extension(w: World) -> Req:
    rid = await w.report("extension")
    return Req(path={"report_id": rid, "ext_id": w.cache[f"ext:{rid}"]}, json={"approve": True})


async def _report_list(w: World) -> Req:
    return Req(hidden=w.report_id)


async def _media(w: World) -> Req:
    return Req(path={"media_id": w.media_id})


async def _media_file(w: World) -> Req:
    return Req(path={"media_id": w.media_id}, params=await w.signed_file(w.media_id))


def _policy(publish: bool, body: Any = None) -> Build:
    async def build(w: World) -> Req:
        return Req(path={"policy_id": await w.policy(publish=publish)}, json=body)

    return build


async def _shared_policy(w: World) -> Req:
    return Req(path={"policy_id": w.policy_id})


async def _policy_list(w: World) -> Req:
    return Req(hidden=w.policy_id)


async def _booking(w: World) -> Req:
    return Req(path={"booking_id": await w.booking()})


async def _booking_due(w: World) -> Req:
    """A booking whose slot starts within the hour, so check-in is open."""
    return Req(path={"booking_id": await w.booking(soon=True)})


async def _new_booking(w: World) -> Req:
    return Req(json={"slot_id": await w.new_slot()})


async def _slot_bookings(w: World) -> Req:
    return Req(path={"slot_id": w.slot.id})


async def _service(w: World) -> Req:
    return Req(path={"service_id": w.service.id})


async def _service_list(w: World) -> Req:
    return Req(hidden=w.service.id)


async def _service_patch(w: World) -> Req:
    return Req(path={"service_id": w.service.id}, json={"hours": "工作日 09:00–17:00"})


async def _point_patch(w: World) -> Req:
    return Req(path={"point_id": w.point.id}, json={"phone": "0391-5550000"})


async def _new_slot(w: World) -> Req:
    from datetime import timedelta

    from app.core import clock

    start = clock.now() + timedelta(days=3, minutes=len(w.cache))
    w.cache[f"slot:{start}"] = True
    return Req(
        path={"service_id": w.service.id},
        json={
            "point_id": w.point.id,
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(minutes=30)).isoformat(),
            "capacity": 5,
            # Any hour of the real clock: who may publish is what is tested here.
            "outside_hours": True,
        },
    )


async def _new_service(w: World) -> Req:
    return Req(
        json={
            "name": "高龄津贴申领",
            "category": "社会保障",
            "description": "80 周岁以上老人按月领取高龄津贴",
            "materials": ["身份证"],
            "where": "社区党群服务中心",
            "hours": "工作日",
            "bookable": False,
            "errand": False,
            "region_id": w.tree.community.id,
        }
    )


async def _new_point(w: World) -> Req:
    lng, lat = IN_GRID
    return Req(
        json={
            "name": "玉溪苑暖心驿站",
            "type": "暖心驿站",
            "location": wgs((lng, lat)),
            "address": "玉溪苑小区北门",
            "opening_hours": [{"weekday": 1, "open": "08:30", "close": "17:30"}],
            "open_on_holidays": False,
            "region_id": w.tree.community.id,
        }
    )


async def _new_policy(w: World) -> Req:
    return Req(
        json={
            "title": "高龄津贴发放办法",
            "body": "年满八十周岁的老人按月领取高龄津贴。",
            "category": "养老服务",
            "region_id": w.tree.community.id,
        }
    )


async def _new_staff(w: World) -> Req:
    n = len(w.cache)
    w.cache[f"staff:{n}"] = True
    return Req(
        json={
            "username": f"matrix{n}x{w.tree.grid.id}",
            "password": "grid-pass-2026",
            "name": "新网格员",
            "role": "grid_worker",
            "region_id": w.tree.other_grid.id,
        }
    )


async def _staff(w: World) -> Req:
    return Req(path={"user_id": w.target_staff.id}, json={"on_duty": False})


async def _staff_list(w: World) -> Req:
    return Req(params={"region_id": w.tree.other_grid.id}, hidden=w.target_staff.id)


async def _grant_role(w: World) -> Req:
    user_id, _ = await w.staff_role()
    return Req(
        path={"user_id": user_id},
        json={"role": "grid_worker_part", "region_id": w.tree.grid.id},
    )


async def _revoke_role(w: World) -> Req:
    user_id, role_id = await w.staff_role()
    return Req(path={"user_id": user_id, "role_id": role_id})


async def _audit_list(w: World) -> Req:
    """The entry written when the case's handler reads the reporter's phone."""
    from sqlalchemy import func, select

    from app.privacy.models import AuditEntry

    r = await w.client.get(f"/api/v1/reports/{w.report_id}/reporter-contact", headers=w.h(w.worker))
    assert r.status_code == 200, r.text
    entry = await w.session.scalar(select(func.max(AuditEntry.id)))
    return Req(hidden=entry)


async def _department(w: World) -> Req:
    return Req(path={"department_id": w.department.id})


async def _department_list(w: World) -> Req:
    return Req(hidden=w.department.id)


async def _new_department(w: World) -> Req:
    n = len(w.cache)
    w.cache[f"dept:{n}"] = True
    return Req(json={"name": f"住建局{n}", "region_id": w.tree.community.id, "category_codes": []})


async def _import(w: World) -> Req:
    n = len(w.cache)
    w.cache[f"import:{n}"] = True
    lng, lat = 112.90 + 0.002 * n, 35.05
    ring = [[lng, lat], [lng + 0.001, lat], [lng + 0.001, lat + 0.001], [lng, lat + 0.001]]
    return Req(
        json={
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {
                        "district": w.tree.district.name,
                        "street": w.tree.street.name,
                        "community": w.tree.community.name,
                        "grid": f"新增网格{n}",
                    },
                    "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
                }
            ],
        }
    )


def _category_body() -> Build:
    async def build(w: World) -> Req:
        n = len(w.cache)
        w.cache[f"cat:{n}"] = True
        return Req(json={"code": f"matrix_{n}", "name": f"测试类别{n}", "kind": "issue"})

    return build


async def _holiday(w: World) -> Req:
    return Req(path={"date": w.holiday()}, json={"is_workday": False, "name": "防汛停工"})


async def _holiday_delete(w: World) -> Req:
    from app.reports.models import Holiday

    day = w.holiday()
    from datetime import date

    w.session.add(Holiday(day_date=date.fromisoformat(day), is_workday=False, name="测试"))
    await w.session.flush()
    return Req(path={"date": day})


async def _api_client_list(w: World) -> Req:
    return Req(hidden=w.api_client.id)


async def _api_client(w: World) -> Req:
    return Req(path={"client_id": await w.fresh_client()})


async def _new_api_client(w: World) -> Req:
    return Req(
        json={"name": "12345 热线", "scopes": ["reports:read"], "region_id": w.tree.community.id}
    )


async def _webhook(w: World) -> Req:
    client_id = await w.fresh_client()
    r = await w.client.post(
        f"/api/v1/admin/api-clients/{client_id}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["report.created"]},
        headers=w.h(w.district_admin),
    )
    assert r.status_code == 201, r.text
    return Req(path={"client_id": client_id, "webhook_id": r.json()["id"]})


async def _new_webhook(w: World) -> Req:
    return Req(
        path={"client_id": await w.fresh_client()},
        json={"url": "http://127.0.0.1:9/hook", "events": ["report.created"]},
    )


async def _dead_message(w: World) -> Req:
    return Req(path={"message_id": await w.dead_message()})


def _stats(**params: Any) -> Build:
    async def build(w: World) -> Req:
        return Req(params={"region_id": w.tree.community.id, **params})

    return build


async def _new_report(w: World) -> Req:
    return Req(
        json={
            "kind": "issue",
            "category": "environment",
            "description": "楼道里堆满杂物，存在消防隐患",
            "location": gcj(IN_GRID),
        }
    )


async def _bind_code(w: World) -> Req:
    n = len(w.cache)
    w.cache[f"bind:{n}"] = True
    return Req(json={"code": f"matrix-bind-{n}"})


async def _login(w: World) -> Req:
    """Logging in is for anyone who holds the credentials, whoever else calls."""
    return Req(json={"username": w.login_user.username, "password": w.login_password})


async def _refresh(w: World) -> Req:
    from app.core.security import issue_token

    user = w.login_user
    token = issue_token(w.settings, user_id=user.id, version=user.token_version, type="refresh")
    return Req(json={"refresh_token": token})


async def _open311_token(w: World) -> Req:
    """A request's token: the spec lets anyone who holds it look it up. Our
    services answer a POST with the id (they are realtime), so the token is
    the one stored with the request."""
    if "open311-token" not in w.cache:
        from sqlalchemy import select

        from app.integrations.models import Open311Request

        req = await _open311_post(w)
        r = await w.client.post(
            "/open311/v2/requests.json", data={**(req.data or {}), "api_key": w.key}
        )
        assert r.status_code == 201, r.text
        rid = int(r.json()[0]["service_request_id"])
        w.cache["open311-token"] = await w.session.scalar(
            select(Open311Request.token).where(Open311Request.report_id == rid)
        )
    return Req(path={"format": "json", "token": w.cache["open311-token"]})


async def _upload(w: World) -> Req:
    return Req(files={"file": ("photo.jpg", jpeg_bytes((1, 2, 3)), "image/jpeg")})


def _open311(path: dict[str, Any] | None = None) -> Build:
    async def build(w: World) -> Req:
        return Req(path={"format": "json", **(path or {})})

    return build


async def _open311_list(w: World) -> Req:
    return Req(path={"format": "json"}, hidden=w.report_id)


async def _open311_request(w: World) -> Req:
    return Req(path={"format": "json", "service_request_id": w.report_id})


async def _open311_post(w: World) -> Req:
    lng, lat = IN_GRID
    return Req(
        path={"format": "json"},
        data={
            "service_code": "environment",
            "lat": str(lat),
            "long": str(lng),
            "description": "路灯坏了好几天，晚上很黑",
        },
    )


# ---------------------------------------------------------------- the table

R = "/api/v1/reports/{report_id}"

# fmt: off
ROWS: list[Row] = [
    # -- service ---------------------------------------------------------------- anon res  wrk  adm  str  k-sc k-rg
    row("GET /healthz",                                                 "ok   ok   ok   ok   ok   ok   ok",   NONE),
    row("GET /readyz",                                                  "ok   ok   ok   ok   ok   ok   ok",   NONE),
    row("GET /metrics",                                                 "ok   ok   ok   ok   ok   ok   ok",   NONE),
    # -- auth: anyone may try to log in; the credentials decide ---------------
    row("POST /api/v1/auth/wechat/login",                               "ok   ok   ok   ok   ok   ok   ok",   static(json={"code": "matrix-resident"})),
    row("POST /api/v1/auth/password/login",                             "ok   ok   ok   ok   ok   ok   ok",   _login, fresh=True),
    row("POST /api/v1/auth/refresh",                                    "ok   ok   ok   ok   ok   ok   ok",   _refresh, fresh=True),
    row("POST /api/v1/auth/logout",                                     "401  ok   ok   ok   ok   403  403",  NONE, own=True),
    # -- me: every user acts on themselves only ------------------------------
    row("GET /api/v1/me",                                               "401  ok   ok   ok   ok   403  403",  NONE, owner="resident"),
    row("DELETE /api/v1/me",                                            "401  ok   409  409  409  403  403",  NONE, own=True),
    row("PATCH /api/v1/me",                                             "401  ok   ok   ok   ok   403  403",  static(json={"nickname": "老王"}), owner="resident"),
    row("POST /api/v1/me/wechat",                                       "401  403  ok   ok   ok   403  403",  _bind_code, own=True),
    row("POST /api/v1/me/phone",                                        "401  ok   ok   ok   ok   403  403",  static(json={"code": "matrix-phone"}), owner="resident"),
    row("GET /api/v1/me/export",                                        "401  ok   ok   ok   ok   403  403",  NONE, owner="resident"),
    row("GET /api/v1/me/subscriptions",                                 "401  ok   ok   ok   ok   403  403",  NONE, owner="resident"),
    row("POST /api/v1/me/subscriptions",                                "401  ok   ok   ok   ok   403  403",  static(json={"template_id": "dev-tmpl-report-resolved", "accepted": True}), owner="resident"),
    # -- staff -----------------------------------------------------------------
    row("POST /api/v1/admin/staff",                                     "401  403  403  404  ok   403  403",  _new_staff, owner="community_admin", fresh=True),
    row("GET /api/v1/admin/staff",                                      "401  403  403  404  ok   403  403",  _staff_list, owner="community_admin"),
    row("GET /api/v1/admin/staff/{user_id}",                            "401  403  403  404  ok   403  403",  _staff, owner="community_admin"),
    row("PATCH /api/v1/admin/staff/{user_id}",                          "401  403  403  404  ok   403  403",  _staff, owner="community_admin"),
    row("POST /api/v1/admin/staff/{user_id}/roles",                     "401  403  403  404  ok   403  403",  _grant_role, owner="community_admin", fresh=True),
    row("DELETE /api/v1/admin/staff/{user_id}/roles/{role_id}",         "401  403  403  404  ok   403  403",  _revoke_role, owner="community_admin", fresh=True),
    row("GET /api/v1/admin/audit-log",                                  "401  403  403  hide ok   403  403",  _audit_list, owner="community_admin"),
    # -- regions and departments -----------------------------------------------
    row("POST /api/v1/admin/regions/import",                            "401  403  403  403  403  403  403",  _import, owner="district_admin", fresh=True),
    row("GET /api/v1/regions/tree",                                     "ok   ok   ok   ok   ok   ok   ok",   NONE),
    row("GET /api/v1/grids/locate",                                     "ok   ok   ok   ok   ok   ok   ok",   static(params=wgs(IN_GRID))),
    row("GET /api/v1/admin/departments",                                "401  403  403  hide ok   403  403",  _department_list, owner="community_admin"),
    row("POST /api/v1/admin/departments",                               "401  403  403  404  ok   403  403",  _new_department, owner="community_admin", fresh=True),
    row("GET /api/v1/admin/departments/{department_id}",                "401  403  403  404  ok   403  403",  _department, owner="community_admin"),
    # -- categories and holidays: global configuration -------------------------
    row("GET /api/v1/categories",                                       "ok   ok   ok   ok   ok   ok   ok",   NONE),
    row("GET /api/v1/admin/categories",                                 "401  403  403  ok   ok   403  403",  NONE, owner="community_admin"),
    row("POST /api/v1/admin/categories",                                "401  403  403  403  403  403  403",  _category_body(), owner="superadmin", extra={"district_admin": "403"}, fresh=True),
    row("PATCH /api/v1/admin/categories/{code}",                        "401  403  403  403  403  403  403",  static(path={"code": "environment"}, json={"response_sla_minutes": 60}), owner="superadmin", extra={"district_admin": "403"}),
    row("GET /api/v1/admin/holidays",                                   "401  403  403  ok   ok   403  403",  NONE, owner="community_admin"),
    row("PUT /api/v1/admin/holidays/{date}",                            "401  403  403  403  403  403  403",  _holiday, owner="superadmin", extra={"district_admin": "403"}, fresh=True),
    row("DELETE /api/v1/admin/holidays/{date}",                         "401  403  403  403  403  403  403",  _holiday_delete, owner="superadmin", extra={"district_admin": "403"}, fresh=True),
    # -- media -----------------------------------------------------------------
    row("POST /api/v1/media",                                           "401  ok   ok   ok   ok   403  403",  _upload, owner="resident"),
    row("GET /api/v1/media/{media_id}",                                 "401  404  404  404  ok   403  403",  _media, owner=("resident",)),
    # A signed URL is a capability: whoever holds it reads the file.
    row("GET /api/v1/media/{media_id}/file",                            "ok   ok   ok   ok   ok   ok   ok",   _media_file),
    # -- reports: resident ---------------------------------------------------
    row("POST /api/v1/reports",                                         "401  ok   ok   ok   ok   403  422",   _new_report, owner=("resident", "key"), scope="reports:write"),
    row("GET /api/v1/reports/mine",                                     "401  hide hide hide hide 403  403",  _report_list, owner="resident"),
    row("GET /api/v1/reports/following",                                "401  hide hide hide hide 403  403",  _report_list, owner="resident"),
    row("GET /api/v1/reports/nearby",                                   "401  ok   ok   ok   ok   403  403",  static(params={**gcj(IN_GRID), "category": "environment"}), owner="resident"),
    row(f"GET {R}",                                                     "401  404  404  404  ok   403  404",  on_report(default=True), owner=("resident", "worker", "key"), scope="reports:read"),
    row(f"POST {R}/rating",                                             "401  404  404  404  403  403  403",  on_report("resolved", {"score": "satisfied"}), owner="resident", fresh=True),
    row(f"POST {R}/reopen",                                             "401  404  404  404  403  403  403",  on_report("resolved", {"reason": "问题又出现了"}), owner="resident", fresh=True),
    row(f"POST {R}/cancel",                                             "401  404  404  404  403  403  403",  on_report("dispatched"), owner="resident", fresh=True),
    row(f"POST {R}/follow",                                             "401  ok   403  403  403  403  403",  on_report(default=True), owner="intruder"),
    row(f"DELETE {R}/follow",                                           "401  ok   ok   ok   ok   403  403",  on_report(default=True), owner="intruder"),
    row(f"POST {R}/helpful",                                            "401  404  404  404  403  403  403",  on_report("resolved", kind="consultation"), owner="resident", fresh=True),
    row(f"GET {R}/reporter-contact",                                    "401  404  404  404  403  403  403",  on_report(default=True), owner="worker"),
    # -- reports: worker -------------------------------------------------------
    row("GET /api/v1/worker/tasks",                                     "401  403  hide hide ok   403  403",  _report_list, owner="worker"),
    row(f"POST {R}/accept",                                             "401  403  404  404  403  403  403",  on_report("dispatched"), owner="worker", fresh=True),
    row(f"POST {R}/progress",                                           "401  403  404  404  403  403  403",  on_report("in_progress", {"note": "已联系环卫"}), owner="worker", fresh=True),
    row(f"POST {R}/resolve",                                            "401  403  404  404  403  403  403",  on_report("in_progress", {"note": "已清运完毕"}), owner="worker", fresh=True),
    row(f"POST {R}/answer",                                             "401  403  404  404  ok   403  403",  on_report("dispatched", {"note": "到社区办理"}, kind="consultation"), owner="worker", fresh=True),
    row(f"POST {R}/return",                                             "401  403  404  404  403  403  403",  on_report("dispatched", {"reason": "不属于本网格"}), owner="worker", fresh=True),
    row(f"GET {R}/escalation-targets",                                 "401  403  404  404  403  403  403",  on_report("in_progress"), owner="worker", fresh=True),
    row(f"POST {R}/escalate",                                           "401  403  404  404  403  403  403",  on_report("in_progress", {"reason": "需社区协调", "to": "community"}), owner="worker", fresh=True),
    row(f"POST {R}/extension",                                          "401  403  404  404  403  403  403",  on_report("in_progress", {"hours": 24, "reason": "等待配件"}), owner="worker", fresh=True),
    row(f"POST {R}/transfer",                                           "401  403  404  404  ok   403  403",  on_report("dispatched", lambda w: {"assignee_id": w.leader.id, "reason": "网格长处理"}), owner="worker", fresh=True),
    # -- reports: admin ----------------------------------------------------------
    row("GET /api/v1/admin/reports",                                    "401  403  403  hide ok   403  hide", _report_list, owner=("community_admin", "key"), scope="reports:read"),
    row(f"POST {R}/dispatch",                                           "401  403  404  404  ok   403  403",  on_report("submitted", lambda w: {"assignee_id": w.worker.id}), owner="community_admin", fresh=True),
    row(f"POST {R}/reject",                                             "401  403  404  404  ok   403  403",  on_report("dispatched", {"reason": "重复提交"}), owner="community_admin", fresh=True),
    row("POST /api/v1/reports/{report_id}/extension/{ext_id}/decision", "401  403  404  404  ok   403  403",  _extension, owner="community_admin", fresh=True),
    row(f"POST {R}/supervise",                                          "401  403  404  404  ok   403  403",  on_report("in_progress", {"note": "请尽快处理"}), owner="community_admin"),
    row("POST /api/v1/admin/reports/{report_id}/review",                "401  403  403  404  ok   403  403",  on_report("review", {"approve": True}), owner="community_admin", fresh=True),
    # -- figures ---------------------------------------------------------------
    row("GET /api/v1/stats/summary",                                    "401  403  404  404  ok   403  404",  _stats(), owner=("community_admin", "key"), scope="stats:read"),
    row("GET /api/v1/stats/breakdown",                                  "401  403  404  404  ok   403  404",  _stats(by="grid"), owner=("community_admin", "key"), scope="stats:read"),
    row("GET /api/v1/stats/trend",                                      "401  403  404  404  ok   403  404",  _stats(interval="day"), owner=("community_admin", "key"), scope="stats:read"),
    row("GET /api/v1/stats/ranking",                                    "401  403  404  404  ok   403  404",  _stats(level="grid"), owner=("community_admin", "key"), scope="stats:read"),
    row("GET /api/v1/stats/export.xlsx",                                "401  403  404  404  ok   403  404",  _stats(), owner=("community_admin", "key"), scope="stats:read"),
    row("GET /api/v1/public/banner",                                    "ok   ok   ok   ok   ok   ok   ok",   _stats()),
    # -- policies --------------------------------------------------------------
    row("GET /api/v1/policies",                                         "ok   ok   ok   ok   ok   403  hide", _policy_list, owner="key", scope="policies:read"),
    row("GET /api/v1/policies/suggest",                                 "ok   ok   ok   ok   ok   403  ok",   static(params={"q": "医保"}), owner="key", scope="policies:read"),
    row("GET /api/v1/policies/categories",                              "ok   ok   ok   ok   ok   403  ok",   NONE, owner="key", scope="policies:read"),
    row("GET /api/v1/policies/{policy_id}",                             "ok   ok   ok   ok   ok   403  ok ",  _shared_policy, owner="key", scope="policies:read"),
    row("GET /api/v1/admin/policies",                                   "401  403  403  hide ok   403  403",  _policy_list, owner="community_admin"),
    row("POST /api/v1/admin/policies",                                  "401  403  403  404  ok   403  403",  _new_policy, owner="community_admin"),
    row("GET /api/v1/admin/policies/{policy_id}",                       "401  403  403  404  ok   403  403",  _shared_policy, owner="community_admin"),
    row("PATCH /api/v1/admin/policies/{policy_id}",                     "401  403  403  404  ok   403  403",  _policy(False, {"tags": ["医保", "门诊"]}), owner="community_admin"),
    row("POST /api/v1/admin/policies/{policy_id}/publish",              "401  403  403  404  ok   403  403",  _policy(False), owner="community_admin", fresh=True),
    row("POST /api/v1/admin/policies/{policy_id}/archive",              "401  403  403  404  ok   403  403",  _policy(True), owner="community_admin", fresh=True),
    # -- convenience services ----------------------------------------------------
    row("GET /api/v1/services",                                         "ok   ok   ok   ok   ok   403  ok",   NONE, owner="key", scope="services:read"),
    row("GET /api/v1/services/categories",                              "ok   ok   ok   ok   ok   403  ok",   NONE, owner="key", scope="services:read"),
    row("GET /api/v1/services/{service_id}",                            "ok   ok   ok   ok   ok   403  ok",   _service, owner="key", scope="services:read"),
    row("GET /api/v1/services/{service_id}/slots",                      "ok   ok   ok   ok   ok   403  ok",   _service, owner="key", scope="services:read"),
    row("GET /api/v1/service-points/nearby",                            "ok   ok   ok   ok   ok   403  ok",   static(params=gcj(IN_GRID)), owner="key", scope="services:read"),
    row("GET /api/v1/admin/services",                                   "401  403  403  hide ok   403  403",  _service_list, owner="community_admin"),
    row("POST /api/v1/admin/services",                                  "401  403  403  404  ok   403  403",  _new_service, owner="community_admin"),
    row("PATCH /api/v1/admin/services/{service_id}",                    "401  403  403  404  ok   403  403",  _service_patch, owner="community_admin"),
    row("POST /api/v1/admin/service-points",                            "401  403  403  404  ok   403  403",  _new_point, owner="community_admin"),
    row("PATCH /api/v1/admin/service-points/{point_id}",                "401  403  403  404  ok   403  403",  _point_patch, owner="community_admin"),
    row("POST /api/v1/admin/services/{service_id}/slots",               "401  403  404  404  ok   403  403",  _new_slot, owner="community_admin", fresh=True),
    row("GET /api/v1/admin/slots/{slot_id}/bookings",                   "401  403  404  404  ok   403  403",  _slot_bookings, owner="community_admin"),
    row("POST /api/v1/bookings",                                        "401  ok   ok   ok   ok   403  403",  _new_booking, owner="resident", fresh=True),
    row("GET /api/v1/bookings/mine",                                    "401  ok   ok   ok   ok   403  403",  NONE, owner="resident"),
    row("POST /api/v1/bookings/{booking_id}/cancel",                    "401  404  404  404  404  403  403",  _booking, owner="resident", fresh=True),
    row("POST /api/v1/bookings/{booking_id}/check-in",                  "401  403  404  404  ok   403  403",  _booking_due, owner="community_admin", fresh=True),
    # -- third parties -----------------------------------------------------------
    row("POST /api/v1/admin/api-clients",                               "401  403  403  403  403  403  403",  _new_api_client, owner="district_admin", extra={"other_district_admin": "404"}),
    row("GET /api/v1/admin/api-clients",                                "401  403  403  403  403  403  403",  _api_client_list, owner="district_admin", extra={"other_district_admin": "hide"}),
    row("GET /api/v1/admin/api-clients/{client_id}",                    "401  403  403  403  403  403  403",  _api_client, owner="district_admin", extra={"other_district_admin": "404"}),
    row("DELETE /api/v1/admin/api-clients/{client_id}",                 "401  403  403  403  403  403  403",  _api_client, owner="district_admin", fresh=True, extra={"other_district_admin": "404"}),
    row("POST /api/v1/admin/api-clients/{client_id}/webhooks",          "401  403  403  403  403  403  403",  _new_webhook, owner="district_admin", extra={"other_district_admin": "404"}),
    row("GET /api/v1/admin/api-clients/{client_id}/webhooks",           "401  403  403  403  403  403  403",  _webhook, owner="district_admin", extra={"other_district_admin": "404"}),
    row("DELETE /api/v1/admin/api-clients/{client_id}/webhooks/{webhook_id}", "401  403  403  403  403  403  403", _webhook, owner="district_admin", fresh=True, extra={"other_district_admin": "404"}),
    row("POST /api/v1/admin/api-clients/{client_id}/webhooks/{webhook_id}/rotate-secret", "401  403  403  403  403  403  403", _webhook, owner="district_admin", extra={"other_district_admin": "404"}),
    row("GET /api/v1/admin/api-clients/{client_id}/webhooks/{webhook_id}/deliveries", "401  403  403  403  403  403  403", _webhook, owner="district_admin", extra={"other_district_admin": "404"}),
    row("GET /api/v1/admin/outbox",                                     "401  403  403  403  403  403  403",  NONE, owner="superadmin", extra={"district_admin": "403"}),
    row("POST /api/v1/admin/outbox/{message_id}/retry",                 "401  403  403  403  403  403  403",  _dead_message, owner="superadmin", fresh=True, extra={"district_admin": "403"}),
    # -- Open311 GeoReport v2: its own spec, ``api_key`` -------------------------
    row("GET /open311/v2/discovery.{format}",                           "ok   ok   ok   ok   ok   ok   ok",   _open311()),
    row("GET /open311/v2/services.{format}",                            "ok   ok   ok   ok   ok   ok   ok",   _open311()),
    row("GET /open311/v2/services/{service_code}.{format}",             "ok   ok   ok   ok   ok   ok   ok",   _open311({"service_code": "environment"})),
    row("GET /open311/v2/requests.{format}",                            "403  403  403  403  403  403  hide", _open311_list, owner="key", scope="reports:read"),
    row("POST /open311/v2/requests.{format}",                           "403  403  403  403  403  403  400",  _open311_post, owner="key", scope="reports:write"),
    row("GET /open311/v2/requests/{service_request_id}.{format}",       "403  403  403  403  403  403  404",  _open311_request, owner="key", scope="reports:read"),
    row("GET /open311/v2/tokens/{token}.{format}",                      "ok   ok   ok   ok   ok   ok   ok",   _open311_token),
]
# fmt: on
