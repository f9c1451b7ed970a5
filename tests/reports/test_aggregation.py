"""Known answers for the figures: carry-over in and out, 31 December, 补正 never supplied, partial once."""

from __future__ import annotations

import pytest

from tracker.reports.annual import build_annual_report
from tracker.reports.disclosure import disclosure_counts, disclosure_ticket_ids, ticket_states_at
from tracker.reports.interactions import interaction_figures, interaction_ticket_ids, ticket_figures
from tracker.reports.rows import OUTCOMES_BY_CODE, UNMAPPED
from tracker.reports.scope import period_scope
from tracker.tickets.channels import APPLICANT_TYPES
from tracker.workflow import transitions as svc

from .builders import application, at, close, message, reply, reply_and_close


@pytest.fixture
def year_2021(session, bureau):
    """Disclosure applications around 2021, in the office (o) and the other office (x)."""
    root, o, x = bureau
    t = {}
    # Received 2020, open on 1 January 2021, answered in January → 二 and （一）.
    t["A"] = application(session, o, "2020-12-20 10:00", "自然人")
    reply_and_close(session, t["A"], "2021-01-10 10:00", "public")
    # Received on 31 December 2021 and not yet answered → 一 and 四.
    t["B"] = application(session, o, "2021-12-31 15:00", "商业企业")
    # 补正 requested, never supplied, closed without naming an outcome → （六）1.
    t["C"] = application(session, o, "2021-03-01 10:00", "自然人")
    svc.transition(session, t["C"], "request_correction", actor="测试", now=at("2021-03-03 10:00"))
    close(session, t["C"], "2021-03-25 10:00")
    # Partly disclosed, then reopened and answered again in full: counted once, as 部分公开.
    t["D"] = application(session, o, "2021-04-01 10:00", "法律服务机构")
    reply(session, t["D"], "2021-04-10 10:00", "partial")
    svc.transition(session, t["D"], "reopen", actor="测试", now=at("2021-04-12 10:00"))
    reply_and_close(session, t["D"], "2021-04-20 10:00", "public")
    # Finished inside 2020: not part of 2021 at all.
    t["E"] = application(session, o, "2020-11-01 10:00", "自然人")
    reply_and_close(session, t["E"], "2020-12-01 10:00", "public")
    t["F"] = application(session, o, "2021-06-01 10:00", "自然人")
    reply_and_close(session, t["F"], "2021-06-05 10:00", "unable_not_held")
    # Received 2020, still open at the end of 2021 → 二 and 四.
    t["G"] = application(session, o, "2020-12-30 10:00", "其他")
    # In the other office: only in the bureau-wide report.
    t["H"] = application(session, x, "2021-05-01 10:00", "自然人")
    reply_and_close(session, t["H"], "2021-05-08 10:00", "public")
    # 31 December 23:30 in Shanghai is 15:30 UTC: still 2021. 1 January 00:10 is 2021-12-31 16:10 UTC: 2022.
    t["I"] = application(session, o, "2021-12-31 23:30", "自然人")
    t["J"] = application(session, o, "2022-01-01 00:10", "自然人")
    return root, o, x, t


def test_bureau_wide_2021_cells(session, year_2021):
    root, _o, _x, _t = year_2021
    scope = period_scope(session, 2021, department_code=root.code)
    c = disclosure_counts(session, scope)
    assert {a: c.get("new", a) for a in ("自然人", "商业企业", "法律服务机构")} == {
        "自然人": 4,  # C F H I — not J (2022 in Shanghai)
        "商业企业": 1,
        "法律服务机构": 1,
    }
    assert c.total("new") == 6
    assert c.total("carried_in") == 2 and c.get("carried_in", "其他") == 1  # A, G (not E)
    assert c.get("public", "自然人") == 2  # A, H
    assert c.total("partial") == 1 and c.get("partial", "法律服务机构") == 1
    assert c.total("public") == 2  # D is not also counted as 予以公开
    assert c.get("unable_not_held", "自然人") == 1
    assert c.get("other_no_correction", "自然人") == 1
    assert c.total("finished") == 5
    assert c.total("carried_out") == 3  # B, G, I
    assert c.total("new") + c.total("carried_in") == c.total("finished") + c.total("carried_out")
    report = build_annual_report(session, 2021, department_code=root.code)
    assert report.failures == []


def test_every_section_three_cell_equals_its_drill_down_list(session, year_2021):
    """The counts (grouped by plain columns first, cell expressions worked out per group) and the drill-down
    (one row per application) give every cell of section 三 alike, in each scope and year."""
    root, o, _x, _t = year_2021
    for day in ("07-01", "07-02", "07-03"):  # alike: one group of three
        twin = application(session, o, f"2021-{day} 10:00", "自然人")
        reply_and_close(session, twin, f"2021-{day} 16:00", "public")
        application(session, o, f"2021-{day} 11:00", "商业企业")  # still open at the end of the year
    rows = ["new", "carried_in", "finished", "carried_out", UNMAPPED, *OUTCOMES_BY_CODE]
    for year in (2020, 2021, 2022):
        for code in (root.code, o.code):
            scope = period_scope(session, year, department_code=code)
            c = disclosure_counts(session, scope)
            for row in rows:
                listed = session.scalars(disclosure_ticket_ids(session, scope, row, None)).all()
                assert c.total(row) == len(listed), (year, code, row)
                for applicant in APPLICANT_TYPES:
                    listed = session.scalars(disclosure_ticket_ids(session, scope, row, applicant)).all()
                    assert c.get(row, applicant) == len(listed), (year, code, row, applicant)


def test_department_subtree_leaves_out_the_other_office(session, year_2021):
    _root, o, _x, t = year_2021
    scope = period_scope(session, 2021, department_code=o.code)
    c = disclosure_counts(session, scope)
    assert c.total("new") == 5 and c.total("finished") == 4
    ids = set(session.scalars(disclosure_ticket_ids(session, scope, "new", None)))
    assert ids == {t[k].id for k in "BCDFI"}


def test_carried_out_of_2021_is_carried_into_2022(session, year_2021):
    root, _o, _x, t = year_2021
    s2021 = period_scope(session, 2021, department_code=root.code)
    s2022 = period_scope(session, 2022, department_code=root.code)
    out_2021 = set(session.scalars(disclosure_ticket_ids(session, s2021, "carried_out", None)))
    in_2022 = set(session.scalars(disclosure_ticket_ids(session, s2022, "carried_in", None)))
    assert out_2021 == in_2022 == {t["B"].id, t["G"].id, t["I"].id}
    assert t["J"].id in set(session.scalars(disclosure_ticket_ids(session, s2022, "new", None)))


def test_state_on_any_date_from_events(session, year_2021):
    *_, t = year_2021
    states = ticket_states_at(session, at("2021-04-15 00:00"), [t["D"].id, t["C"].id, t["J"].id, t["A"].id])
    assert states == {t["D"].id: "in_progress", t["C"].id: "closed", t["J"].id: None, t["A"].id: "closed"}
    assert ticket_states_at(session, at("2021-03-10 00:00"), [t["C"].id]) == {t["C"].id: "waiting_applicant"}


def test_finished_without_outcome_fails_the_check_and_names_the_ticket(session, bureau):
    root, o, _x = bureau
    bad = application(session, o, "2023-03-01 10:00", "自然人")
    svc.transition(session, bad, "start", actor="测试", now=at("2023-03-02 10:00"))
    svc.transition(session, bad, "withdraw", actor="测试", now=at("2023-03-03 10:00"))  # → （六）3, fine
    unnamed = application(session, o, "2023-04-01 10:00", "自然人")
    reply_and_close(session, unnamed, "2023-04-05 10:00", "public")
    unnamed.outcome = "no-such-outcome"  # as an old import might have left it
    session.flush()
    report = build_annual_report(session, 2023, department_code=root.code)
    rules = {f.rule: f for f in report.failures}
    assert set(rules) == {"三（七）=各办理结果之和"}
    assert rules["三（七）=各办理结果之和"].tickets == [(unnamed.id, unnamed.number)]
    assert report.disclosure.get("other", "自然人") == 1


def test_missing_applicant_type_fails_total_check(session, bureau):
    root, o, _x = bureau
    nobody = application(session, o, "2023-05-01 10:00", None)
    report = build_annual_report(session, 2023, department_code=root.code)
    failing = {(f.rule, f.where) for f in report.failures}
    assert ("总计=各申请人列之和", "一、本年新收政府信息公开申请数量") in failing
    assert ("总计=各申请人列之和", "四、结转下年度继续办理") in failing
    assert all(
        f.tickets == [(nobody.id, nobody.number)] for f in report.failures if f.rule.startswith("总计")
    )


def test_reopened_after_an_earlier_year_breaks_the_balance(session, bureau):
    root, o, _x = bureau
    old = application(session, o, "2022-11-01 10:00", "自然人")
    reply_and_close(session, old, "2022-11-20 10:00", "public")
    svc.transition(session, old, "reopen", actor="测试", now=at("2023-02-01 10:00"))
    reply_and_close(session, old, "2023-02-10 10:00", "public")
    report = build_annual_report(session, 2023, department_code=root.code)
    balance = [f for f in report.failures if f.rule == "一+二=三（七）+四"]
    assert {f.where for f in balance} == {"自然人", "总计"}
    assert balance[0].tickets == [(old.id, old.number)]
    with pytest.raises(Exception, match="勾稽关系"):
        report.require_valid()
    report.require_valid(force=True)


@pytest.fixture
def hotline_2026(session, bureau):
    root, o, x = bureau
    t = {
        # Fri 13 Feb → Tue 24 Feb 2026: Sat 14 Feb is a make-up working day, 15–23 Feb 春节 → 2 working days.
        "h1": message(
            session,
            o,
            "2026-02-13 10:00",
            replied="2026-02-24 10:00",
            due="2026-02-20 23:59",
            topics=["新能源汽车"],
        ),
        "h2": message(
            session,
            o,
            "2026-03-02 10:00",
            replied="2026-03-04 10:00",
            due="2026-03-05 23:59",
            satisfaction="满意",
            topics=["电信资费", "新能源汽车"],
        ),
        "h3": message(session, o, "2026-03-03 10:00", topics=["集体企业改制"]),
        "h4": message(
            session,
            x,
            "2026-03-05 09:00",
            replied="2026-03-05 16:00",
            due="2026-03-10 23:59",
            satisfaction="不满意",
            category="电信资费",
        ),
        "h5": message(
            session,
            o,
            "2026-04-01 10:00",
            replied="2026-04-03 10:00",
            due="2026-04-02 23:59",
            satisfaction="基本满意",
            topics=["新能源汽车"],
        ),
        "w1": message(
            session,
            o,
            "2026-05-06 10:00",
            channel="website",
            replied="2026-05-07 10:00",
            due="2026-05-13 23:59",
            satisfaction="满意",
        ),
    }
    return root, o, x, t


def test_interaction_figures_with_known_answers(session, hotline_2026):
    root, *_rest, _t = hotline_2026
    scope = period_scope(session, 2026, department_code=root.code)
    f = interaction_figures(session, scope)
    h = f["hotline"]
    assert (h.received, h.replied, h.on_time, h.rated, h.satisfied) == (5, 4, 2, 3, 2)
    assert (h.reply_rate.numerator, h.reply_rate.denominator, h.reply_rate.value) == (4, 5, 0.8)
    assert (h.on_time_rate.numerator, h.on_time_rate.denominator) == (2, 4)
    assert (h.satisfaction_rate.numerator, h.satisfaction_rate.denominator) == (2, 3)
    assert h.median_workdays == 2.0  # 2, 2, 0, 2
    assert h.mean_workdays == pytest.approx(1.5)
    w = f["website"]
    assert (w.received, w.replied, w.reply_rate.value, w.satisfaction_rate.value) == (1, 1, 1.0, 1.0)
    assert f["weibo"].received == 0 and f["weibo"].reply_rate.value is None
    strict = interaction_figures(session, scope, satisfied_levels=("满意",))
    assert strict["hotline"].satisfied == 1


def test_quarterly_and_monthly_from_the_same_code(session, hotline_2026):
    root, *_ = hotline_2026
    q1 = interaction_figures(session, period_scope(session, 2026, department_code=root.code, quarter=1))
    april = interaction_figures(session, period_scope(session, 2026, department_code=root.code, month=4))
    assert q1["hotline"].received == 4 and april["hotline"].received == 1
    assert q1["hotline"].median_workdays == 2.0


def test_top_topics_and_drill_down(session, hotline_2026):
    root, *_rest, t = hotline_2026
    scope = period_scope(session, 2026, department_code=root.code)
    assert ticket_figures(session, scope).topics[:2] == [("新能源汽车", 3), ("电信资费", 2)]
    on_time = set(session.scalars(interaction_ticket_ids(session, scope, "hotline", "on_time")))
    assert on_time == {t["h2"].id, t["h4"].id}
    satisfied = set(session.scalars(interaction_ticket_ids(session, scope, "hotline", "satisfied")))
    assert satisfied == {t["h2"].id, t["h5"].id}


def test_interaction_figures_equal_their_drill_down_lists(session, bureau):
    """The histogram scan (unmerged tickets, then merged applications apart) counts exactly the tickets
    the drill-down lists: a merged duplicate message is left out, a merged application (a 重复申请) is
    counted in the disclosure channel, a reply after the year is no reply of the year."""
    root, office, other = bureau
    message(session, office, "2024-03-04 10:00", replied="2024-03-05 10:00", due="2024-03-08 23:59")
    message(session, other, "2024-03-04 11:00", replied="2024-03-12 10:00", due="2024-03-08 23:59")
    message(session, office, "2024-03-05 10:00", replied="2024-03-06 10:00", satisfaction="基本满意")
    message(session, office, "2024-12-31 20:00", replied="2025-01-02 10:00", due="2025-01-03 23:59")
    kept = message(session, office, "2024-04-01 10:00", channel="website", satisfaction="不满意")
    duplicate = message(session, office, "2024-04-01 11:00", channel="website", replied="2024-04-02 10:00")
    duplicate.merged_into_id = kept.id
    first = application(session, office, "2024-05-06 10:00")
    again = application(session, other, "2024-05-07 10:00")
    reply(session, again, "2024-05-08 10:00", "np_repeat")
    again.merged_into_id = first.id
    session.flush()

    for code in (root.code, office.code, other.code):
        scope = period_scope(session, 2024, department_code=code)
        figures = interaction_figures(session, scope)
        for channel, f in figures.items():
            for measure in ("received", "replied", "on_time", "rated", "satisfied"):
                listed = session.scalars(interaction_ticket_ids(session, scope, channel, measure)).all()
                assert getattr(f, measure) == len(listed), (code, channel, measure)

    bureau_figures = interaction_figures(session, period_scope(session, 2024, department_code=root.code))
    h, w, d = bureau_figures["hotline"], bureau_figures["website"], bureau_figures["disclosure"]
    assert (h.received, h.replied, h.on_time) == (4, 3, 2)  # 31 Dec: replied in 2025; one replied late
    assert (w.received, w.replied, w.rated, w.satisfied) == (1, 0, 1, 0)  # the merged duplicate left out
    assert (d.received, d.replied) == (2, 1)  # the merged application counted


def test_the_report_says_where_each_rating_came_from(session, bureau):
    """回访, the citizen's 好差评 on the portal, the platform's record in an import; older ratings unknown."""
    from sqlalchemy import update

    from tracker.reports.html import INTERACTION_TEMPLATE
    from tracker.tickets.models import Ticket

    root, o, _x = bureau
    revisit = message(session, o, "2026-05-06 10:00", replied="2026-05-07 10:00", satisfaction="满意")
    platform = message(session, o, "2026-05-06 11:00", replied="2026-05-07 10:00")
    svc.rate_ticket(session, platform, "不满意", actor="回访", now=at("2026-05-08 10:00"), source="platform")
    portal = message(session, o, "2026-05-06 12:00", channel="website", replied="2026-05-07 10:00")
    portal.query_code = "ABCDEF123456"
    svc.rate_from_portal(session, "abcdef123456", "非常满意", now=at("2026-05-09 10:00"))
    legacy = message(session, o, "2026-05-06 13:00", replied="2026-05-07 10:00", satisfaction="基本满意")
    session.execute(update(Ticket).where(Ticket.id == legacy.id).values(satisfaction_source=None))
    session.flush()
    f = interaction_figures(session, period_scope(session, 2026, department_code=root.code))
    assert f["hotline"].rating_sources == {"revisit": 1, "platform": 1, "unknown": 1}
    assert f["website"].rating_sources == {"portal": 1}
    assert (f["website"].rated, f["website"].satisfied) == (1, 1)  # 非常满意 counts as satisfied
    assert f["hotline"].rating_sources_text() == "回访 1 · 平台导入 1 · 来源未记录 1"
    html = INTERACTION_TEMPLATE.render(figures=f, link=None)
    assert "网站好差评 1" in html and "评价来源" in html
    assert revisit.satisfaction_source == "revisit"
