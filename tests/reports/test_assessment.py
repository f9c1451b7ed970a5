"""The assessment of November 2026 (tests/reports/assessment_month.py) against numbers counted by hand from
that file's table — not by the SQL under test — on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from tests.reports.assessment_month import build_november
from tests.reports.builders import at
from tracker.errors import NotFound, ValidationError
from tracker.reports.assessment import assessment_tickets, build_assessment, people_assessment
from tracker.reports.assessment_rules import (
    DEFAULT_RULES,
    load_rules,
    parse_period,
    rules_from_dict,
    with_overrides,
)
from tracker.workorders.models import RepeatLink

NOV = parse_period("2026-11")
RULES = with_overrides(DEFAULT_RULES, minimum_sample=3)


def _nd(entry) -> tuple:
    return entry["num"], entry["den"]


@pytest.fixture
def month(session):
    return build_november(session)


def _unit(data, code):
    return next(u for u in data["units"] if u["code"] == code)


def test_unit_a_matches_hand_count(session, month):
    data = build_assessment(session, NOV, RULES)
    a = _unit(data, month.a.code)
    # received: a1 a2 a3 a4 a7 a8 (a5 is October's, a6 a repeat, a9 December's in Shanghai, a10 a website order)
    assert a["received"] == 6
    rates = a["rates"]
    assert _nd(rates["sign_on_time"]) == (3, 5)  # den without a4 (cancelled unmet); a2 late, a8 unmet
    assert _nd(rates["sent_back"]) == (1, 6)  # a4 accepted; a3's refused send-back not counted
    assert _nd(rates["close_on_time"]) == (2, 3)  # due in November: a1 ok, a2 late, a5 (October's order) ok
    assert _nd(rates["response"]) == (4, 4)  # last call-back of a1 a2 a5 a7
    assert _nd(rates["resolution"]) == (3, 4)  # a2 unresolved
    assert _nd(rates["satisfaction"]) == (3, 4)  # a1 满意, a5 基本满意, a7's last 满意
    assert _nd(rates["redone"]) == (1, 3)  # closed in November: a1 a2 a5; a2 redone
    assert a["supervised"] == 1 and a["supervised_on_time"] == 1
    assert rates["sign_on_time"]["rate"] == 0.6
    assert rates["close_on_time"]["rate"] == 0.6667


def test_unit_b_and_c_and_bureau(session, month):
    data = build_assessment(session, NOV, RULES)
    b, c = _unit(data, month.b.code), _unit(data, month.c.code)
    assert b["received"] == 3
    assert _nd(b["rates"]["sign_on_time"]) == (3, 3)
    assert _nd(b["rates"]["close_on_time"]) == (2, 3)  # b2 unanswered; b3 met exactly at its due time
    assert _nd(b["rates"]["response"]) == (2, 2)
    assert _nd(b["rates"]["resolution"]) == (1, 2)
    assert _nd(b["rates"]["satisfaction"]) == (2, 2)
    assert _nd(b["rates"]["redone"]) == (0, 2)
    assert _nd(b["rates"]["sent_back"]) == (0, 3)
    assert b["supervised"] == 1 and b["supervised_on_time"] == 0
    assert c["received"] == 1 and _nd(c["rates"]["sign_on_time"]) == (1, 1)
    assert c["rates"]["close_on_time"] == {"num": 0, "den": 0, "rate": None}
    mine = {month.a.code, month.b.code, month.c.code}
    assert {u["code"] for u in data["units"]} >= mine
    # The fixture is the only data of this test's transaction: the bureau is A + B + C.
    bureau = data["bureau"]
    assert bureau["received"] == 10
    assert _nd(bureau["rates"]["sign_on_time"]) == (7, 9)
    assert _nd(bureau["rates"]["close_on_time"]) == (4, 6)
    assert _nd(bureau["rates"]["satisfaction"]) == (5, 6)
    assert bureau["supervised"] == 2


def test_scores_ranking_minimum_sample_and_trend(session, month):
    data = build_assessment(session, NOV, RULES)
    a, b, c = (_unit(data, u.code) for u in (month.a, month.b, month.c))
    # Weights 10 25 10 20 20 10 5 (out of 100): A = 10·3/5 + 25·2/3 + 10·1 + 20·3/4 + 20·3/4 + 10·(1−1/6)
    # + 5·(1−1/3) = 74.33; B = 10 + 25·2/3 + 10 + 20·1/2 + 20 + 10 + 5 = 81.67.
    assert a["score"] == 74.33
    assert b["score"] == 81.67
    assert (b["rank"], a["rank"]) == (1, 2)
    # C scores 100 on its one order but stays out of the ranking: one order is below the minimum of three.
    assert c["score"] == 100 and c["rank"] is None and c["ranked"] is False
    # October: only a5 (unit A, one order, below the minimum); its score over sign and send-back is 100.
    assert a["trend"] == {
        "previous_score": 100.0,
        "previous_rank": None,
        "score_change": -25.67,
        "rank_change": None,
    }
    assert b["trend"]["previous_score"] is None


def test_json_shape(session, month):
    data = json.loads(json.dumps(build_assessment(session, NOV, RULES)))
    assert data["period"] == "2026-11"
    unit = data["units"][0]
    for key in ("code", "name", "received", "rank", "rates", "supervised"):
        assert key in unit
    assert list(unit["rates"]) == [
        "sign_on_time",
        "close_on_time",
        "response",
        "resolution",
        "satisfaction",
        "sent_back",
        "redone",
    ]
    assert set(unit["rates"]["response"]) == {"num", "den", "rate"}
    assert {"received", "rates", "supervised"} <= set(data["bureau"])


def test_repeats_counted_when_the_city_says_so(session, month):
    data = build_assessment(session, NOV, with_overrides(RULES, count_repeats_once=False))
    a = _unit(data, month.a.code)
    assert a["received"] == 7  # a6 counts too
    assert _nd(a["rates"]["sign_on_time"]) == (4, 6)


def test_a_dismissed_repeat_link_counts_the_order_again(session, month):
    # Staff marked a6 «不是重复件»: the link stays (never deleted) but no longer makes it a repeat.
    link = session.scalar(select(RepeatLink).where(RepeatLink.ticket_id == month.orders["a6"].id))
    link.dismissed_at = at("2026-11-21 09:00")
    link.dismissed_by_label = "测试"
    session.flush()
    a = _unit(build_assessment(session, NOV, RULES), month.a.code)
    assert a["received"] == 7


def test_configurable_definitions(session, month):
    every = build_assessment(session, NOV, with_overrides(RULES, revisit_basis="every"))
    a = _unit(every, month.a.code)
    assert _nd(a["rates"]["response"]) == (4, 5)  # a7's first call: not contacted
    assert _nd(a["rates"]["satisfaction"]) == (3, 5)
    half = build_assessment(session, NOV, with_overrides(RULES, basically_satisfied_weight=0.5))
    assert _nd(_unit(half, month.a.code)["rates"]["satisfaction"]) == (2.5, 4)
    closed = build_assessment(session, NOV, with_overrides(RULES, close_basis="closed"))
    # closed in November: a1 (on time), a2 (late), a5 (on time)
    assert _nd(_unit(closed, month.a.code)["rates"]["close_on_time"]) == (2, 3)


def test_drill_down_lists_the_counted_orders(session, month):
    def ids(figure, part, code=month.a.code):
        return {
            i
            for i, _n in assessment_tickets(
                session, NOV, RULES, figure=figure, part=part, department_code=code
            )
        }

    assert ids("sign_on_time", "num") == month.ids("a1", "a3", "a7")
    assert ids("sign_on_time", "den") == month.ids("a1", "a2", "a3", "a7", "a8")
    assert ids("close_on_time", "den") == month.ids("a1", "a2", "a5")
    assert ids("sent_back", "num") == month.ids("a4")
    assert ids("received", "den") == month.ids("a1", "a2", "a3", "a4", "a7", "a8")
    assert ids("satisfaction", "den") == month.ids("a1", "a2", "a5", "a7")
    assert ids("redone", "num") == month.ids("a2")
    assert ids("supervised", "den", month.b.code) == month.ids("b2")
    numbers = dict(
        assessment_tickets(session, NOV, RULES, figure="redone", part="num", department_code=month.a.code)
    )
    assert numbers[month.orders["a2"].id] == month.orders["a2"].number


def test_per_person(session, month):
    people = people_assessment(session, NOV, RULES, department_code=month.a.code)
    assert [p["username"] for p in people] == [month.u1.username]
    u1 = people[0]
    assert u1["received"] == 2
    assert _nd(u1["rates"]["sign_on_time"]) == (1, 2)
    assert _nd(u1["rates"]["redone"]) == (1, 2)
    drilled = assessment_tickets(session, NOV, RULES, figure="received", part="den", user_id=month.u1.id)
    assert {i for i, _ in drilled} == month.ids("a1", "a2")


def test_department_filter_keeps_rank_among_all(session, month):
    data = build_assessment(session, NOV, RULES, department_code=month.a.code)
    assert [u["code"] for u in data["units"]] == [month.a.code]
    assert data["units"][0]["rank"] == 2
    with pytest.raises(NotFound):
        build_assessment(session, NOV, RULES, department_code="no-such-unit")


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26-11", "", "2026-11-01", "1999"])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValidationError) as caught:
        parse_period(text)
    assert "period" in caught.value.fields


def test_periods():
    assert parse_period("2026-Q4").previous().key == "2026-Q3"
    assert parse_period("2026-Q1").previous().key == "2025-Q4"
    assert parse_period("2026-01").previous().key == "2025-12"
    assert parse_period("2026").previous().key == "2025"
    q4 = parse_period("2026-Q4")
    assert (q4.first.isoformat(), q4.after.isoformat()) == ("2026-10-01", "2027-01-01")


def test_rules_file(tmp_path):
    assert load_rules(tmp_path) is DEFAULT_RULES
    (tmp_path / "assessment.json").write_text(
        json.dumps(
            {"weights": {"satisfaction": 40}, "minimum_sample": 50, "basically_satisfied_weight": 0.8}
        ),
        encoding="utf-8",
    )
    rules = load_rules(tmp_path)
    assert rules.weights["satisfaction"] == 40 and rules.weights["sign_on_time"] == 10
    assert rules.minimum_sample == 50 and rules.basically_satisfied_weight == 0.8
    assert rules.source.endswith("assessment.json")
    for bad in (
        {"weight": {}},
        {"weights": {"speed": 3}},
        {"close_basis": "whenever"},
        {"minimum_sample": -1},
        {"basically_satisfied_weight": 2},
        {"count_repeats_once": "yes"},
        [],
    ):
        with pytest.raises(ValidationError):
            rules_from_dict(bad, source="test")
    (tmp_path / "assessment.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ValidationError):
        load_rules(tmp_path)


def test_drill_down_refuses_unknown_figures(session):
    with pytest.raises(ValidationError):
        assessment_tickets(session, NOV, RULES, figure="speed", part="num")
    with pytest.raises(ValidationError):
        assessment_tickets(session, NOV, RULES, figure="response", part="all")


def test_trend_uses_last_periods_prepared_ranking_under_the_same_rules(session, month):
    from tests.reports.builders import at
    from tracker.reports.models import AssessmentSnapshot

    reported = {"code": month.a.code, "score": 90.0, "rank": 1}
    session.add(
        AssessmentSnapshot(
            period="2026-10",
            prepared_at=at("2026-11-02 09:20"),
            rules_source=RULES.source,
            data={"units": [reported], "bureau": {"score": 88.5}, "rules": RULES.as_dict()},
        )
    )
    session.flush()
    data = build_assessment(session, NOV, RULES)
    assert data["trend_basis"] == "prepared"
    a = _unit(data, month.a.code)
    assert a["trend"] == {
        "previous_score": 90.0,
        "previous_rank": 1,
        "score_change": -15.67,
        "rank_change": -1,
    }
    assert data["bureau"]["trend"]["previous_score"] == 88.5
    # Under other rules the prepared figures are not comparable: last period is computed afresh.
    other = build_assessment(session, NOV, with_overrides(RULES, minimum_sample=1))
    assert other["trend_basis"] == "computed"
    assert _unit(other, month.a.code)["trend"]["previous_rank"] == 1  # October: A alone, ranked at 1 order
