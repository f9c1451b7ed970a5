"""The DOCX export: a draft of the whole report (一 to 六) with the tables, for staff to edit in Word/WPS."""

from __future__ import annotations

import io

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt

from tracker.cells import safe_cell
from tracker.reports import annual
from tracker.reports.formats import Table
from tracker.reports.html import SECTION_KEYS

BODY_FONT = "仿宋"
HEADING_FONT = "黑体"
TITLE_FONT = "方正小标宋简体"

# GB/T 9704—2012《党政机关公文格式》5.2: A4 paper (210 mm × 297 mm); the type area is 156 mm × 225 mm,
# with 37 mm at the top (天头) and 28 mm at the binding edge (订口) — so 35 mm at the bottom and 26 mm on
# the right. Word's default (US Letter, 1-inch margins) is what a bureau's printer would reject.
A4_WIDTH, A4_HEIGHT = Mm(210), Mm(297)
GBT9704_MARGINS = {"top": Mm(37), "bottom": Mm(35), "left": Mm(28), "right": Mm(26)}
TEXT_WIDTH_CM = 15.6  # 156 mm of type area: every table below fits in it


def gbt9704_page_setup(doc) -> None:
    """Give every section of `doc` an A4 portrait page with the GB/T 9704 margins.

    Reusable by any DOCX the tracker writes (the annual report here; letters to applicants elsewhere).
    """
    for section in doc.sections:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = A4_WIDTH, A4_HEIGHT
        section.top_margin = GBT9704_MARGINS["top"]
        section.bottom_margin = GBT9704_MARGINS["bottom"]
        section.left_margin = GBT9704_MARGINS["left"]
        section.right_margin = GBT9704_MARGINS["right"]


def _font(run, name: str, size: float, *, bold: bool = False) -> None:
    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def _paragraph(doc, text: str, *, font: str = BODY_FONT, size: float = 14, indent: bool = True, bold=False):
    paragraph = doc.add_paragraph()
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(size * 2)
    _font(paragraph.add_run(text), font, size, bold=bold)
    return paragraph


def _heading(doc, text: str):
    """A section heading (黑体 三号): a line of space above it, so it never sits on the table before it
    (heading 二 follows the interaction table), and kept on the page of its first paragraph."""
    paragraph = _paragraph(doc, text, font=HEADING_FONT, size=16)
    paragraph.paragraph_format.space_before = Pt(16)
    paragraph.paragraph_format.keep_with_next = True
    return paragraph


def write_table(doc, table: Table) -> None:
    t = doc.add_table(rows=table.height, cols=table.width)
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    for label in [*table.header, *table.labels]:
        cell = t.cell(label.row, label.col)
        if label.rowspan > 1 or label.colspan > 1:
            cell = cell.merge(t.cell(label.row + label.rowspan - 1, label.col + label.colspan - 1))
        _set_text(cell, label.text)
    for i, cells in enumerate(table.rows):
        for j, data in enumerate(cells):
            _set_text(t.cell(table.header_height + i, table.label_cols + j), str(data.value), center=True)
    _apply_widths(t, _widths(table))
    _keep_together(t)


def _keep_together(t) -> None:
    """Keep a table on one page where it fits: a heading row left at the foot of a page, its figures on the
    next, is what the 第二十条第（八）项 table did. Every paragraph but the last row's keeps with the next."""
    for row in t.rows[:-1]:
        for cell in row.cells:
            for paragraph in cell.paragraphs:
                paragraph.paragraph_format.keep_with_next = True


def _apply_widths(t, widths: list) -> None:
    """Set the grid and every cell: Word reads the cells, LibreOffice/WPS the grid."""
    t.autofit = False
    for column, width in zip(t.columns, widths, strict=True):
        column.width = width
    for row in t.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = width


def _widths(table: Table) -> list:
    """Column widths in the GB/T 9704 type area (15.6 cm): wide label columns, narrow number columns."""
    if table.label_cols == 3:
        return [Cm(1.5), Cm(1.9), Cm(4.5)] + [Cm(7.7 / (table.width - 3))] * (table.width - 3)
    if table.label_cols == 1:
        return [Cm(4.0)] + [Cm((TEXT_WIDTH_CM - 4.0) / (table.width - 1))] * (table.width - 1)
    return [Cm(TEXT_WIDTH_CM / table.width)] * table.width


def _set_text(cell, text: str, *, center: bool = True) -> None:
    # A table copied from the report into a spreadsheet must not turn a citizen's words into a formula.
    text = safe_cell(text)
    cell.text = ""
    paragraph = cell.paragraphs[0]
    if center:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(paragraph.add_run(text), "宋体", 9)


def _interaction_table(doc, report: annual.AnnualReport) -> None:
    headers = ("渠道", "收到", "答复", "答复率", "按期答复率", "评价", "评价来源", "满意", "满意率")
    t = doc.add_table(rows=1 + len(report.interaction), cols=len(headers))
    t.style = "Table Grid"
    t.alignment = WD_TABLE_ALIGNMENT.CENTER
    for c, text in enumerate(headers):
        _set_text(t.cell(0, c), text)
    for r, f in enumerate(report.interaction.values(), start=1):
        values = (
            f.label,
            f.received,
            f.replied,
            f.reply_rate.percent(),
            f.on_time_rate.percent(),
            f.rated,
            f.rating_sources_text(),
            f.satisfied,
            f.satisfaction_rate.percent(),
        )
        for c, value in enumerate(values):
            _set_text(t.cell(r, c), str(value))
    _keep_together(t)
    _apply_widths(t, [Cm(2.5)] + [Cm((TEXT_WIDTH_CM - 2.5) / (len(headers) - 1))] * (len(headers) - 1))


def render_docx(report: annual.AnnualReport) -> bytes:
    doc = Document()
    gbt9704_page_setup(doc)
    title = doc.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _font(title.add_run(annual.report_title(report)), TITLE_FONT, 20)
    if report.failures:
        _paragraph(doc, "【草稿】勾稽关系校验未通过，请核对后再定稿：", bold=True)
        for failure in report.failures:
            numbers = "、".join(number for _id, number in failure.tickets)
            _paragraph(doc, failure.message + (f"（{numbers}）" if numbers else ""))
    by_section: dict[str, list[Table]] = {}
    for table in report.tables:
        by_section.setdefault(SECTION_KEYS[table.section], []).append(table)
    paragraphs = annual.narrative(report)
    for key, heading in annual.section_titles(report.format).items():
        _heading(doc, heading)
        for text in paragraphs[key]:
            _paragraph(doc, text)
        if key == "overview":
            _paragraph(doc, "政民互动情况如下表：")
            _interaction_table(doc, report)
        for table in by_section.get(key, []):
            write_table(doc, table)  # a sub-table's heading (第二十条第（一）项) is its own first row
            doc.add_paragraph()
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()
