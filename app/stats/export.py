"""The Excel export: a summary sheet and one sheet per breakdown, headers in
Chinese, rates formatted as percentages, the window and region on top."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from app.core.clock import SHANGHAI
from app.core.textguard import xml_safe
from app.stats.breakdowns import By, Item

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PERCENT = "0.00%"

# (field, header, kind): kind "count", "rate" (a percentage) or "number".
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("received", "受理量", "count"),
    ("accepted_on_time", "按时签收", "count"),
    ("response_rate", "响应率", "rate"),
    ("resolved", "办结数", "count"),
    ("completion_rate", "办结率", "rate"),
    ("resolved_on_time", "按时办结", "count"),
    ("on_time_rate", "按时办结率", "rate"),
    ("rated", "已评价", "count"),
    ("satisfied", "满意（含基本满意）", "count"),
    ("satisfaction_rate", "满意率", "rate"),
    ("reopened", "重办数", "count"),
    ("ever_resolved", "曾办结数", "count"),
    ("reopen_rate", "重办率", "rate"),
    ("overdue_open", "超期未办结", "count"),
    ("avg_response_minutes", "平均响应（分钟）", "number"),
    ("median_response_minutes", "响应中位数（分钟）", "number"),
    ("avg_resolve_hours", "平均办结（小时）", "number"),
    ("median_resolve_hours", "办结中位数（小时）", "number"),
)

SHEET_ORDER: tuple[By, ...] = ("street", "community", "grid", "worker", "category")
SHEETS: tuple[tuple[By, str, str], ...] = (
    ("street", "按街道", "街道"),
    ("community", "按社区", "社区"),
    ("grid", "按网格", "网格"),
    ("worker", "按网格员", "网格员"),
    ("category", "按类别", "类别"),
)


@dataclass(frozen=True)
class ExportHeader:
    region_name: str
    start: datetime | None
    end: datetime | None
    as_of: datetime


def _when(value: datetime | None, open_text: str) -> str:
    if value is None:
        return open_text
    local = value.astimezone(SHANGHAI)
    if (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0):
        return f"{local:%Y-%m-%d}"
    return f"{local:%Y-%m-%d %H:%M}"


def window_text(start: datetime | None, end: datetime | None) -> str:
    return f"{_when(start, '不限')} 至 {_when(end, '不限')}（不含），北京时间"


def _put(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """One cell. Text is always stored as text: a name that begins with ``=``
    (``+``, ``-``, ``@``) would otherwise be a live formula, run by whoever
    opens the file (formula injection through a staff, grid or category name).
    Characters an XML file cannot hold (a control character in a name) are
    dropped: openpyxl refuses them, and the export would fail for everyone."""
    if isinstance(value, str):
        value = xml_safe(value)
    cell = ws.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"
    return cell


def _top(ws: Worksheet, title: str, header: ExportHeader) -> int:
    ws.append([xml_safe(title)])
    ws["A1"].font = Font(bold=True, size=14)
    _put(ws, 2, 1, "统计区域")
    _put(ws, 2, 2, header.region_name)
    ws.append(["时间范围", window_text(header.start, header.end)])
    ws.append(["统计时刻", f"{header.as_of.astimezone(SHANGHAI):%Y-%m-%d %H:%M}（超期数按此时刻）"])
    # Row 5 stays blank; the table starts on row 6.
    return 6


def _row(ws: Worksheet, row: int, first: Sequence[Any], values: dict[str, Any]) -> None:
    for col, value in enumerate(first, start=1):
        _put(ws, row, col, value)
    offset = len(first)
    for i, (field, _, kind) in enumerate(COLUMNS, start=offset + 1):
        cell = ws.cell(row=row, column=i, value=values[field])
        if kind == "rate":
            cell.number_format = PERCENT
        elif kind == "number":
            cell.number_format = "0.00"


def _headers(ws: Worksheet, row: int, first: Sequence[str]) -> None:
    for col, text in enumerate([*first, *(h for _, h, _ in COLUMNS)], start=1):
        cell = ws.cell(row=row, column=col, value=text)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", wrap_text=True)
    for col in range(1, len(first) + len(COLUMNS) + 1):
        ws.column_dimensions[get_column_letter(col)].width = 14 if col > len(first) else 20
    ws.freeze_panes = ws.cell(row=row + 1, column=len(first) + 1)


def workbook(
    header: ExportHeader, summary: dict[str, Any], breakdowns: Mapping[By, list[Item]]
) -> bytes:
    """The .xlsx file as bytes. Empty rates stay empty cells, never 0 %."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "汇总"
    row = _top(ws, "诉求办理统计 — 汇总", header)
    _headers(ws, row, ["范围"])
    _row(ws, row + 1, [header.region_name], summary)
    for by, sheet, label in SHEETS:
        ws = wb.create_sheet(sheet)
        row = _top(ws, f"诉求办理统计 — {sheet}", header)
        first = [f"{label}ID", label] if by != "category" else ["类别代码", label]
        _headers(ws, row, first)
        for i, item in enumerate(breakdowns.get(by, []), start=row + 1):
            ident: Any = item.code if by == "category" else item.key
            _row(ws, i, [ident, item.name], item.figures)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
