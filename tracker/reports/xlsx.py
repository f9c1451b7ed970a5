"""The XLSX export: the official tables in their official layout (header rows, merged cells, verbatim labels).

Sheets: 政民互动 (interaction figures with numerators and denominators), then one sheet per official section
(二、主动公开 / 三、依申请公开 / 四、复议诉讼); a free-form year gets a 概况 sheet instead. Each section sheet
has the section label in row 1 (merged across the table) and the table from row 2.
"""

from __future__ import annotations

import io
import math
import unicodedata
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from tracker.cells import safe_cell
from tracker.reports import annual, formats
from tracker.reports.formats import Table

SHEET_TITLES = {
    formats.SECTION_2: "二、主动公开",
    formats.SECTION_3: "三、依申请公开",
    formats.SECTION_4: "四、复议诉讼",
}
THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
LEFT = Alignment(horizontal="left", vertical="center", wrap_text=True)
FONT = Font(name="宋体", size=11)
TITLE_FONT = Font(name="黑体", size=12, bold=True)


def _cell(ws: Worksheet, *, row: int, column: int, value=None):
    """Every cell this file writes: text through the one formula escape (topics are citizens' words)."""
    return ws.cell(row=row, column=column, value=safe_cell(value))


def _value(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def write_table(ws: Worksheet, table: Table, top: int, left: int = 1) -> int:
    """Write `table` with its top-left corner at (top, left); return the first row below it."""
    for r in range(table.height):
        for c in range(table.width):
            cell = _cell(ws, row=top + r, column=left + c)
            cell.border = BORDER
            cell.font = FONT
            cell.alignment = CENTER
    for label in [*table.header, *table.labels]:
        cell = _cell(ws, row=top + label.row, column=left + label.col, value=label.text)
        is_body_label = label in table.labels
        cell.alignment = LEFT if is_body_label else CENTER
        if label.rowspan > 1 or label.colspan > 1:
            ws.merge_cells(
                start_row=top + label.row,
                start_column=left + label.col,
                end_row=top + label.row + label.rowspan - 1,
                end_column=left + label.col + label.colspan - 1,
            )
    for i, cells in enumerate(table.rows):
        for j, data in enumerate(cells):
            ws.cell(
                row=top + table.header_height + i,
                column=left + table.label_cols + j,
                value=_value(data.value),
            )
    return top + table.height


LINE_HEIGHT = 14.4  # points per line of 11-point 宋体
DEFAULT_ROW_HEIGHT = 15.0
DEFAULT_COLUMN_WIDTH = 8.43  # characters, when a column has no width of its own


def _text_width(text: str) -> int:
    """Width in the units of a column width: a CJK character (or full-width mark) takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _lines(text: str, width: float) -> int:
    room = max(1, int(width) - 1)  # a character of padding
    return sum(max(1, math.ceil(_text_width(part) / room)) for part in text.split("\n"))


def fit_row_heights(ws: Worksheet) -> None:
    """Give every row the height its wrapped text needs.

    openpyxl writes no row heights; Excel and WPS do not grow a row for wrapped text they did not lay
    out themselves, and a printout then draws a wrapped header over the row below it. A merged cell's
    lines are spread over the rows it spans. Call it after the column widths are set.
    """

    def column_width(col: int) -> float:
        return ws.column_dimensions[get_column_letter(col)].width or DEFAULT_COLUMN_WIDTH

    spans = {
        (r.min_row, r.min_col): (r.max_row - r.min_row + 1, range(r.min_col, r.max_col + 1))
        for r in ws.merged_cells.ranges
    }
    needed: dict[int, float] = {}
    merged: list[tuple[int, int, float]] = []
    for row in ws.iter_rows():
        for cell in row:
            if not isinstance(cell.value, str) or not cell.value:
                continue
            height_rows, cols = spans.get((cell.row, cell.column), (1, range(cell.column, cell.column + 1)))
            if (cell.row, cell.column) in spans and cell.row == 1 and len(cols) > 1:
                height_rows = 1  # the sheet's title line
            lines = _lines(cell.value, sum(column_width(c) for c in cols))
            height = lines * LINE_HEIGHT + 3
            if height_rows == 1:
                needed[cell.row] = max(needed.get(cell.row, DEFAULT_ROW_HEIGHT), height)
            else:
                merged.append((cell.row, height_rows, height))
    for first, count, height in merged:
        rows = range(first, first + count)
        have = sum(needed.get(r, DEFAULT_ROW_HEIGHT) for r in rows)
        if have < height:
            extra = (height - have) / count
            for r in rows:
                needed[r] = needed.get(r, DEFAULT_ROW_HEIGHT) + extra
    for r, height in needed.items():
        ws.row_dimensions[r].height = round(height, 1)


def _fit_page(ws: Worksheet) -> None:
    """Print each sheet landscape, one page wide (as the tables are printed in the report)."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def _section_sheet(wb: Workbook, section: str, tables: list[Table]) -> None:
    ws = wb.create_sheet(SHEET_TITLES[section])
    width = max(t.width for t in tables)
    title = _cell(ws, row=1, column=1, value=section)
    title.font = TITLE_FONT
    title.alignment = LEFT
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    row = 2
    for table in tables:
        row = write_table(ws, table, row) + 1
    _fit_page(ws)
    if section == formats.SECTION_3:
        for col, w in zip("ABCDEFGHIJ", (12, 14, 44, 9, 9, 9, 10, 10, 9, 9), strict=True):
            ws.column_dimensions[col].width = w
    elif section == formats.SECTION_4:
        for c in range(1, 16):
            ws.column_dimensions[get_column_letter(c)].width = 8
    else:
        ws.column_dimensions["A"].width = 22
        for c in range(2, width + 1):
            ws.column_dimensions[get_column_letter(c)].width = 20
    fit_row_heights(ws)  # the long （六） rows and the 勾稽关系 note wrap onto several lines


INTERACTION_HEADERS = (
    "渠道",
    "收到",
    "答复",
    "答复率",
    "按期答复",
    "按期答复率",
    "参与评价",
    "满意（含基本满意）",
    "满意率",
    "答复用时中位数（工作日）",
    "平均用时（工作日）",
)


def _interaction_sheet(wb: Workbook, report: annual.AnnualReport) -> None:
    ws = wb.active
    ws.title = "政民互动"
    _cell(ws, row=1, column=1, value=f"{report.scope.label}政民互动情况").font = TITLE_FONT
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(INTERACTION_HEADERS))
    for c, text in enumerate(INTERACTION_HEADERS, start=1):
        cell = _cell(ws, row=2, column=c, value=text)
        cell.border, cell.alignment, cell.font = BORDER, CENTER, FONT
    for r, f in enumerate(report.interaction.values(), start=3):
        values = (
            f.label,
            f.received,
            f.replied,
            f.reply_rate.value,
            f.on_time,
            f.on_time_rate.value,
            f.rated,
            f.satisfied,
            f.satisfaction_rate.value,
            f.median_workdays,
            None if f.mean_workdays is None else round(f.mean_workdays, 2),
        )
        for c, value in enumerate(values, start=1):
            cell = _cell(ws, row=r, column=c, value=value)
            cell.border, cell.alignment, cell.font = BORDER, CENTER, FONT
            if c in (4, 6, 9):
                cell.number_format = "0.0%"
    _fit_page(ws)
    ws.column_dimensions["A"].width = 16
    for c in range(2, len(INTERACTION_HEADERS) + 1):
        ws.column_dimensions[get_column_letter(c)].width = 12
    fit_row_heights(ws)  # 答复用时中位数（工作日） wraps in its column
    row = 4 + len(report.interaction)
    if report.topics:
        _cell(ws, row=row, column=1, value="群众关心的内容（前五位）").font = TITLE_FONT
        for i, (topic, n) in enumerate(report.topics, start=1):
            _cell(ws, row=row + i, column=1, value=topic)
            _cell(ws, row=row + i, column=2, value=n)


def _free_sheet(wb: Workbook, report: annual.AnnualReport) -> None:
    ws = wb.create_sheet("概况")
    rows = [
        ("全年主动公开信息（条）", None),
        (report.portal_label, report.register("outlet_portal", "items")),
        ("公开查阅点及政府信息公开平台", report.register("outlet_public_point", "items")),
        ("报刊、电视、专栏等传统媒体", report.register("outlet_media", "items")),
        ("受理依申请公开（件）", report.disclosure.total("new")),
        ("上年结转（件）", report.disclosure.total("carried_in")),
        ("办结（件）", report.disclosure.total("finished")),
        ("结转下年度（件）", report.disclosure.total("carried_out")),
        ("依申请公开收费（元）", report.register("fees_2007", "yuan")),
        ("减免收费（元）", report.register("fee_waivers_2007", "yuan")),
        ("行政复议（件）", report.review_total),
        ("行政诉讼（件）", report.suit_total),
    ]
    _cell(ws, row=1, column=1, value=f"{report.year}年政府信息公开工作概况").font = TITLE_FONT
    for r, (label, value) in enumerate(rows, start=2):
        _cell(ws, row=r, column=1, value=label).border = BORDER
        _cell(ws, row=r, column=2, value=_value(value)).border = BORDER
    ws.column_dimensions["A"].width = 32


def render_xlsx(report: annual.AnnualReport) -> bytes:
    wb = Workbook()
    _interaction_sheet(wb, report)
    if report.format == formats.FORMAT_FREE:
        _free_sheet(wb, report)
    else:
        sections: dict[str, list[Table]] = {}
        for table in report.tables:
            sections.setdefault(table.section, []).append(table)
        for section, tables in sections.items():
            _section_sheet(wb, section, tables)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
