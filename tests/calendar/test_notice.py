"""The notice parser reproduces the published schedules from the notice text as pasted."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from tracker.calendar.notice import parse_notice
from tracker.calendar.store import bundled_csv_text, read_holiday_csv
from tracker.errors import ValidationError

NOTICES = Path(__file__).resolve().parent.parent / "fixtures" / "notices"


def bundled_lines(year: int) -> list[str]:
    return [
        f"{r.day.isoformat()},{r.kind},{r.name}"
        for r in read_holiday_csv(bundled_csv_text())
        if r.year == year
    ]


@pytest.mark.parametrize("year", [2025, 2026])
def test_published_notice_reproduces_bundled_schedule(year):
    parsed = parse_notice((NOTICES / f"notice_{year}.txt").read_text(encoding="utf-8"))
    assert parsed.year == year
    assert parsed.as_csv_lines() == bundled_lines(year)


def test_2026_notice_matches_the_rules_table():
    parsed = parse_notice((NOTICES / "notice_2026.txt").read_text(encoding="utf-8"))
    workdays = [r.day for r in parsed.rows if r.kind == "workday"]
    assert workdays == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]
    spring = [r.day for r in parsed.rows if r.kind == "holiday" and r.name == "春节"]
    assert (spring[0], spring[-1], len(spring)) == (date(2026, 2, 15), date(2026, 2, 23), 9)


def rows_of(text: str, year: int | None = 2025) -> list[tuple[str, str, str]]:
    return [(r.day.isoformat(), r.kind, r.name) for r in parse_notice(text, year=year).rows]


def test_range_across_months_with_weekday_notes():
    assert rows_of("五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。") == [
        ("2025-05-31", "holiday", "端午节"),
        ("2025-06-01", "holiday", "端午节"),
        ("2025-06-02", "holiday", "端午节"),
    ]


def test_single_day_without_adjustment():
    assert rows_of("一、元旦：1月1日（周三）放假1天，不调休。") == [("2025-01-01", "holiday", "元旦")]


def test_two_festivals_on_one_line_share_the_name():
    rows = rows_of(
        "六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。"
    )
    assert {name for _, _, name in rows} == {"国庆节、中秋节"}
    assert [d for d, kind, _ in rows if kind == "workday"] == ["2025-09-28", "2025-10-11"]
    assert len([1 for _, kind, _ in rows if kind == "holiday"]) == 8


def test_lunar_date_notes_in_brackets_are_ignored():
    rows = rows_of(
        "二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。"
    )
    assert rows[0] == ("2025-01-26", "workday", "春节")
    assert rows[1] == ("2025-01-28", "holiday", "春节")
    assert rows[-1] == ("2025-02-08", "workday", "春节")


def test_new_year_reaching_back_into_december_gets_the_previous_year():
    explicit = "一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。2018年12月29日（星期六）上班。"
    implicit = "一、元旦：12月30日（周日）至1月1日（周二）放假调休，共3天。12月29日（周六）上班。"
    expected = [
        ("2018-12-29", "workday", "元旦"),
        ("2018-12-30", "holiday", "元旦"),
        ("2018-12-31", "holiday", "元旦"),
        ("2019-01-01", "holiday", "元旦"),
    ]
    assert rows_of(explicit, 2019) == expected
    assert rows_of(implicit, 2019) == expected
    assert [(d, k, n) for d, k, n in expected] == [
        tuple(line.split(","))
        for line in bundled_lines(2019)
        if line[:4] == "2018" or line.startswith("2019-01-01")
    ]


def test_older_notice_shapes_with_dashes_and_shorthand_days():
    # 国办发明电〔2005〕35号, as published (half-width brackets, "—" ranges, "4月29日、30日上班").
    text = """国务院办公厅关于2006年部分节假日安排的通知
一、元旦:1月1日—3日放假,共3天。其中1月1日为法定假日,将12月31日(星期六)、1月1日(星期日)两个公休日调至1月2日(星期一)、3日(星期二),12月31日(星期六)上班。
三、“五一”:5月1日—7日放假,共7天。其中,1日、2日、3日为法定假日,将4月29日(星期六)、30日(星期日)两个公休日调至5月4日(星期四)、5日(星期五),5月6日(星期六)、7日(星期日)照常公休,4月29日、30日上班。
"""
    parsed = parse_notice(text)
    assert parsed.year == 2006
    lines = parsed.as_csv_lines()
    assert lines[0] == "2005-12-31,workday,元旦"
    assert "2006-04-29,workday,五一" in lines and "2006-04-30,workday,五一" in lines
    assert {line for line in lines if line.endswith("元旦")} == {
        line for line in bundled_lines(2006) if line.endswith("元旦")
    }


def test_year_from_argument_when_title_is_missing():
    assert parse_notice("一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。", year=2026).year == 2026


def test_year_is_required():
    with pytest.raises(ValidationError, match="年份"):
        parse_notice("一、元旦：1月1日（周四）至3日（周六）放假调休，共3天。", year=None)


def test_title_and_argument_must_agree():
    text = (NOTICES / "notice_2026.txt").read_text(encoding="utf-8")
    with pytest.raises(ValidationError, match="不一致"):
        parse_notice(text, year=2027)
    assert parse_notice(text, year=2026).year == 2026


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("二、春节：2月15日至23日放假调休，共8天。", "天数不符"),
        ("一、元旦：1月1日放假1天。1月5日（周一）上班。", "不是周末"),
        ("一、元旦：2月30日放假1天。", "日期无效"),
        ("没有任何放假安排的文字", "没有识别出"),
    ],
)
def test_malformed_notices_are_refused_with_the_line(line, message):
    with pytest.raises(ValidationError, match=message):
        parse_notice(line, year=2026)


def test_a_day_listed_twice_is_refused():
    text = "一、元旦：1月1日放假1天。\n二、春节：1月1日放假1天。"
    with pytest.raises(ValidationError, match="两次"):
        parse_notice(text, year=2026)
