"""API fuzzing with schemathesis, in a bounded mode: a fixed number of
deterministic examples per operation of the app's OpenAPI, sent by an
authenticated caller of each role through the test's rolled-back connection.

Every response must be no 5xx and must match the spec: a documented status
code, the documented content type, and a body that fits its schema.

The schema is the one the app builds now (``app.openapi()``), not the
committed openapi/openapi.json. Requests go through the test's own
``httpx.ASGITransport`` on the test's event loop (schemathesis' ASGI client
would run the app's lifespan in a thread on another loop, where the test's
database connection cannot follow). Runs on SQLite only: the rules under test
are the same on both databases, and CI time is better spent once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.settings import Settings
from app.main import create_app
from tests.security.world import World, key_header, make_world

EXAMPLES_PER_OPERATION = 4
# Each role sends the operation's first case (the schema's own example where
# there is one) and one of the others in turn: every role meets every operation,
# and the whole run stays bounded.
CASES_PER_ROLE = 2
BASE_URL = "http://testserver"
ROLES = ("resident", "grid_worker", "community_admin", "street_admin", "superadmin", "api_key")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Calls that end the caller's own session or account run last, so that the
# rest of the run keeps a working caller.
LAST = {("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/me")}

_cases: list[list[schemathesis.Case]] = []


def _collector(operation: Any, found: list[schemathesis.Case]) -> Any:
    @given(operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def collect(case: schemathesis.Case) -> None:
        found.append(case)

    return collect


def generate(spec: dict[str, Any]) -> list[list[schemathesis.Case]]:
    """``EXAMPLES_PER_OPERATION`` cases per operation: the schema's own examples
    first, then generated ones, derandomized (the same cases on every run) and
    without shrinking or a database of past failures."""
    schema = schemathesis.openapi.from_dict(spec)
    cases: list[list[schemathesis.Case]] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        found: list[schemathesis.Case] = []
        _collector(operation, found)()
        if found:
            cases.append(found[:EXAMPLES_PER_OPERATION])
    cases.sort(key=lambda c: (c[0].operation.method.upper(), c[0].operation.path) in LAST)
    return cases


def cases_for(app: FastAPI, role: str) -> list[schemathesis.Case]:
    """The role's share of the cases, operation by operation."""
    if not _cases:
        _cases.extend(generate(app.openapi()))
    turn = ROLES.index(role)
    out = []
    for found in _cases:
        picked = [found[0]] + [
            found[1 + (turn + k) % (len(found) - 1)]
            for k in range(CASES_PER_ROLE - 1)
            if len(found) > 1
        ]
        out.extend(picked)
    return out


@pytest.fixture
def fuzz_settings(settings: Settings) -> Settings:
    if settings.database_url.startswith("postgresql"):
        pytest.skip("fuzzing runs on SQLite only")
    # Rate limits are tested elsewhere; here they would only turn cases into 429s.
    return settings.model_copy(
        update={
            "rate_limit_api_key": "100000/minute",
            "rate_limit_login": "100000/minute",
            "rate_limit_reports": "100000/minute",
            "rate_limit_uploads": "100000/minute",
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def fuzz_app(
    fuzz_settings: Settings, bind_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    """The app as tests/conftest.py builds it, on the test's rolled-back connection."""
    application = create_app(fuzz_settings)
    db = application.state.db
    await db.engine.dispose()
    db.bind(bind_sessions)
    yield application
    await application.state.wechat.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def fuzz_client(fuzz_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fuzz_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        yield c


def accepts_key(case: schemathesis.Case) -> bool:
    security = case.operation.definition.raw.get("security") or []
    return any("APIKeyHeader" in scheme for scheme in security)


def credentials(world: World, role: str, case: schemathesis.Case) -> dict[str, str]:
    """The role's credentials. A key is sent only where the operation declares
    that it takes one, as a third party reading the spec would; the matrix in
    tests/security checks what happens elsewhere."""
    users = {
        "resident": world.resident,
        "grid_worker": world.worker,
        "community_admin": world.community_admin,
        "street_admin": world.street_admin,
        "superadmin": world.superadmin,
    }
    if role == "api_key":
        return key_header(world.key) if accepts_key(case) else {}
    return world.h(users[role])


def request_kwargs(case: schemathesis.Case, auth: dict[str, str]) -> dict[str, Any]:
    """What schemathesis would send, as httpx arguments, with the role's
    credentials in place of anything generated."""
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    headers = {
        k: v
        for k, v in (kwargs.get("headers") or {}).items()
        if k.lower() not in ("authorization", "x-api-key", "connection", "accept-encoding")
    }
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": {**headers, **auth},
        "params": kwargs.get("params") or None,
        "cookies": kwargs.get("cookies") or None,
    }
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, (bytes, str)):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    if kwargs.get("files") is not None:
        out["files"] = [(name, _part(value)) for name, value in kwargs["files"]]
    return out


def _part(value: Any) -> Any:
    """A multipart part as httpx takes it: requests also accepts numbers as content."""
    if isinstance(value, tuple):
        filename, content, *rest = value
        if not isinstance(content, (str, bytes)):
            content = str(content)
        return (filename, content, *rest)
    return value if isinstance(value, (str, bytes)) else str(value)


def describe(exc: BaseException) -> list[str]:
    if isinstance(exc, BaseExceptionGroup):
        return [line for sub in exc.exceptions for line in describe(sub)]
    title = getattr(exc, "title", type(exc).__name__)
    message = str(getattr(exc, "message", exc)).strip().splitlines()
    return [f"{title}: {message[0] if message else ''}"[:300]]


@pytest.mark.parametrize("role", ROLES)
async def test_fuzz_every_operation(
    role: str,
    fuzz_app: FastAPI,
    fuzz_client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
) -> None:
    world = await make_world(session, settings, fuzz_client)
    failures: dict[str, str] = {}
    for case in cases_for(fuzz_app, role):
        kwargs = request_kwargs(case, credentials(world, role, case))
        request = fuzz_client.build_request(**kwargs)
        await request.aread()  # the checks read the body that was sent
        response = await fuzz_client.send(request)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # one failure, or a group of them
            op = f"{case.operation.method.upper()} {case.operation.path}"
            for line in describe(exc):
                failures.setdefault(
                    f"{op} → {response.status_code} {line}",
                    f"{kwargs['method']} {response.request.url} {response.text[:200]}",
                )
    assert not failures, f"{len(failures)} failures as {role}:\n" + "\n".join(
        f"- {k}\n    {v}" for k, v in sorted(failures.items())
    )
