"""Drives the authorization matrix (tests/security/matrix.py): every operation
of the app's OpenAPI, every kind of caller, with real ids of objects that
belong to someone else. A route missing from the table fails here."""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.settings import Settings
from tests.security.matrix import CALLERS, ROWS, Req, Row
from tests.security.world import World, key_header, make_world

METHODS = ("get", "post", "put", "patch", "delete")


def operations(app: FastAPI) -> set[str]:
    """``METHOD /path`` of every operation the app documents now (not the
    committed openapi.json, which may lag behind the code)."""
    spec = app.openapi()
    return {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_operation_has_a_row(app: FastAPI) -> None:
    documented = operations(app)
    listed = [r.op for r in ROWS]
    duplicated = sorted({op for op in listed if listed.count(op) > 1})
    missing = sorted(documented - set(listed))
    stale = sorted(set(listed) - documented)
    assert not duplicated, f"operations listed twice in tests/security/matrix.py: {duplicated}"
    assert not missing, (
        "operations without a row in tests/security/matrix.py (say who may call them): "
        + ", ".join(missing)
    )
    assert not stale, f"rows for operations that no longer exist: {', '.join(stale)}"


def test_every_row_has_an_owner_or_is_public() -> None:
    """A row whose cells all refuse proves nothing unless someone succeeds."""
    for r in ROWS:
        if "ok" not in r.cells.values() and "hide" not in r.cells.values():
            assert r.owner, r.op


def _url(row: Row, req: Req) -> str:
    return row.template.format(**req.path)


async def _headers(world: World, row: Row, caller: str) -> dict[str, str]:
    users = {
        "res": world.intruder,
        "wrk": world.other_worker,
        "adm": world.other_admin,
        "str": world.street_admin,
    }
    if caller == "anon":
        return {}
    if row.own and (caller in users or caller == "resident"):
        return world.h(await world.stand_in(caller))
    if caller in users:
        return world.h(users[caller])
    if caller == "k-sc":
        return key_header(world.key_lacking(row.scope))
    if caller == "k-rg":
        return key_header(world.key_elsewhere)
    if caller == "key":
        return key_header(world.key)
    user = getattr(world, caller)
    return world.h(user)


async def _call(
    client: httpx.AsyncClient, world: World, row: Row, caller: str, req: Req
) -> httpx.Response:
    headers = await _headers(world, row, caller)
    params = dict(req.params or {})
    data = dict(req.data) if req.data is not None else None
    if row.template.startswith("/open311/") and "X-API-Key" in headers:
        # Open311 names the key ``api_key``: a query parameter, a form field on POST.
        key = headers.pop("X-API-Key")
        if data is not None:
            data["api_key"] = key
        else:
            params["api_key"] = key
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if req.json is not None:
        kwargs["json"] = req.json
    if req.files is not None:
        kwargs["files"] = req.files
    if data is not None:
        kwargs["data"] = data
    return await client.request(row.method, _url(row, req), **kwargs)


def _items(body: Any) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return body["items"]  # type: ignore[no-any-return]
    return []


def _ids(item: Any) -> set[Any]:
    if not isinstance(item, dict):
        return set()
    return {str(item.get(k)) for k in ("id", "service_request_id") if item.get(k) is not None}


def _verdict(expected: str, r: httpx.Response, req: Req) -> str | None:
    """Why ``r`` does not match ``expected``, or None."""
    if expected in ("ok", "hide"):
        if not 200 <= r.status_code < 300:
            return f"expected 2xx, got {r.status_code}: {r.text[:200]}"
        if expected == "hide":
            if req.hidden is None:
                return "a hide cell needs Req.hidden (the id that must not be listed)"
            leaked = [i for i in _items(r.json()) if str(req.hidden) in _ids(i)]
            if leaked:
                return f"listed an object outside the caller's scope (id {req.hidden})"
        return None
    if r.status_code != int(expected):
        return f"expected {expected}, got {r.status_code}: {r.text[:200]}"
    return None


@pytest.fixture
async def world(session: AsyncSession, settings: Settings, client: httpx.AsyncClient) -> World:
    return await make_world(session, settings, client)


def _rows(selected: str | None) -> list[Row]:
    if not selected:
        return ROWS
    return [r for r in ROWS if selected in r.op]


async def test_authorization_matrix(client: httpx.AsyncClient, world: World) -> None:
    failures: list[str] = []
    for row in _rows(os.environ.get("EJIAREN_MATRIX_ONLY")):
        shared = await row.build(world)
        cells = [(c, row.cells[c]) for c in CALLERS] + list(row.extra.items())
        cells += [(o, "ok") for o in row.owner]
        for caller, expected in cells:
            req = shared
            if (row.fresh and expected == "ok") or row.own:
                req = await row.build(world)
            r = await _call(client, world, row, caller, req)
            why = _verdict(expected, r, req)
            if why:
                failures.append(f"{row.op} as {caller}: {why}")
    assert not failures, "\n" + "\n".join(failures)
