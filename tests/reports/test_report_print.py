"""Issue 18, item 18: the exports as a bureau prints them — A4 with the GB/T 9704 margins, headings that
do not touch a table, XLSX rows tall enough for their wrapped text — the register's total checked against
its outlets, and the office's own name for its website in every export."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal

from docx import Document
from docx.shared import Mm
from openpyxl import load_workbook

from tests import factories
from tracker.reports.annual import build_annual_report
from tracker.reports.docx import gbt9704_page_setup, render_docx
from tracker.reports.exporters import render_csv, render_json
from tracker.reports.html import render_html
from tracker.reports.registers import set_figure, set_report_text
from tracker.reports.xlsx import render_xlsx

from .builders import application, at, message, reply_and_close
from .test_web_reports import _csrf, _login


def _mm(length) -> float:
    return round(length.mm, 1)


def _year(session, bureau, year=2021):
    root, o, _x = bureau
    a = application(session, o, f"{year}-03-01 10:00", "自然人")
    reply_and_close(session, a, f"{year}-03-10 10:00", "public")
    message(session, o, f"{year}-05-06 10:00", replied=f"{year}-05-07 10:00", satisfaction="满意")
    return root


def _outlets(session, dept, year, total=229, portal=105, point=56, media=67, note=None):
    now = at(f"{year + 1}-01-05 10:00")
    for item, value in (
        ("published_all", total),
        ("outlet_portal", portal),
        ("outlet_public_point", point),
        ("outlet_media", media),
    ):
        set_figure(
            session,
            year=year,
            department=dept,
            item=item,
            measure="items",
            value=Decimal(value),
            now=now,
            note=note if item == "published_all" else None,
        )


def test_docx_is_a4_with_gbt9704_margins_and_headings_clear_of_tables(session, bureau):
    root = _year(session, bureau)
    doc = Document(io.BytesIO(render_docx(build_annual_report(session, 2021, department_code=root.code))))
    for section in doc.sections:
        # Stored in twentieths of a point: compared to the tenth of a millimetre.
        assert (_mm(section.page_width), _mm(section.page_height)) == (210, 297)
        margins = (section.top_margin, section.bottom_margin, section.left_margin, section.right_margin)
        assert tuple(_mm(m) for m in margins) == (37, 35, 28, 26)
    body = doc.element.body
    children = [child for child in body.iterchildren() if child.tag.endswith(("}p", "}tbl"))]
    heading_2 = next(
        i
        for i, child in enumerate(children)
        if child.tag.endswith("}p") and "二、主动公开政府信息情况" in child.xpath("string(.)")
    )
    # Heading 二 follows the interaction table: it must carry space above it.
    assert children[heading_2 - 1].tag.endswith("}tbl")
    paragraph = next(p for p in doc.paragraphs if p.text == "二、主动公开政府信息情况")
    assert paragraph.paragraph_format.space_before and paragraph.paragraph_format.space_before.pt >= 12
    # Every table fits in the 156 mm type area.
    for table in doc.tables:
        width = sum(column.width for column in table.columns)
        assert width <= Mm(156) + Mm(0.5)


def test_page_setup_is_reusable_for_any_document():
    doc = Document()
    doc.add_section()
    gbt9704_page_setup(doc)
    assert all(
        (_mm(s.page_width), _mm(s.top_margin), _mm(s.right_margin)) == (210, 37, 26) for s in doc.sections
    )


def test_xlsx_rows_are_tall_enough_for_their_wrapped_text(session, bureau):
    root = _year(session, bureau)
    wb = load_workbook(io.BytesIO(render_xlsx(build_annual_report(session, 2021, department_code=root.code))))
    ws = wb["三、依申请公开"]
    # The long （六）1 row wraps in its 44-character column: it must be at least two lines tall.
    row = next(
        r for r in range(1, ws.max_row + 1) if str(ws.cell(r, 3).value or "").startswith("1.申请人无正当理由")
    )
    assert ws.row_dimensions[row].height >= 2 * 14.4
    # The 勾稽关系 note spans three header rows of three columns: together they hold its lines.
    note_rows = [ws.row_dimensions[r].height or 15 for r in (2, 3, 4)]
    assert sum(note_rows) >= 3 * 14.4
    interaction = wb["政民互动"]
    assert interaction.row_dimensions[2].height >= 2 * 14.4  # 答复用时中位数（工作日） in a 12-wide column


def test_register_total_against_its_outlets_warns_until_a_note_explains(session, bureau):
    root = _year(session, bureau)
    _outlets(session, root, 2021)  # 229 vs 105 + 56 + 67 = 228, the seed's own figures
    report = build_annual_report(session, 2021, department_code=root.code)
    assert report.failures == []  # a warning, not a failure: the export is not refused
    assert [w.rule for w in report.warnings] == ["全年发布=各渠道之和"]
    message = report.warnings[0].message
    assert (
        "229条" in message
        and "门户网站105+公开查阅点及政府信息公开平台56+报刊、电视、专栏等传统媒体67=228条" in message
    )
    assert json.loads(render_json(report))["checks"]["warnings"][0]["rule"] == "全年发布=各渠道之和"
    # Equal figures: no warning.
    _outlets(session, root, 2021, total=228)
    assert build_annual_report(session, 2021, department_code=root.code).warnings == []
    # Different, but explained on the total's figure: no warning either.
    _outlets(session, root, 2021, note="含向上级报送未公开发布的信息1条")
    assert build_annual_report(session, 2021, department_code=root.code).warnings == []


def test_portal_label_is_the_offices_in_every_export(session, bureau, now):
    import pytest

    from tracker.errors import ValidationError

    root = _year(session, bureau, 2016)
    _outlets(session, root, 2016)
    set_report_text(session, year=2015, department=root, section="portal_label", body=" 局网站 ", now=now)
    report = build_annual_report(session, 2016, department_code=root.code)
    assert report.portal_label == "局网站"  # set for 2015, carried on
    sentence = "全年发布各类信息229条。其中，局网站发布105条"
    docx_text = "\n".join(p.text for p in Document(io.BytesIO(render_docx(report))).paragraphs)
    assert sentence in docx_text and "门户网站" not in docx_text
    assert sentence in render_html(report)
    data = json.loads(render_json(report))
    assert data["free_form"]["portal_label"] == "局网站"
    wb = load_workbook(io.BytesIO(render_xlsx(report)))
    assert "局网站" in [c.value for c in wb["概况"]["A"]]
    assert "门户网站" not in [c.value for c in wb["概况"]["A"]]
    assert render_csv(report)
    # A warning names the outlet as the office does.
    assert "局网站105" in report.warnings[0].message
    for bad in ("", "   ", "局\n网站", "网" * 21):
        with pytest.raises(ValidationError):
            set_report_text(session, year=2016, department=root, section="portal_label", body=bad, now=now)
    # A year before any setting keeps the default.
    assert build_annual_report(session, 2014, department_code=root.code).portal_label == "门户网站"


def test_portal_label_is_edited_on_the_report_page(client, session, bureau, now):
    root = _year(session, bureau, 2016)
    _outlets(session, root, 2016)
    admin = factories.user(session, role="admin", dept=root, now=now)
    supervisor = factories.user(session, role="supervisor", dept=bureau[1], now=now)
    session.commit()
    _login(client, admin.username)
    page = client.get(f"/reports/annual?year=2016&department={root.code}").get_data(as_text=True)
    assert 'name="section" value="portal_label"' in page and "本机关网站的称谓：门户网站" in page
    assert "全年发布=各渠道之和" in page  # the warning is on the page
    token = _csrf(client, f"/reports/annual?year=2016&department={root.code}")
    form = {"csrf_token": token, "year": "2016", "department": root.code, "section": "portal_label"}
    assert client.post("/reports/texts", data={**form, "body": "局网站"}).status_code == 302
    page = client.get(f"/reports/annual?year=2016&department={root.code}").get_data(as_text=True)
    assert "其中，局网站发布105条" in page
    download = client.get(f"/reports/annual/download?year=2016&department={root.code}&format=docx")
    assert download.status_code == 200
    text = "\n".join(p.text for p in Document(io.BytesIO(download.data)).paragraphs)
    assert "其中，局网站发布105条" in text
    # Hostile input: too long → a 4xx naming the field, nothing stored; no CSRF token → refused.
    bad = client.post("/reports/texts", data={**form, "body": "网" * 50})
    assert 400 <= bad.status_code < 500
    assert client.post("/reports/texts", data={**form, "csrf_token": "", "body": "X"}).status_code in (
        400,
        403,
    )
    # Another role may not set it.
    other = client.application.test_client()
    _login(other, supervisor.username)
    token = _csrf(other, f"/reports/annual?year=2016&department={bureau[1].code}")
    refused = other.post("/reports/texts", data={**form, "csrf_token": token, "body": "别的网站"})
    assert refused.status_code == 403
    assert build_annual_report(session, 2016, department_code=root.code).portal_label == "局网站"
    assert (
        re.search("别的网站", render_html(build_annual_report(session, 2016, department_code=root.code)))
        is None
    )
