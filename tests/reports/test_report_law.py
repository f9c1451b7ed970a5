"""Issue 18, items 13–17: the report follows the law — exact cells of section 三, the interaction figures
and the free-form report of the 2007 条例."""

from __future__ import annotations

from tracker.reports.annual import build_annual_report
from tracker.reports.disclosure import disclosure_counts
from tracker.reports.interactions import interaction_figures
from tracker.reports.scope import period_scope
from tracker.workflow import transitions as svc

from .builders import application, at, close, reply


def test_answered_but_not_closed_counts_in_the_results_of_the_year(session, bureau):
    """Item 13: handling ends with the 答复 (条例 arts. 33, 36); the 办结 click is not what ends it."""
    root, o, _x = bureau
    answered = application(session, o, "2025-03-02 10:00", "自然人")
    reply(session, answered, "2025-03-20 10:00", "public")  # never 办结
    report = build_annual_report(session, 2025, department_code=root.code)
    c = report.disclosure
    assert c.get("new", "自然人") == 1
    assert c.get("public", "自然人") == 1 and c.total("public") == 1  # （一）予以公开
    assert c.total("finished") == 1  # （七）总计
    assert c.total("carried_out") == 0  # not 结转下年度
    # The same report counts it as replied: the two parts of the report agree.
    assert report.interaction["disclosure"].replied == 1
    assert report.failures == []
    tree = report.tables[-2]  # section 三
    assert tree.cell("三、本年度办理结果", "（一）予以公开", column="自然人").value == 1
    assert tree.cell("四、结转下年度继续办理", column="总计").value == 0


def test_answered_28_december_and_closed_in_january_belongs_to_the_answers_year(session, bureau):
    root, o, _x = bureau
    late = application(session, o, "2025-12-01 10:00", "商业企业")
    reply(session, late, "2025-12-28 10:00", "withheld_process")
    close(session, late, "2026-01-06 10:00")
    c25 = disclosure_counts(session, period_scope(session, 2025, department_code=root.code))
    assert c25.get("withheld_process", "商业企业") == 1
    assert c25.total("finished") == 1 and c25.total("carried_out") == 0
    report26 = build_annual_report(session, 2026, department_code=root.code)
    c26 = report26.disclosure
    # Not carried into 2026, not a 2026 result: the January 办结 only closed the file.
    assert c26.total("carried_in") == 0
    assert c26.total("finished") == 0 and c26.total("withheld_process") == 0
    assert report26.failures == []


def test_reopened_in_the_next_year_and_answered_again_is_still_flagged(session, bureau):
    """The rule does not hide a real history error: answered in 2025, reopened and answered in 2026."""
    root, o, _x = bureau
    app = application(session, o, "2025-11-01 10:00", "自然人")
    reply(session, app, "2025-11-20 10:00", "public")
    svc.transition(session, app, "reopen", actor="测试", now=at("2026-02-02 10:00"))
    reply(session, app, "2026-02-10 10:00", "public")
    report = build_annual_report(session, 2026, department_code=root.code)
    assert {f.where for f in report.failures if f.rule == "一+二=三（七）+四"} == {"自然人", "总计"}


def _docx_text(data: bytes) -> list[str]:
    import io

    from docx import Document

    return [p.text for p in Document(io.BytesIO(data)).paragraphs]


def test_years_under_the_2007_regulation_report_fees_and_waivers(session, bureau):
    """Item 17: 2007 条例 art. 32(三) — 收费及减免情况 is a section of a free-form year's report."""
    from decimal import Decimal

    from tracker.reports.annual import section_titles
    from tracker.reports.docx import render_docx
    from tracker.reports.exporters import report_json
    from tracker.reports.html import render_html
    from tracker.reports.registers import set_figure

    root, o, _x = bureau
    now = at("2017-02-01 10:00")
    set_figure(
        session, year=2016, department=root, item="fees_2007", measure="yuan", value=Decimal("35.5"), now=now
    )
    set_figure(
        session, year=2016, department=o, item="fee_waivers_2007", measure="yuan", value=Decimal(12), now=now
    )
    report = build_annual_report(session, 2016, department_code=root.code)
    assert report.format == "free"
    titles = list(section_titles(report.format).values())
    assert titles == [
        "一、概述",
        "二、政府信息主动公开情况",
        "三、政府信息依申请公开情况",
        "四、政府信息公开的收费及减免情况",
        "五、政府信息公开复议诉讼情况",
        "六、主要问题和改进措施",
        "七、其他需要报告的事项",
    ]
    sentence = f"2016年度，{root.name}依申请提供政府信息收取检索、复制、邮寄等费用35.5元，减免收费12元。"
    paragraphs = _docx_text(render_docx(report))
    heading = paragraphs.index("四、政府信息公开的收费及减免情况")
    assert paragraphs[heading + 1] == sentence
    assert "<h2>四、政府信息公开的收费及减免情况</h2>" in render_html(report) and sentence in render_html(
        report
    )
    assert report_json(report)["free_form"]["fees"] == {"charged": 35.5, "waived": 12.0}
    # Nothing recorded: the section still stands and says so.
    empty = build_annual_report(session, 2015, department_code=root.code)
    assert (
        "2015年度，" + root.name + "依申请提供政府信息未收取检索、复制、邮寄等费用，无减免收费情况。"
        in _docx_text(render_docx(empty))
    )


def test_years_under_the_2019_regulation_have_no_fee_section_of_their_own(session, bureau):
    from tracker.reports.annual import section_titles

    for year, fmt in ((2019, "2019"), (2021, "2021")):
        report = build_annual_report(session, year, department_code=bureau[0].code)
        assert report.format == fmt
        assert all("收费及减免" not in t for t in section_titles(report.format).values())
        assert list(section_titles(report.format).values())[-1] == "六、其他需要报告的事项"


def test_on_time_is_judged_by_the_first_reply(session, bureau):
    """Item 16: answered in time, reopened, answered again after the due time → still on time."""
    from .builders import message, set_reply_due

    root, o, _x = bureau
    app = application(session, o, "2025-04-01 10:00", "自然人")
    set_reply_due(session, app, at("2025-04-29 23:59"))
    reply(session, app, "2025-04-20 10:00", "public")
    svc.transition(session, app, "reopen", actor="测试", now=at("2025-05-06 10:00"))
    reply(session, app, "2025-05-20 10:00", "public")  # after the due time
    late = application(session, o, "2025-04-02 10:00", "自然人")
    set_reply_due(session, late, at("2025-04-30 23:59"))
    reply(session, late, "2025-05-08 10:00", "public")
    hot = message(session, o, "2025-06-02 10:00", replied="2025-06-03 10:00", due="2025-06-04 23:59")
    svc.transition(session, hot, "reopen", actor="测试", now=at("2025-06-05 10:00"))
    svc.reply_ticket(session, hot, "再次答复。", actor="测试", now=at("2025-06-20 10:00"))
    assert hot.first_replied_at == at("2025-06-03 10:00") and hot.replied_at == at("2025-06-20 10:00")
    f = interaction_figures(session, period_scope(session, 2025, department_code=root.code))
    assert (f["disclosure"].replied, f["disclosure"].on_time) == (2, 1)  # app on time, late late
    assert f["disclosure"].on_time_rate.percent() == "50%"
    assert (f["hotline"].replied, f["hotline"].on_time) == (1, 1)
    # Working days to reply count to the first answer too: Tue 1 Apr → Sun 20 Apr 2025 (清明 4–6 Apr, 27 Apr
    # a make-up working day after the 20th) = 13 working days; the hotline order 1 day.
    assert f["hotline"].median_workdays == 1
    report = build_annual_report(session, 2025, department_code=root.code)
    assert report.interaction["disclosure"].on_time == 1
