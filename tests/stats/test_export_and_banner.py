"""The Excel export opens with openpyxl and holds what the API says; the public
banner needs no login, is cacheable for a minute and is cached per process."""

from __future__ import annotations

import io
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import clock
from app.core.settings import Settings
from tests.reports.helpers import act
from tests.stats.helpers import NOW, WINDOW, Fixed, make_fixed


@pytest.fixture
async def fixed(
    client: httpx.AsyncClient, app: FastAPI, session: AsyncSession, settings: Settings
) -> Fixed:
    return await make_fixed(client, app, session, settings)


async def test_export_xlsx(client: httpx.AsyncClient, fixed: Fixed) -> None:
    w = fixed.world
    r = await client.get(
        "/api/v1/stats/export.xlsx",
        params={"region_id": w.tree.street.id, **WINDOW},
        headers=w.h(w.street_admin),
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="ejiaren-stats.xlsx"' in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == (
        "诉求统计_太行怀庆街道_2026-10-01至2026-12-01.xlsx"
    )

    wb = load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames == ["汇总", "按街道", "按社区", "按网格", "按网格员", "按类别"]
    ws = wb["汇总"]
    assert ws["A2"].value == "统计区域" and ws["B2"].value == "太行怀庆街道"
    assert ws["A3"].value == "时间范围"
    assert ws["B3"].value == "2026-10-01 至 2026-12-01（不含），北京时间"
    headers = [c.value for c in ws[6]]
    assert headers[:4] == ["范围", "受理量", "按时签收", "响应率"]
    row = {h: c for h, c in zip(headers, ws[7], strict=True)}
    assert row["受理量"].value == 7
    assert row["办结率"].value == pytest.approx(0.7143)
    assert row["办结率"].number_format == "0.00%"
    assert row["满意率"].value == pytest.approx(0.6667)
    assert row["响应中位数（分钟）"].value == 25.0

    grids = wb["按网格"]
    headers = [c.value for c in grids[6]]
    assert headers[:3] == ["网格ID", "网格", "受理量"]
    rows = {r[1].value: r for r in grids.iter_rows(min_row=7)}
    assert set(rows) == {"第一网格", "第二网格", "第三网格"}
    on_time = headers.index("按时办结率")
    # 第三网格 resolved nothing: the on-time rate is an empty cell, not 0 %.
    assert rows["第三网格"][on_time].value is None
    assert rows["第一网格"][on_time].value == 1.0
    assert rows["第一网格"][on_time].number_format == "0.00%"
    workers = {r[1].value for r in wb["按网格员"].iter_rows(min_row=7)}
    assert {"王网格", "李网格", "赵网格", "周网格长", "无经办人（在队列中）"} <= workers
    categories = {r[0].value: r[2].value for r in wb["按类别"].iter_rows(min_row=7)}
    assert categories["environment"] == 7


async def test_names_in_the_export_are_text_never_formulas(
    client: httpx.AsyncClient, session: AsyncSession, fixed: Fixed
) -> None:
    """A staff, grid or region name that begins like a formula stays text: the
    file is opened by supervisors in Excel, which would run it."""
    w = fixed.world
    w.worker.name = '=HYPERLINK("http://x","点我")'
    w.tree.grid.name = "+SUM(1,1)"
    w.tree.street.name = "@街道"
    await session.flush()
    r = await client.get(
        "/api/v1/stats/export.xlsx",
        params={"region_id": w.tree.street.id, **WINDOW},
        headers=w.h(w.street_admin),
    )
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    cells = [
        cell
        for ws in wb.worksheets
        for row in ws.iter_rows()
        for cell in row
        if isinstance(cell.value, str) and cell.value[:1] in "=+-@"
    ]
    values = {cell.value for cell in cells}
    assert {w.worker.name, "+SUM(1,1)", "@街道"} <= values
    assert all(cell.data_type == "s" for cell in cells), [
        (cell.coordinate, cell.value, cell.data_type) for cell in cells if cell.data_type != "s"
    ]


async def test_control_characters_in_names_do_not_break_the_export(
    client: httpx.AsyncClient, session: AsyncSession, fixed: Fixed
) -> None:
    """An Excel file is XML: a control character in one name (saved through the
    staff or category forms, or an import) made every export of the region a 500."""
    w = fixed.world
    w.worker.name = "李\u0001秀英"
    w.tree.grid.name = "沁水湾\u0008网格"
    await session.flush()
    r = await client.get(
        "/api/v1/stats/export.xlsx",
        params={"region_id": w.tree.street.id, **WINDOW},
        headers=w.h(w.street_admin),
    )
    assert r.status_code == 200, r.text
    wb = load_workbook(io.BytesIO(r.content))
    values = {cell.value for ws in wb.worksheets for row in ws.iter_rows() for cell in row}
    assert {"李秀英", "沁水湾网格"} <= values


async def test_export_outside_scope_is_404(client: httpx.AsyncClient, fixed: Fixed) -> None:
    w = fixed.world
    r = await client.get(
        "/api/v1/stats/export.xlsx",
        params={"region_id": w.tree.community.id},
        headers=w.h(w.other_community_admin),
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"


async def test_banner_needs_no_login_and_is_cached(
    client: httpx.AsyncClient, fixed: Fixed, app: FastAPI
) -> None:
    w = fixed.world
    # All time, the whole district: 9 counted cases (K and L too), handled
    # A B C F G = 5 → 5/9; rated A C G, satisfied A C → 2/3. Residents: the
    # district is the root, so all of them (the two of the world).
    r = await client.get("/api/v1/public/banner", params={"region_id": w.tree.district.id})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "public, max-age=60"
    assert r.json() == {
        "registered_users": 2,
        "handled": 5,
        "completion_rate": 0.5556,
        "satisfaction_rate": 0.6667,
    }
    # The street: only residents whose home grid lies in it (张居民, in g1).
    r = await client.get("/api/v1/public/banner", params={"region_id": w.tree.street.id})
    assert r.json()["registered_users"] == 1
    # Community B: E only, nothing handled, nothing rated.
    r = await client.get("/api/v1/public/banner", params={"region_id": w.tree.other_community.id})
    assert r.json() == {
        "registered_users": 0,
        "handled": 0,
        "completion_rate": 0.0,
        "satisfaction_rate": None,
    }

    # A rating now changes the figures, but the banner keeps its cached answer
    # for the minute it promised; a fresh process (app) sees the change.
    clock.set_now(NOW)
    r = await act(client, w.h(w.resident), fixed.ids["F"], "rating", {"score": "satisfied"})
    assert r.status_code == 200, r.text
    r = await client.get("/api/v1/public/banner", params={"region_id": w.tree.district.id})
    assert r.json()["satisfaction_rate"] == 0.6667
    app.state.stats_banner_cache.clear()
    r = await client.get("/api/v1/public/banner", params={"region_id": w.tree.district.id})
    assert r.json()["satisfaction_rate"] == 0.75


async def test_banner_unknown_region_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/public/banner", params={"region_id": 987_654_321})
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "region.not_found"
    r = await client.get("/api/v1/public/banner", params={"region_id": "x"})
    assert r.status_code == 422
