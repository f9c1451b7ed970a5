"""The registers: file reading (CSV encodings, XLSX), all-or-nothing imports with row/field/reason errors."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from tracker.errors import ValidationError
from tracker.reports.models import ReviewCase
from tracker.reports.register_figures import review_counts
from tracker.reports.registers import import_cases, import_figures, read_table_file, set_report_text
from tracker.reports.scope import period_scope

from .builders import application, at, message


def _xlsx(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    for row in rows:
        wb.active.append(row)
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def test_read_table_file_formats():
    rows = [["年度", "部门代码", "项目", "指标", "数值"], [2021, "o", "规章", "本年制发件数", 3]]
    assert read_table_file(_xlsx(rows), "r.xlsx") == [
        {"年度": "2021", "部门代码": "o", "项目": "规章", "指标": "本年制发件数", "数值": "3"}
    ]
    text = "年度,部门代码,项目,指标,数值\n2021,o,规章,本年制发件数,3\n"
    assert read_table_file(text.encode("gb18030"), "r.csv") == read_table_file(
        text.encode("utf-8-sig"), "r.csv"
    )
    with pytest.raises(ValidationError, match="只支持 CSV 或 XLSX"):
        read_table_file(b"x", "r.pdf")
    with pytest.raises(ValidationError, match="无法读取 Excel"):
        read_table_file(b"not a zip", "r.xlsx")


def test_case_import_names_row_field_and_reason_and_writes_nothing(session, bureau):
    _root, o, _x = bureau
    hotline = message(session, o, "2021-05-06 10:00")
    rows = [
        {
            "案号": "复1",
            "类型": "复议",
            "结果": "维持",
            "立案日期": "2021-02-01",
            "审结日期": "2021-04-01",
            "部门代码": o.code,
        },
        {"案号": "复2", "类型": "仲裁", "结果": "维持", "立案日期": "2021/02/30", "部门代码": o.code},
        {
            "案号": "",
            "类型": "复议",
            "结果": "纠正",
            "立案日期": "2021-03-01",
            "部门代码": "nowhere",
            "工单编号": hotline.number,
        },
    ]
    with pytest.raises(ValidationError) as info:
        import_cases(session, rows, now=at("2022-01-05 10:00"))
    message_text = info.value.message
    for expected in (
        "第3行「类型」：应为 复议/未经复议直接起诉/复议后起诉，实际为“仲裁”",
        "第3行「立案日期」：日期格式应为 YYYY-MM-DD，实际为“2021/02/30”",
        "第3行「审结日期」：已有结果的案件须填写审结日期",
        "第4行「案号」：必填",
        "第4行「部门代码」：部门“nowhere”不存在",
        "第4行「工单编号」：只能关联依申请公开工单",
    ):
        assert expected in message_text
    assert session.query(ReviewCase).count() == 0


def test_case_import_then_counts_by_result_at_year_end(session, bureau):
    root, o, _x = bureau
    app = application(session, o, "2021-01-05 10:00", "自然人")
    rows = [
        {
            "案号": "复1",
            "类型": "复议",
            "结果": "维持",
            "立案日期": "2021-02-01",
            "审结日期": "2021-04-01",
            "部门代码": o.code,
            "工单编号": app.number,
        },
        {
            "案号": "诉1",
            "类型": "复议后起诉",
            "结果": "纠正",
            "立案日期": "2021-11-01",
            "审结日期": "2022-03-01",
            "部门代码": o.code,
        },
        {
            "案号": "诉2",
            "类型": "未经复议直接起诉",
            "结果": "尚未审结",
            "立案日期": "2020-12-01",
            "部门代码": o.code,
        },
    ]
    result = import_cases(session, rows, now=at("2022-01-05 10:00"))
    assert (result.created, result.updated) == (3, 0)
    assert import_cases(session, rows[:1], now=at("2022-01-06 10:00")).updated == 1  # same 案号: updated
    counts = review_counts(session, period_scope(session, 2021, department_code=root.code))
    assert counts == {("review", "upheld"): 1, ("suit_after_review", "pending"): 1}
    assert review_counts(session, period_scope(session, 2020, department_code=root.code)) == {
        ("direct_suit", "pending"): 1
    }


def test_figures_import_updates_and_texts(session, bureau):
    root, o, _x = bureau
    rows = [{"年度": "2021", "部门代码": o.code, "项目": "normative", "指标": "issued", "数值": "2"}]
    assert import_figures(session, rows, now=at("2022-01-05 10:00")).created == 1
    rows[0]["数值"] = "5"
    assert import_figures(session, rows, now=at("2022-01-06 10:00")).updated == 1
    duplicate = [rows[0], dict(rows[0])]
    with pytest.raises(ValidationError, match="第3行「项目」：与第2行重复"):
        import_figures(session, duplicate, now=at("2022-01-06 10:00"))
    from tracker.reports.annual import build_annual_report, narrative

    set_report_text(
        session,
        year=2021,
        department=root,
        section="problems",
        body="公开范围有待扩大。",
        now=at("2022-01-06 10:00"),
    )
    report = build_annual_report(session, 2021, department_code=root.code)
    assert report.register("normative", "issued") == 5
    assert narrative(report)["problems"] == ["公开范围有待扩大。"]
    with pytest.raises(ValidationError):
        set_report_text(
            session, year=2021, department=root, section="nope", body="x", now=at("2022-01-06 10:00")
        )
