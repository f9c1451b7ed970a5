"""The Chinese working-day calendar: weekends, statutory holidays and the State Council's 调休.

Pure code: no database, no Flask, no Celery. A `WorkCalendar` is built from the days that differ from
"Monday to Friday work, weekend off" (``holiday`` = day off, ``workday`` = make-up working day on a weekend)
and the set of years whose schedule has been loaded. Any question that touches a year outside that set
raises `CalendarYearMissing`: next year's schedule is published only in November, so guessing it from the
weekday pattern would silently produce wrong statutory deadlines.

Speed: the working days of the loaded years are held as a sorted list of date ordinals, so
``add_workdays`` and ``workdays_between`` are two bisections and an index — O(log n), never a
day-by-day walk (``bench/bench_calendar.py``; figures in docs/benchmarks.md).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from tracker.errors import CalendarYearMissing, ValidationError

HOLIDAY = "holiday"
WORKDAY = "workday"
KINDS = (HOLIDAY, WORKDAY)

WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

__all__ = [
    "HOLIDAY",
    "KINDS",
    "WEEKDAY_NAMES",
    "WORKDAY",
    "CalendarYearMissing",
    "DayOverride",
    "RestSpan",
    "WorkCalendar",
    "format_day",
    "format_span",
    "iter_days",
]


@dataclass(frozen=True, slots=True)
class DayOverride:
    """A day the State Council's notice sets apart from the weekday default."""

    day: date
    kind: str  # HOLIDAY | WORKDAY
    name: str


@dataclass(frozen=True, slots=True)
class RestSpan:
    """A named holiday as the notice announced it, e.g. 春节 2026-02-15 … 2026-02-23."""

    start: date
    end: date
    name: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


class WorkCalendar:
    """Answer working-day questions for the loaded years; refuse any other year."""

    def __init__(self, overrides: Iterable[tuple[date, str, str]], loaded_years: Iterable[int]):
        self.loaded_years: frozenset[int] = frozenset(loaded_years)
        kinds: dict[int, str] = {}
        names: dict[int, str] = {}
        for day, kind, name in overrides:
            if kind not in KINDS:
                raise ValidationError(
                    f"未知的日期类型 {kind!r}（应为 holiday 或 workday）", fields={"kind": kind}
                )
            kinds[day.toordinal()] = kind
            names[day.toordinal()] = name
        self._kind_by_ordinal = kinds
        self._name_by_ordinal = names
        self._holiday_ordinals = sorted(o for o, k in kinds.items() if k == HOLIDAY)
        # Last year of the unbroken run of loaded years that starts at (or contains) each loaded year:
        # one comparison then tells whether every year between two dates is loaded.
        self._run_end: dict[int, int] = {}
        for year in sorted(self.loaded_years, reverse=True):
            self._run_end[year] = self._run_end.get(year + 1, year)
        self._workday_ordinals: list[int] = [
            ordinal
            for year in sorted(self.loaded_years)
            for ordinal in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1)
            if self._is_workday_ordinal(ordinal)
        ]

    # -- refusal ---------------------------------------------------------------------------------

    def require_years(self, first: date, last: date) -> None:
        """Raise `CalendarYearMissing` unless every year from ``first`` to ``last`` is loaded."""
        if first > last:
            first, last = last, first
        run_end = self._run_end.get(first.year)
        if run_end is None:
            raise CalendarYearMissing(first.year)
        if last.year > run_end:
            raise CalendarYearMissing(run_end + 1)

    # -- single days -------------------------------------------------------------------------------

    def is_workday(self, day: date) -> bool:
        """Return whether ``day`` is a working day (weekday not off, or a make-up working day)."""
        if day.year not in self.loaded_years:
            raise CalendarYearMissing(day.year)
        return self._is_workday_ordinal(day.toordinal())

    def _is_workday_ordinal(self, ordinal: int) -> bool:
        kind = self._kind_by_ordinal.get(ordinal)
        if kind is not None:
            return kind == WORKDAY
        # date.fromordinal(1) is a Monday, so (ordinal - 1) % 7 is the ISO weekday minus one.
        return (ordinal - 1) % 7 < 5

    def is_holiday(self, day: date) -> bool:
        """Return whether ``day`` is a notice's day off (not a plain weekend)."""
        if day.year not in self.loaded_years:
            raise CalendarYearMissing(day.year)
        return self._kind_by_ordinal.get(day.toordinal()) == HOLIDAY

    def is_makeup_workday(self, day: date) -> bool:
        if day.year not in self.loaded_years:
            raise CalendarYearMissing(day.year)
        return self._kind_by_ordinal.get(day.toordinal()) == WORKDAY

    def day_name(self, day: date) -> str | None:
        """Return the holiday the notice attached to ``day`` (for a day off or a make-up day)."""
        return self._name_by_ordinal.get(day.toordinal())

    # -- counting ----------------------------------------------------------------------------------

    def add_workdays(self, day: date, count: int) -> date:
        """Return the date ``count`` working days after ``day`` (民法典 art. 201: ``day`` is not counted).

        ``day`` may be a rest day: the first working day after it is day 1. ``count == 0`` returns ``day``.
        """
        if count < 0:
            raise ValidationError("工作日数不能为负数", fields={"count": str(count)})
        run_end = self._run_end.get(day.year)
        if run_end is None:
            raise CalendarYearMissing(day.year)
        if count == 0:
            return day
        ordinals = self._workday_ordinals
        index = bisect_right(ordinals, day.toordinal()) + count - 1
        if index >= len(ordinals):
            raise CalendarYearMissing(run_end + 1)
        result = date.fromordinal(ordinals[index])
        if result.year > run_end:
            raise CalendarYearMissing(run_end + 1)
        return result

    def workdays_between(self, start: date, end: date) -> int:
        """Return the number of working days in (start, end]; negative when ``end`` is before ``start``."""
        self.require_years(start, end)
        ordinals = self._workday_ordinals
        return bisect_right(ordinals, end.toordinal()) - bisect_right(ordinals, start.toordinal())

    def next_workday(self, day: date) -> date:
        """Return the first working day after ``day``."""
        return self.add_workdays(day, 1)

    def roll_forward(self, day: date) -> date:
        """Return ``day`` if it is a working day, else the next working day (民法典 art. 203).

        Art. 203 speaks of a period ending on a "法定休假日". Chinese courts read that as every official
        rest day — Saturdays and Sundays included (the rule's long-standing reading since 民通意见 198),
        but not a weekend that the notice turned into a make-up working day. So the test is simply "is it a
        working day": a plain Sunday rolls over, a 调休 Saturday does not.
        """
        if self.is_workday(day):
            return day
        return self.next_workday(day)

    # -- explanations ------------------------------------------------------------------------------

    def rest_spans(self, start: date, end: date) -> list[RestSpan]:
        """Return the named holidays that overlap [start, end], each with its full announced range.

        Plain weekends are left out (nobody needs them explained); a weekend inside a holiday belongs to
        the holiday.
        """
        self.require_years(start, end)
        spans: list[RestSpan] = []
        holiday_ordinals = self._holiday_ordinals
        first = bisect_left(holiday_ordinals, start.toordinal())
        last = bisect_right(holiday_ordinals, end.toordinal())
        if first == last:
            return spans
        # Widen to whole holidays so "春节假期2月15日至23日" is stated even if only its tail is crossed.
        while first > 0 and self._same_holiday(holiday_ordinals[first - 1], holiday_ordinals[first]):
            first -= 1
        while last < len(holiday_ordinals) and self._same_holiday(
            holiday_ordinals[last - 1], holiday_ordinals[last]
        ):
            last += 1
        for ordinal in holiday_ordinals[first:last]:
            if spans and self._same_holiday(spans[-1].end.toordinal(), ordinal):
                spans[-1] = RestSpan(spans[-1].start, date.fromordinal(ordinal), spans[-1].name)
            else:
                spans.append(
                    RestSpan(
                        date.fromordinal(ordinal), date.fromordinal(ordinal), self._name_by_ordinal[ordinal]
                    )
                )
        return spans

    def _same_holiday(self, earlier: int, later: int) -> bool:
        """Return whether two days off belong to one holiday: same name, only plain weekend between."""
        if self._name_by_ordinal.get(earlier) != self._name_by_ordinal.get(later):
            return False
        return all(
            ordinal not in self._kind_by_ordinal and (ordinal - 1) % 7 >= 5
            for ordinal in range(earlier + 1, later)
        )

    def makeup_workdays(self, start: date, end: date) -> list[DayOverride]:
        """Return the make-up working days (调休上班) in [start, end]."""
        self.require_years(start, end)
        return [
            DayOverride(date.fromordinal(o), WORKDAY, self._name_by_ordinal[o])
            for o in range(start.toordinal(), end.toordinal() + 1)
            if self._kind_by_ordinal.get(o) == WORKDAY
        ]

    def overrides_in_year(self, year: int) -> list[DayOverride]:
        """Return the year's days off and make-up working days in date order (for ``calendar show``)."""
        if year not in self.loaded_years:
            raise CalendarYearMissing(year)
        first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
        return [
            DayOverride(date.fromordinal(o), self._kind_by_ordinal[o], self._name_by_ordinal[o])
            for o in sorted(self._kind_by_ordinal)
            if first <= o <= last
        ]


def format_day(day: date) -> str:
    """Return e.g. "2026-02-12（周四）"."""
    return f"{day.isoformat()}（{WEEKDAY_NAMES[day.weekday()]}）"


def format_span(start: date, end: date) -> str:
    """Return e.g. "2月15日至23日", "5月31日至6月2日", "12月30日至2027年1月1日" or "1月1日"."""
    first = f"{start.month}月{start.day}日"
    if start == end:
        return first
    if end.year != start.year:
        return f"{first}至{end.year}年{end.month}月{end.day}日"
    if end.month != start.month:
        return f"{first}至{end.month}月{end.day}日"
    return f"{first}至{end.day}日"


def iter_days(start: date, end: date) -> Iterable[date]:
    """Yield every date in [start, end]."""
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)
