"""The assessment as XLSX: sheet 考核排名 (one row per unit: rank, score, trend, every rate's numerator,
denominator and rate, 督办), sheet 人员 when one unit's people are given, and sheet 考核口径 (the rules the
figures were computed under, so a printed sheet says what it measured). Every cell goes through
tracker.cells.safe_cell (unit names are administrators' text); rates are numbers formatted as percentages.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from tracker.cells import safe_cell
from tracker.reports.assessment_rules import RATES

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)
FONT = Font(name="宋体", size=10)
HEAD_FONT = Font(name="黑体", size=10, bold=True)
TITLE_FONT = Font(name="黑体", size=14, bold=True)
HEAD_FILL = PatternFill("solid", fgColor="DDE5F0")
PERCENT = "0.00%"
RULE_TEXT = {
    "close_basis": {"due": "办结时限在本期到期的工单", "closed": "本期办结的工单"},
    "revisit_basis": {"latest": "每件工单取本期最后一次回访", "every": "本期每一次回访"},
}


def _put(ws: Worksheet, row: int, column: int, value: Any, *, head: bool = False, fmt: str | None = None):
    cell = ws.cell(row=row, column=column, value=safe_cell(value))
    cell.border = BORDER
    cell.font = HEAD_FONT if head else FONT
    cell.alignment = CENTER if head or not isinstance(value, str) else LEFT
    if head:
        cell.fill = HEAD_FILL
    if fmt:
        cell.number_format = fmt
    return cell


def _figure_header(ws: Worksheet, top: int, first_cols: list[str], last_cols: list[str]) -> int:
    """Two header rows: each rate spans 分子 / 分母 / 比率. Returns the first data row."""
    column = 1
    for label in first_cols:
        _put(ws, top, column, label, head=True)
        _put(ws, top + 1, column, None, head=True)
        ws.merge_cells(start_row=top, start_column=column, end_row=top + 1, end_column=column)
        column += 1
    for _key, (label, _better) in RATES.items():
        _put(ws, top, column, label, head=True)
        for offset in (1, 2):
            _put(ws, top, column + offset, None, head=True)
        ws.merge_cells(start_row=top, start_column=column, end_row=top, end_column=column + 2)
        for offset, sub in enumerate(("分子", "分母", "比率")):
            _put(ws, top + 1, column + offset, sub, head=True)
        column += 3
    for label in last_cols:
        _put(ws, top, column, label, head=True)
        _put(ws, top + 1, column, None, head=True)
        ws.merge_cells(start_row=top, start_column=column, end_row=top + 1, end_column=column)
        column += 1
    return top + 2


def _figure_cells(ws: Worksheet, row: int, column: int, entry: dict) -> int:
    for key in RATES:
        figure = entry["rates"][key]
        _put(ws, row, column, figure["num"])
        _put(ws, row, column + 1, figure["den"])
        _put(ws, row, column + 2, figure["rate"], fmt=PERCENT)
        column += 3
    return column


def _title(ws: Worksheet, text: str, width: int) -> None:
    ws.cell(row=1, column=1, value=safe_cell(text)).font = TITLE_FONT
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    ws.row_dimensions[1].height = 24
    ws.cell(row=1, column=1).alignment = CENTER


def _widths(ws: Worksheet, widths: dict[int, float], default: float, last: int) -> None:
    for column in range(1, last + 1):
        ws.column_dimensions[get_column_letter(column)].width = widths.get(column, default)


def _ranking_sheet(ws: Worksheet, data: dict) -> None:
    first = ["名次", "单位代码", "承办单位", "受理量"]
    last = ["督办件数", "按时答复督办", "综合得分", "上期得分", "上期名次", "名次变化"]
    width = len(first) + 3 * len(RATES) + len(last)
    _title(ws, f"12345承办单位考核（{data['label']}）", width)
    row = _figure_header(ws, 2, first, last)
    for unit in data["units"]:
        trend = unit.get("trend") or {}
        _put(ws, row, 1, unit["rank"] if unit["rank"] is not None else "不参与排名")
        _put(ws, row, 2, unit["code"])
        _put(ws, row, 3, unit["name"])
        _put(ws, row, 4, unit["received"])
        column = _figure_cells(ws, row, 5, unit)
        values = [
            unit["supervised"],
            unit["supervised_on_time"],
            unit["score"],
            trend.get("previous_score"),
            trend.get("previous_rank"),
            trend.get("rank_change"),
        ]
        for offset, value in enumerate(values):
            _put(ws, row, column + offset, value, fmt="0.00" if offset in (2, 3) else None)
        row += 1
    bureau = data["bureau"]
    _put(ws, row, 1, "全局", head=True)
    _put(ws, row, 2, None, head=True)
    _put(ws, row, 3, "合计", head=True)
    _put(ws, row, 4, bureau["received"])
    column = _figure_cells(ws, row, 5, bureau)
    _put(ws, row, column, bureau["supervised"])
    _put(ws, row, column + 1, bureau["supervised_on_time"])
    _put(ws, row, column + 2, bureau["score"], fmt="0.00")
    ws.freeze_panes = "E4"
    _widths(ws, {1: 10, 2: 10, 3: 18, 4: 8}, 8, width)
    _fit_width(ws, landscape=True)


def _fit_width(ws: Worksheet, *, landscape: bool) -> None:
    """Printed one page wide (as many pages down as it takes), like the office prints its sheets."""
    ws.page_setup.orientation = "landscape" if landscape else "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _people_sheet(ws: Worksheet, data: dict, people: list[dict], unit_name: str) -> None:
    first = ["账号", "承办人", "受理量"]
    last = ["督办件数", "综合得分"]
    width = len(first) + 3 * len(RATES) + len(last)
    _title(ws, f"{unit_name} 人员考核（{data['label']}，不排名）", width)
    row = _figure_header(ws, 2, first, last)
    for person in people:
        _put(ws, row, 1, person["username"])
        _put(ws, row, 2, person["name"])
        _put(ws, row, 3, person["received"])
        column = _figure_cells(ws, row, 4, person)
        _put(ws, row, column, person["supervised"])
        _put(ws, row, column + 1, person["score"], fmt="0.00")
        row += 1
    _widths(ws, {1: 12, 2: 12, 3: 8}, 8, width)
    _fit_width(ws, landscape=True)


def _rules_sheet(ws: Worksheet, data: dict) -> None:
    rules = data["rules"]
    _title(ws, "考核口径", 3)
    rows = [("项目", "取值", "说明")]
    for key, (label, better) in RATES.items():
        rows.append(
            (f"权重：{label}", rules["weights"][key], "越高越好" if better else "越低越好（按 1 − 比率计分）")
        )
    rows += [
        ("基本满意计入满意的权重", rules["basically_satisfied_weight"], "1 = 与满意同等计入"),
        ("办结及时率的分母", RULE_TEXT["close_basis"][rules["close_basis"]], rules["close_basis"]),
        ("回访口径", RULE_TEXT["revisit_basis"][rules["revisit_basis"]], rules["revisit_basis"]),
        ("重复件只计一次", "是" if rules["count_repeats_once"] else "否", "重复件不计入受理量与各项比率"),
        ("参与排名的最低受理量", rules["minimum_sample"], "低于此数的单位列出但不排名"),
        ("每件督办扣分", rules["supervision_penalty"], "从综合得分中扣除"),
        ("渠道", "、".join(rules["channels"]), ""),
        ("口径来源", rules["source"], ""),
    ]
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            _put(ws, r, c, value, head=r == 2)
    _widths(ws, {1: 26, 2: 30, 3: 36}, 10, 3)
    _fit_width(ws, landscape=False)


def assessment_xlsx(data: dict, *, people: list[dict] | None = None, unit_name: str = "") -> bytes:
    """The workbook's bytes."""
    workbook = Workbook()
    _ranking_sheet(workbook.active, data)
    workbook.active.title = "考核排名"
    if people is not None:
        _people_sheet(workbook.create_sheet("人员"), data, people, unit_name)
    _rules_sheet(workbook.create_sheet("考核口径"), data)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def assessment_filename(data: dict, fmt: str) -> str:
    return f"12345考核-{data['period']}.{fmt}"
