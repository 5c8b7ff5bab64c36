"""The ``ejiaren`` command, run as an operator runs it: a separate process
with its settings in ``EJIAREN_`` variables, on an empty database of the kind
under test (a SQLite file, or a new PostgreSQL database)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.db import make_engine
from app.core.migrations import current_revisions, head_revisions
from app.core.security import verify_password
from app.core.settings import Settings
from app.org.models import Region
from app.users.models import Membership, User
from tests.core.scratch_db import scratch_database_url

__all__ = ["scratch_database_url"]

_SCRIPT = Path(sys.executable).with_name("ejiaren")
# The console script of pyproject.toml when installed, else the same entry point.
EJIAREN = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "app.cli"]

# Import files on a lattice near 郑州, away from the demo street near 沁阳.
LNG, LAT = 113.60, 34.70


def _env(url: str, tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EJIAREN_")}
    env.update(
        EJIAREN_DATABASE_URL=url,
        EJIAREN_MEDIA_DIR=str(tmp / "media"),
        COLUMNS="200",  # one line per message, whatever the terminal
        **extra,
    )
    return env


async def ejiaren(url: str, tmp: Path, *args: str, **extra: str) -> tuple[int, str]:
    proc = await asyncio.to_thread(
        subprocess.run,
        [*EJIAREN, *args],
        cwd=tmp,
        env=_env(url, tmp, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=120,
    )
    return proc.returncode, proc.stdout.decode(errors="replace")


def _cell(col: int, name: str, **props: Any) -> dict[str, Any]:
    x0, x1 = round(LNG + col / 100, 2), round(LNG + (col + 1) / 100, 2)
    y0, y1 = LAT, round(LAT + 0.01, 2)
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {
        "type": "Feature",
        "properties": {
            "district": "中原区",
            "street": "林山寨街道",
            "community": "建设路社区",
            "grid": name,
            **props,
        },
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def _write(tmp: Path, name: str, *features: dict[str, Any]) -> Path:
    path = tmp / name
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


async def _scalar(engine: AsyncEngine, statement: Any) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(statement)).scalar_one()


async def test_db_upgrade_create_admin_and_import_grids(
    settings: Settings, scratch_database_url: str, tmp_path: Path
) -> None:
    url = scratch_database_url
    code, out = await ejiaren(url, tmp_path, "db", "upgrade")
    assert code == 0, out
    engine = make_engine(settings.model_copy(update={"database_url": url}))
    try:
        assert await current_revisions(engine) == head_revisions()

        # create-admin: a superadmin who can log in; run again, the same account, new password.
        code, out = await ejiaren(
            url, tmp_path, "create-admin", "--username", "ops", "--password", "first-pass-1"
        )
        assert code == 0, out
        code, out = await ejiaren(
            url, tmp_path, "create-admin", "--username", "ops", "--password", "second-pass-2"
        )
        assert code == 0, out
        async with engine.connect() as conn:
            [(user_id, password_hash)] = (
                await conn.execute(
                    select(User.id, User.password_hash).where(User.username == "ops")
                )
            ).all()
            roles = (
                await conn.execute(
                    select(Membership.role, Membership.region_id).where(
                        Membership.user_id == user_id
                    )
                )
            ).all()
        assert [tuple(r) for r in roles] == [("superadmin", None)]
        assert verify_password("second-pass-2", password_hash)
        assert not verify_password("first-pass-1", password_hash)

        # import-grids: created; then one updated, one unchanged, none duplicated.
        first = _write(tmp_path, "grids.geojson", _cell(0, "一网格"), _cell(1, "二网格"))
        code, out = await ejiaren(url, tmp_path, "import-grids", str(first))
        assert code == 0, out
        assert "│ 2    │ 0    │ 0    │ 2" in out, out
        changed = _write(
            tmp_path, "changed.geojson", _cell(0, "一网格", households=420), _cell(1, "二网格")
        )
        code, out = await ejiaren(url, tmp_path, "import-grids", str(changed))
        assert code == 0 and "│ 0    │ 1    │ 1    │ 2" in out, out
        grids = select(func.count()).select_from(Region).where(Region.level == "grid")
        assert await _scalar(engine, grids) == 2
        households = select(Region.households).where(Region.name == "一网格")
        assert await _scalar(engine, households) == 420

        # A bad feature refuses the whole file, naming the feature; nothing is written.
        bad = _cell(3, "三网格")
        bad["geometry"]["coordinates"][0].pop()  # an unclosed ring
        refused = _write(tmp_path, "bad.geojson", _cell(2, "新网格"), bad)
        code, out = await ejiaren(url, tmp_path, "import-grids", str(refused))
        assert code == 1, out
        assert "features[1]" in out and "regions.unclosed_ring" in out, out
        (tmp_path / "broken.geojson").write_text("{not json", encoding="utf-8")
        code, out = await ejiaren(url, tmp_path, "import-grids", str(tmp_path / "broken.geojson"))
        assert code == 2 and "不是有效的 JSON" in out, out
        assert await _scalar(engine, grids) == 2
    finally:
        await engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_demo_worker_and_serve(scratch_database_url: str, tmp_path: Path) -> None:
    url = scratch_database_url
    code, out = await ejiaren(url, tmp_path, "demo")  # migrates, then seeds
    assert code == 0, out
    assert "demo-resident-1" in out and "worker11" in out, out
    code, out = await ejiaren(url, tmp_path, "worker", "--once")
    assert code == 0, out

    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *EJIAREN,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            cwd=tmp_path,
            env=_env(url, tmp_path),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            for _ in range(300):
                assert proc.returncode is None, log_path.read_text()
                try:
                    if (await c.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(log_path.read_text())
            r = await c.post(
                "/api/v1/auth/password/login", json={"username": "admin", "password": "demo1234"}
            )
            assert r.status_code == 200, r.text
            r = await c.get(
                "/api/v1/grids/locate", params={"lat": 35.0815, "lng": 112.932, "coord": "wgs84"}
            )
            assert r.status_code == 200, r.text
            assert r.json()["grid"]["name"] == "沁水湾小区网格"
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()
    text = log_path.read_text()
    assert f"Uvicorn running on http://127.0.0.1:{port}" in text, text
    assert "ejiaren.access: POST /api/v1/auth/password/login 200" in text, text


async def test_prod_refuses_to_start_with_default_secrets(
    scratch_database_url: str, tmp_path: Path
) -> None:
    code, out = await ejiaren(
        scratch_database_url,
        tmp_path,
        "serve",
        "--port",
        str(_free_port()),
        EJIAREN_ENV="prod",
        EJIAREN_JWT_SECRET="refused-short-secret",
    )
    assert code == 2, out
    assert "生产环境拒绝启动" in out and "EJIAREN_MEDIA_URL_SECRET" in out, out
    assert "refused-short-secret" not in out and "Traceback" not in out, out
    assert "Uvicorn running" not in out, out


PROD = {
    "EJIAREN_ENV": "prod",
    "EJIAREN_JWT_SECRET": "j" * 48,
    "EJIAREN_MEDIA_URL_SECRET": "m" * 40,
    "EJIAREN_WECHAT_APPID": "wx123",
    "EJIAREN_WECHAT_SECRET": "s" * 32,
    "EJIAREN_METRICS_TOKEN": "t" * 32,
}


@pytest.mark.parametrize("command", [("demo",), ("serve", "--demo")])
async def test_demo_data_is_refused_in_prod_before_the_database_is_touched(
    settings: Settings, scratch_database_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    url = scratch_database_url
    code, out = await ejiaren(url, tmp_path, *command, **PROD)
    assert code == 2, out
    assert "生产环境不能写入演示数据" in out, out
    assert "迁移" not in out and "Uvicorn running" not in out, out
    engine = make_engine(settings.model_copy(update={"database_url": url}))
    try:
        assert await current_revisions(engine) == set()  # not migrated
    finally:
        await engine.dispose()
