"""Exports read back: XLSX cell by cell against the official layout, DOCX, JSON schema, CSV, HTML."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal

import pytest
from docx import Document
from openpyxl import load_workbook

from tracker.reports.annual import build_annual_report
from tracker.reports.checks import ReportCheckFailed
from tracker.reports.exporters import export, report_json
from tracker.reports.registers import save_case, set_figure

from .builders import application, at, message, reply_and_close

# The official labels, typed from annual-report-format.md (not imported from the code under test).
NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
APPLICANTS = ["商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"]
WITHHELD = [
    "1.属于国家秘密",
    "2.其他法律行政法规禁止公开",
    "3.危及“三安全一稳定”",
    "4.保护第三方合法权益",
    "5.属于三类内部事务信息",
    "6.属于四类过程性信息",
    "7.属于行政执法案卷",
    "8.属于行政查询事项",
]
UNABLE = ["1.本机关不掌握相关政府信息", "2.没有现成信息需要另行制作", "3.补正后申请内容仍不明确"]
NOT_PROCESSED = [
    "1.信访举报投诉类申请",
    "2.重复申请",
    "3.要求提供公开出版物",
    "4.无正当理由大量反复申请",
    "5.要求行政机关确认或重新出具已获取信息",
]
OTHER = [
    "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
    "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
    "3.其他",
]


def expected_section_3(fmt: str) -> tuple[dict[str, str], set[str]]:
    labels = {
        "A1": "三、收到和处理政府信息公开申请情况",
        "A2": NOTE,
        "D2": "申请人情况",
        "D3": "自然人",
        "E3": "法人或其他组织",
        "J3": "总计",
        **{f"{col}4": text for col, text in zip("EFGHI", APPLICANTS, strict=True)},
        "A5": "一、本年新收政府信息公开申请数量",
        "A6": "二、上年结转政府信息公开申请数量",
        "A7": "三、本年度办理结果",
        "B7": "（一）予以公开",
        "B8": "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
        "B9": "（三）不予公开",
        **{f"C{9 + i}": text for i, text in enumerate(WITHHELD)},
        "B17": "（四）无法提供",
        **{f"C{17 + i}": text for i, text in enumerate(UNABLE)},
        "B20": "（五）不予处理",
        **{f"C{20 + i}": text for i, text in enumerate(NOT_PROCESSED)},
        "B25": "（六）其他处理",
    }
    merges = {"A1:J1", "A2:C4", "D2:J2", "D3:D4", "E3:I3", "J3:J4", "A5:C5", "A6:C6", "B7:C7", "B8:C8"}
    merges |= {"B9:B16", "B17:B19", "B20:B24"}
    if fmt == "2021":
        labels.update({f"C{25 + i}": text for i, text in enumerate(OTHER)})
        labels.update({"B28": "（七）总计", "A29": "四、结转下年度继续办理"})
        merges |= {"A7:A28", "B25:B27", "B28:C28", "A29:C29"}
    else:
        labels.update({"B26": "（七）总计", "A27": "四、结转下年度继续办理"})
        merges |= {"A7:A26", "B25:C25", "B26:C26", "A27:C27"}
    return labels, merges


@pytest.fixture
def dataset(session, bureau):
    """Two years of data for one bureau: applications, registers and cases in 2020 and 2021."""
    root, o, _x = bureau
    now = at("2022-01-05 10:00")
    for year in (2020, 2021):
        a = application(session, o, f"{year}-03-01 10:00", "自然人")
        reply_and_close(session, a, f"{year}-03-10 10:00", "withheld_state_secret")
        b = application(session, o, f"{year}-04-01 10:00", "科研机构")
        reply_and_close(session, b, f"{year}-04-10 10:00", "other_fee_unpaid")
        application(session, o, f"{year}-12-31 20:00", "法律服务机构")  # still open at the year's end
        message(
            session,
            o,
            f"{year}-05-06 10:00",
            replied=f"{year}-05-07 10:00",
            satisfaction="满意",
            topics=["<script>alert(1)</script>"],
        )
    set_figure(
        session, year=2021, department=o, item="normative", measure="issued", value=Decimal(3), now=now
    )
    set_figure(session, year=2021, department=o, item="fee", measure="amount", value=Decimal("1.25"), now=now)
    set_figure(
        session,
        year=2020,
        department=o,
        item="procurement",
        measure="procurement_count",
        value=Decimal(7),
        now=now,
    )
    save_case(
        session,
        case_number="复2021-1",
        kind="review",
        result="upheld",
        filed_on=date(2021, 2, 1),
        decided_on=date(2021, 5, 1),
        department=o,
        now=now,
        ticket=a,
    )
    save_case(
        session,
        case_number="诉2021-2",
        kind="direct_suit",
        result="corrected",
        filed_on=date(2021, 9, 1),
        decided_on=date(2022, 2, 1),
        department=o,
        now=now,
    )  # decided after the year: 尚未审结 in 2021
    return root.code


def _cells(ws) -> dict[str, object]:
    return {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}


@pytest.mark.parametrize("year, fmt", [(2021, "2021"), (2020, "2019")])
def test_xlsx_section_3_layout_cell_by_cell(session, dataset, year, fmt):
    report = build_annual_report(session, year, department_code=dataset)
    assert report.format == fmt and report.failures == []
    body, mime, name = export(report, "xlsx")
    assert name == f"annual-report-{year}-{dataset}.xlsx" and "spreadsheetml" in mime
    wb = load_workbook(io.BytesIO(body))
    assert wb.sheetnames == ["政民互动", "二、主动公开", "三、依申请公开", "四、复议诉讼"]
    ws = wb["三、依申请公开"]
    labels, merges = expected_section_3(fmt)
    cells = _cells(ws)
    text_cells = {k: v for k, v in cells.items() if isinstance(v, str)}
    assert text_cells == labels
    assert {str(r) for r in ws.merged_cells.ranges} == merges
    # Figures: 一 row 5, 二 row 6; 自然人 D, 科研机构 F, 法律服务机构 H, 总计 J.
    assert (cells["D5"], cells["F5"], cells["H5"], cells["J5"]) == (1, 1, 1, 3)
    assert cells["J6"] == (1 if year == 2021 else 0)  # 2020's open application is carried into 2021
    assert cells["D9"] == 1 and cells["J9"] == 1  # 1.属于国家秘密
    if fmt == "2021":
        assert cells["F26"] == 1 and cells["J28"] == 2 and cells["H29"] == 2  # （六）2, （七）, 四
    else:
        assert cells["F25"] == 1 and cells["J26"] == 2 and cells["H27"] == 1  # （六） one row
    numbers = [v for v in cells.values() if not isinstance(v, str)]
    assert all(isinstance(v, int) for v in numbers)


def test_xlsx_sections_2_and_4_2021(session, dataset):
    body, *_ = export(build_annual_report(session, 2021, department_code=dataset), "xlsx")
    wb = load_workbook(io.BytesIO(body))
    two = _cells(wb["二、主动公开"])
    assert {k: v for k, v in two.items() if isinstance(v, str)} == {
        "A1": "二、主动公开政府信息情况",
        "A2": "第二十条第（一）项",
        "A3": "信息内容",
        "B3": "本年制发件数",
        "C3": "本年废止件数",
        "D3": "现行有效件数",
        "A4": "规章",
        "A5": "行政规范性文件",
        "A7": "第二十条第（五）项",
        "A8": "信息内容",
        "B8": "本年处理决定数量",
        "A9": "行政许可",
        "A11": "第二十条第（六）项",
        "A12": "信息内容",
        "B12": "本年处理决定数量",
        "A13": "行政处罚",
        "A14": "行政强制",
        "A16": "第二十条第（八）项",
        "A17": "信息内容",
        "B17": "本年收费金额（单位：万元）",
        "A18": "行政事业性收费",
    }
    assert two["B5"] == 3 and two["B18"] == 1.25
    assert {str(r) for r in wb["二、主动公开"].merged_cells.ranges} == {
        "A1:D1",
        "A2:D2",
        "A7:B7",
        "A11:B11",
        "A16:B16",
    }
    four = wb["四、复议诉讼"]
    cells = _cells(four)
    results = ["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"]
    assert {k: v for k, v in cells.items() if isinstance(v, str)} == {
        "A1": "四、政府信息公开行政复议、行政诉讼情况",
        "A2": "行政复议",
        "F2": "行政诉讼",
        **{f"{c}3": t for c, t in zip("ABCDE", results, strict=True)},
        "F3": "未经复议直接起诉",
        "K3": "复议后起诉",
        **{f"{c}4": t for c, t in zip("FGHIJ", results, strict=True)},
        **{f"{c}4": t for c, t in zip("KLMNO", results, strict=True)},
    }
    assert [cells[f"{c}5"] for c in "ABCDEFGHIJKLMNO"] == [1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert {str(r) for r in four.merged_cells.ranges} == {
        "A1:O1",
        "A2:E2",
        "F2:O2",
        "A3:A4",
        "B3:B4",
        "C3:C4",
        "D3:D4",
        "E3:E4",
        "F3:J3",
        "K3:O3",
    }


def test_2019_format_section_2_has_its_own_rows(session, dataset):
    body, *_ = export(build_annual_report(session, 2020, department_code=dataset), "xlsx")
    texts = set(_cells(load_workbook(io.BytesIO(body))["二、主动公开"]).values())
    assert {
        "规范性文件",
        "本年新制作数量",
        "本年新公开数量",
        "对外公开总数量",
        "上一年项目数量",
        "本年增/减",
        "处理决定数量",
        "其他对外管理服务事项",
        "第二十条第（九）项",
        "政府集中采购",
        "采购项目数量",
        "采购总金额",
        7,
    } <= texts
    assert "行政规范性文件" not in texts and "本年制发件数" not in texts


def test_json_schema(session, dataset):
    data = json.loads(export(build_annual_report(session, 2021, department_code=dataset), "json")[0])
    assert data["year"] == 2021 and data["format"] == "2021"
    assert set(data["interaction"]) == {"hotline", "website", "weibo", "disclosure"}
    keys = {
        "received",
        "replied",
        "reply_rate",
        "on_time",
        "on_time_rate",
        "rated",
        "satisfied",
        "satisfaction_rate",
    }
    for figures in data["interaction"].values():
        assert keys <= set(figures)
    assert data["interaction"]["weibo"]["reply_rate"] is None
    assert data["interaction"]["hotline"]["satisfaction_rate"] == 1.0
    sec3 = data["official_tables"]["三、收到和处理政府信息公开申请情况"]
    assert sec3["三、本年度办理结果"]["（三）不予公开"]["1.属于国家秘密"] == {
        "自然人": 1,
        "商业企业": 0,
        "科研机构": 0,
        "社会公益组织": 0,
        "法律服务机构": 0,
        "其他": 0,
        "总计": 1,
    }
    assert sec3["四、结转下年度继续办理"]["总计"] == 2
    assert (
        sec3["三、本年度办理结果"]["（六）其他处理"][
            "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"
        ]["科研机构"]
        == 1
    )
    sec4 = data["official_tables"]["四、政府信息公开行政复议、行政诉讼情况"]
    assert sec4["行政复议"]["结果维持"] == 1 and sec4["行政诉讼"]["未经复议直接起诉"]["尚未审结"] == 1
    sec2 = data["official_tables"]["二、主动公开政府信息情况"]
    assert sec2["第二十条第（八）项"]["行政事业性收费"]["本年收费金额（单位：万元）"] == 1.25
    assert data["checks"] == {"passed": True, "failures": [], "warnings": []}
    older = report_json(build_annual_report(session, 2020, department_code=dataset))
    assert (
        older["official_tables"]["三、收到和处理政府信息公开申请情况"]["三、本年度办理结果"][
            "（六）其他处理"
        ]["科研机构"]
        == 1
    )


def test_docx_is_a_whole_draft(session, dataset):
    report = build_annual_report(session, 2021, department_code=dataset)
    doc = Document(io.BytesIO(export(report, "docx")[0]))
    text = "\n".join(p.text for p in doc.paragraphs)
    for heading in (
        "一、总体情况",
        "二、主动公开政府信息情况",
        "三、收到和处理政府信息公开申请情况",
        "四、政府信息公开行政复议、行政诉讼情况",
        "五、存在的主要问题及改进情况",
        "六、其他需要报告的事项",
    ):
        assert heading in text
    assert "处理答复“市政府热线”1件，答复率和满意率均为100%。" in text
    assert (
        "群众关心的内容主要集中在<script>alert(1)</script>等方面。" in text
    )  # stored as given; Word escapes XML
    assert len(doc.tables) == 1 + 4 + 1 + 1
    sec3 = doc.tables[5]
    assert sec3.cell(0, 0).text == NOTE and sec3.cell(2, 4).text == "商业企业"
    assert sec3.cell(7, 2).text == "1.属于国家秘密" and sec3.cell(7, 3).text == "1"


def test_csv_and_html(session, dataset):
    report = build_annual_report(session, 2021, department_code=dataset)
    csv_text = export(report, "csv")[0].decode("utf-8-sig")
    lines = csv_text.splitlines()
    assert lines[0] == "表格,行,列,数值"
    assert (
        "三、收到和处理政府信息公开申请情况,三、本年度办理结果/（三）不予公开/1.属于国家秘密,自然人,1"
        in lines
    )
    assert "二、主动公开政府信息情况/第二十条第（一）项,行政规范性文件,本年制发件数,3" in lines
    html = export(report, "html")[0].decode()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert 'rowspan="22"' in html and "三、本年度办理结果" in html


def test_export_refused_when_checks_fail_unless_forced(session, dataset, bureau):
    _root, o, _x = bureau
    nobody = application(session, o, "2021-06-01 10:00", None)
    report = build_annual_report(session, 2021, department_code=dataset)
    with pytest.raises(ReportCheckFailed) as info:
        export(report, "xlsx")
    assert nobody.number in {n for f in info.value.failures for _i, n in f.tickets}
    data = json.loads(export(report, "json", force=True)[0])
    assert data["checks"]["passed"] is False and nobody.number in data["checks"]["failures"][0]["tickets"]


def test_free_form_year(session, bureau):
    root, o, _x = bureau
    a = application(session, o, "2016-05-01 10:00", "自然人")
    reply_and_close(session, a, "2016-05-10 10:00", "public")
    report = build_annual_report(session, 2016, department_code=root.code)
    assert report.format == "free" and report.tables == []
    data = report_json(report)
    assert data["format"] == "free" and data["official_tables"] == {}
    assert data["free_form"]["disclosure"]["received"] == 1
    wb = load_workbook(io.BytesIO(export(report, "xlsx")[0]))
    assert wb.sheetnames == ["政民互动", "概况"]
    doc = Document(io.BytesIO(export(report, "docx")[0]))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "一、概述" in text and "2016年度无政府信息公开复议、诉讼情况。" in text
