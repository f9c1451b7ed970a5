"""The working-day calendar: exact against the published schedules, fast, and refusing unknown years."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracker.calendar.days import (
    HOLIDAY,
    WORKDAY,
    RestSpan,
    WorkCalendar,
    format_day,
    format_span,
)
from tracker.calendar.store import bundled_calendar
from tracker.errors import CalendarYearMissing, TrackerError, ValidationError

CALENDAR = bundled_calendar()
FIRST, LAST = date(2004, 1, 1), date(2026, 12, 31)
# 国办发明电〔2005〕35号 made Saturday 2005-12-31 a working day; chinese_calendar has it as a day off.
NOTICE_WORKDAY_FIXES = {date(2005, 12, 31)}


def oracle_is_workday(day: date) -> bool:
    """The independent oracle: chinese_calendar, corrected where it departs from the notice."""
    if day in NOTICE_WORKDAY_FIXES:
        return True
    return chinese_calendar.is_workday(day)


def oracle_add_workdays(day: date, count: int) -> date:
    """Day-by-day walk: obviously correct, deliberately not how the calendar does it."""
    while count > 0:
        day += timedelta(days=1)
        if oracle_is_workday(day):
            count -= 1
    return day


def test_is_workday_matches_published_schedules_every_day_2004_to_2026():
    day, mismatches = FIRST, []
    while day <= LAST:
        if CALENDAR.is_workday(day) != oracle_is_workday(day):
            mismatches.append(day)
        day += timedelta(days=1)
    assert mismatches == []


def test_2005_12_31_follows_the_notice_not_chinese_calendar():
    assert CALENDAR.is_workday(date(2005, 12, 31)) is True
    assert chinese_calendar.is_workday(date(2005, 12, 31)) is False
    assert CALENDAR.is_holiday(date(2006, 1, 3))


@settings(max_examples=400, deadline=None)
@given(st.dates(min_value=FIRST, max_value=LAST), st.integers(min_value=0, max_value=80))
def test_add_workdays_agrees_with_day_by_day_oracle(day, count):
    try:
        expected = oracle_add_workdays(day, count)
    except NotImplementedError:  # chinese_calendar knows nothing after 2026 either
        with pytest.raises(CalendarYearMissing, match="2027年节假日安排尚未导入"):
            CALENDAR.add_workdays(day, count)
        return
    assert CALENDAR.add_workdays(day, count) == expected


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=FIRST, max_value=LAST), st.dates(min_value=FIRST, max_value=LAST))
def test_workdays_between_counts_half_open_interval(first, second):
    start, end = min(first, second), max(first, second)
    expected = sum(oracle_is_workday(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))
    assert CALENDAR.workdays_between(start, end) == expected
    assert CALENDAR.workdays_between(end, start) == -expected


@pytest.mark.parametrize(
    ("start", "count", "expected", "why"),
    [
        (date(2026, 3, 7), 20, date(2026, 4, 3), "received on a Saturday: day 1 is Monday 3-09"),
        (
            date(2026, 2, 28),
            20,
            date(2026, 3, 27),
            "received on a make-up Saturday: that day is still not counted",
        ),
        (date(2026, 10, 3), 20, date(2026, 11, 3), "received during National Day"),
        (date(2026, 2, 12), 20, date(2026, 3, 18), "across Spring Festival, counting both make-up Saturdays"),
        (date(2026, 9, 18), 20, date(2026, 10, 22), "across 中秋 and 国庆, counting 9-20 and 10-10"),
        (date(2025, 12, 20), 20, date(2026, 1, 19), "across the year end, counting Sunday 2026-01-04"),
        (date(2026, 2, 14), 1, date(2026, 2, 24), "next working day after the make-up Saturday"),
        (date(2025, 12, 31), 1, date(2026, 1, 4), "the first working day of 2026 is a Sunday"),
        (date(2026, 9, 28), 5, date(2026, 10, 10), "ends on the make-up Saturday after National Day"),
        (date(2026, 2, 15), 0, date(2026, 2, 15), "zero days: the date itself, even a holiday"),
    ],
)
def test_add_workdays_statutory_cases(start, count, expected, why):
    assert CALENDAR.add_workdays(start, count) == expected, why


def test_negative_count_is_a_validation_error():
    with pytest.raises(ValidationError):
        CALENDAR.add_workdays(date(2026, 3, 2), -1)


@pytest.mark.parametrize(
    "question",
    [
        lambda c: c.is_workday(date(2027, 1, 4)),
        lambda c: c.add_workdays(date(2026, 12, 10), 20),
        lambda c: c.add_workdays(date(2027, 1, 4), 1),
        lambda c: c.workdays_between(date(2026, 12, 1), date(2027, 1, 10)),
        lambda c: c.roll_forward(date(2027, 1, 1)),
        lambda c: c.rest_spans(date(2026, 12, 1), date(2027, 2, 1)),
        lambda c: c.overrides_in_year(2027),
    ],
)
def test_unloaded_year_is_refused_never_guessed(question):
    with pytest.raises(CalendarYearMissing) as refused:
        question(CALENDAR)
    assert str(refused.value) == "2027年节假日安排尚未导入"
    assert refused.value.year == 2027
    assert isinstance(refused.value, TrackerError)


def test_years_before_the_history_are_refused():
    with pytest.raises(CalendarYearMissing, match="2003年"):
        CALENDAR.is_workday(date(2003, 12, 31))


def test_a_gap_between_loaded_years_is_refused():
    calendar = WorkCalendar([], [2025, 2027])
    assert calendar.add_workdays(date(2025, 12, 1), 5) == date(2025, 12, 8)
    with pytest.raises(CalendarYearMissing, match="2026年"):
        calendar.add_workdays(date(2025, 12, 20), 20)
    with pytest.raises(CalendarYearMissing, match="2026年"):
        calendar.workdays_between(date(2025, 12, 1), date(2027, 1, 10))


def test_loading_the_next_year_makes_it_usable():
    rows_2027 = [
        (date(2027, 1, 1), HOLIDAY, "元旦"),
        (date(2027, 1, 2), HOLIDAY, "元旦"),
        (date(2027, 1, 3), HOLIDAY, "元旦"),
    ]
    existing = [(o.day, o.kind, o.name) for y in range(2004, 2027) for o in CALENDAR.overrides_in_year(y)]
    calendar = WorkCalendar(existing + rows_2027, range(2004, 2028))
    assert calendar.add_workdays(date(2026, 12, 10), 20) == date(2027, 1, 8)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 3, 8), date(2026, 3, 9)),  # a plain Sunday is an official rest day: rolls over
        (date(2026, 2, 14), date(2026, 2, 14)),  # a make-up Saturday is a working day: stays
        (date(2026, 2, 15), date(2026, 2, 24)),  # the first day of Spring Festival: after the holiday ends
        (date(2026, 10, 1), date(2026, 10, 8)),
        (date(2026, 3, 9), date(2026, 3, 9)),
    ],
)
def test_roll_forward_follows_civil_code_art_203(day, expected):
    assert CALENDAR.roll_forward(day) == expected


def test_next_workday():
    assert CALENDAR.next_workday(date(2026, 9, 30)) == date(2026, 10, 8)


def test_rest_spans_name_whole_holidays_for_explanations():
    spans = CALENDAR.rest_spans(date(2026, 2, 20), date(2026, 3, 1))
    assert spans == [RestSpan(date(2026, 2, 15), date(2026, 2, 23), "春节")]
    assert spans[0].days == 9
    assert CALENDAR.rest_spans(date(2026, 3, 9), date(2026, 3, 20)) == []
    two = CALENDAR.rest_spans(date(2026, 9, 1), date(2026, 10, 31))
    assert [(s.name, s.start, s.end) for s in two] == [
        ("中秋节", date(2026, 9, 25), date(2026, 9, 27)),
        ("国庆节", date(2026, 10, 1), date(2026, 10, 7)),
    ]


def test_makeup_workdays_are_listed_with_their_holiday():
    makeup = CALENDAR.makeup_workdays(date(2026, 2, 1), date(2026, 3, 31))
    assert [(m.day, m.kind, m.name) for m in makeup] == [
        (date(2026, 2, 14), WORKDAY, "春节"),
        (date(2026, 2, 28), WORKDAY, "春节"),
    ]


def test_overrides_in_year_and_day_name():
    rows = CALENDAR.overrides_in_year(2026)
    assert len(rows) == 39
    assert CALENDAR.day_name(date(2026, 10, 10)) == "国庆节"
    assert CALENDAR.is_makeup_workday(date(2026, 10, 10))


def test_unknown_kind_is_rejected():
    with pytest.raises(ValidationError):
        WorkCalendar([(date(2026, 1, 1), "day-off", "元旦")], [2026])


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        (date(2026, 2, 15), date(2026, 2, 23), "2月15日至23日"),
        (date(2025, 5, 31), date(2025, 6, 2), "5月31日至6月2日"),
        (date(2018, 12, 30), date(2019, 1, 1), "12月30日至2019年1月1日"),
        (date(2025, 1, 1), date(2025, 1, 1), "1月1日"),
    ],
)
def test_format_span(start, end, text):
    assert format_span(start, end) == text


def test_format_day_names_the_weekday():
    assert format_day(date(2026, 2, 12)) == "2026-02-12（周四）"


def test_add_workdays_is_not_a_day_by_day_loop():
    """A 5,000-working-day jump costs the same as a one-day step (bisect on sorted ordinals)."""
    import time

    def timed(count):
        started = time.perf_counter()
        for _ in range(2000):
            CALENDAR.add_workdays(date(2004, 1, 2), count)
        return time.perf_counter() - started

    assert timed(5000) < timed(1) * 3 + 0.01


def test_runtime_does_not_import_the_oracle_packages():
    """chinesecalendar and holidays are dev dependencies: the product reads its own data file."""
    import ast
    from pathlib import Path

    tracker = Path(__file__).resolve().parents[2] / "tracker"
    offenders = []
    for path in tracker.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] in {"chinese_calendar", "holidays"}
            ]
    assert offenders == []
