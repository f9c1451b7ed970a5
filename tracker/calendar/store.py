"""The holiday calendar in the database: reading, saving a year, the bundled history, the missing-year check.

`tracker.calendar.days` stays pure; this module is the only one that moves rows between the CSV files, the
notice parser and the `HolidayDay` / `CalendarYear` tables, and `load_calendar` gives every caller the
process's copy of the calendar. Applying a loaded year to the open deadlines and the report facts is the
use case `tracker.calendar.service.load_year`, which sits above this module and the deadline engine.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tracker import reference
from tracker.calendar.days import HOLIDAY, KINDS, WORKDAY, DayOverride, WorkCalendar
from tracker.calendar.models import CalendarYear, HolidayDay
from tracker.calendar.notice import ParsedNotice, notice_source
from tracker.clock import utcnow
from tracker.errors import ValidationError
from tracker.reference import Stamp

BUNDLED_SOURCE_NOTE = "随系统附带的历史数据（2004–2026）"


@dataclass(frozen=True)
class HolidayRow:
    day: date
    kind: str
    name: str
    year: int  # the year of the notice that decided the row
    source: str


@dataclass(frozen=True)
class LoadResult:
    year: int
    rows: int
    changed_days: frozenset[date]  # days whose working/rest status differs from before the load
    recomputed_deadlines: int = 0

    def summary(self) -> str:
        return (
            f"{self.year}年节假日安排已导入：{self.rows}天；"
            f"工作日变化{len(self.changed_days)}天；重新计算期限{self.recomputed_deadlines}个"
        )


# -- files ------------------------------------------------------------------------------------------


def bundled_csv_text() -> str:
    return resources.files("tracker").joinpath("data/holidays.csv").read_text(encoding="utf-8")


def read_holiday_csv(text: str, *, year: int | None = None, source: str | None = None) -> list[HolidayRow]:
    """Parse ``date,kind,name[,year,source]`` CSV text; refuse malformed rows with the line number.

    Files for ``tracker calendar load`` carry only ``date,kind,name``; the notice year is then ``year`` or
    the latest year among the dates (a 元旦 can start in the previous December, never the next January).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = {"date", "kind", "name"} - set(reader.fieldnames or ())
    if missing:
        raise ValidationError(f"CSV缺少列：{'、'.join(sorted(missing))}（表头应为 date,kind,name）")
    parsed: list[tuple[int, DayOverride, str | None, str | None]] = []
    for record in reader:
        line = reader.line_num
        try:
            day = date.fromisoformat((record["date"] or "").strip())
        except ValueError:
            raise ValidationError(f"第{line}行日期无效：{record['date']!r}（应为 YYYY-MM-DD）") from None
        kind = (record["kind"] or "").strip()
        if kind not in KINDS:
            raise ValidationError(f"第{line}行类型无效：{kind!r}（应为 holiday 或 workday）")
        name = (record["name"] or "").strip()
        if not name:
            raise ValidationError(f"第{line}行缺少节日名称")
        parsed.append((line, DayOverride(day, kind, name), record.get("year"), record.get("source")))
    if not parsed:
        raise ValidationError("CSV中没有数据行")
    default_year = year if year is not None else max(row.day.year for _, row, _, _ in parsed)
    rows = []
    for _line, row, row_year, row_source in parsed:
        notice_year = int(row_year) if row_year else default_year
        rows.append(
            HolidayRow(
                row.day, row.kind, row.name, notice_year, row_source or source or notice_source(notice_year)
            )
        )
    return rows


def validate_year_rows(year: int, rows: Iterable[HolidayRow]) -> None:
    """Check that rows can be one notice's schedule for ``year``."""
    seen: set[date] = set()
    for row in rows:
        if row.day in seen:
            raise ValidationError(f"{row.day.isoformat()}重复出现")
        seen.add(row.day)
        if not (date(year - 1, 12, 1) <= row.day <= date(year, 12, 31)):
            raise ValidationError(f"{row.day.isoformat()}不属于{year}年的节假日安排")
        if row.kind == WORKDAY and row.day.weekday() < 5:
            raise ValidationError(f"{row.day.isoformat()}是工作日（周一至周五），不能标为调休上班")


# -- reading -----------------------------------------------------------------------------------------


def load_calendar(session: Session, stamp: Stamp | None = None) -> WorkCalendar:
    """Return the calendar for what the database holds, rebuilt only when the holiday tables changed.

    The reference stamp (tracker.reference) is read on every call unless the caller read it already, so
    a year loaded by another process is seen at once without re-reading ~800 rows per request.
    """
    return reference.cached(
        stamp or reference.current_stamp(session), "calendar", lambda: build_calendar(session)
    )


def build_calendar(session: Session) -> WorkCalendar:
    overrides = session.execute(select(HolidayDay.day, HolidayDay.kind, HolidayDay.name)).all()
    years = session.scalars(select(CalendarYear.year)).all()
    return WorkCalendar(((day, kind, name) for day, kind, name in overrides), years)


def loaded_years(session: Session) -> list[int]:
    return list(session.scalars(select(CalendarYear.year).order_by(CalendarYear.year)))


def next_year_missing(session: Session, today: date) -> int | None:
    """Return next year if it is October or later and next year's schedule is not loaded, else None.

    The State Council publishes between late October and early December; from 1 October on the
    dashboard and the workers remind administrators until the year is loaded.
    """
    if today.month < 10:
        return None
    next_year = today.year + 1
    if session.get(CalendarYear, next_year) is not None:
        return None
    return next_year


# -- writing -----------------------------------------------------------------------------------------


def save_year(
    session: Session, year: int, rows: list[HolidayRow], *, source: str, now: datetime
) -> LoadResult:
    """Replace the schedule of notice ``year`` with ``rows`` and mark the year loaded; flush, no commit.

    A later notice wins over an earlier one on the same day (the 2020 extension of the Spring Festival
    turned a make-up working day into a day off), so rows of other notices on these days are replaced.
    """
    validate_year_rows(year, rows)
    days = [row.day for row in rows]
    before = _working_status(session, year, days)
    session.execute(delete(HolidayDay).where(HolidayDay.year == year))
    if days:
        session.execute(delete(HolidayDay).where(HolidayDay.day.in_(days)))
    session.add_all(
        HolidayDay(day=row.day, kind=row.kind, name=row.name, year=year, source=row.source) for row in rows
    )
    calendar_year = session.get(CalendarYear, year)
    if calendar_year is None:
        session.add(CalendarYear(year=year, source=source, loaded_at=now))
    else:
        calendar_year.source = source
        calendar_year.loaded_at = now
    session.flush()
    after = _working_status(session, year, list(before) + days)
    changed = frozenset(d for d in set(before) | set(after) if before.get(d) != after.get(d))
    return LoadResult(year=year, rows=len(rows), changed_days=changed)


def _working_status(session: Session, year: int, extra_days: list[date]) -> dict[date, str]:
    """Return the override kind of every day of ``year`` that has one, plus ``extra_days`` (None = default)."""
    stored = dict(
        session.execute(
            select(HolidayDay.day, HolidayDay.kind).where(
                (HolidayDay.year == year) | HolidayDay.day.in_(extra_days or [date.min])
            )
        ).all()
    )
    status: dict[date, str] = {}
    for day in set(stored) | set(extra_days):
        kind = stored.get(day)
        is_workday = (kind == WORKDAY) if kind else day.weekday() < 5
        status[day] = WORKDAY if is_workday else HOLIDAY
    return status


def notice_rows(parsed: ParsedNotice) -> list[HolidayRow]:
    """Turn a parsed notice into rows of its year, with the notice's title as their source."""
    source = notice_source(parsed.year)
    return [HolidayRow(r.day, r.kind, r.name, parsed.year, source) for r in parsed.rows]


def load_bundled_calendar(session: Session, *, now: datetime | None = None) -> str:
    """Load the bundled 2004–2026 history, skipping years already loaded (idempotent); flush, no commit.

    Years present in the database are left alone: an administrator may have reloaded one from a notice.
    """
    moment = now or utcnow()
    rows = read_holiday_csv(bundled_csv_text())
    by_year: dict[int, list[HolidayRow]] = {}
    for row in rows:
        by_year.setdefault(row.year, []).append(row)
    present = set(loaded_years(session))
    # Every bundled year is loaded, even one without any row (none today, but a year without a single
    # holiday on a weekday would still be a year the schedule is known for).
    first, last = min(by_year), max(by_year)
    added = []
    for year in range(first, last + 1):
        if year in present:
            continue
        year_rows = by_year.get(year, [])
        validate_year_rows(year, year_rows)
        session.add_all(
            HolidayDay(day=r.day, kind=r.kind, name=r.name, year=r.year, source=r.source) for r in year_rows
        )
        session.add(CalendarYear(year=year, source=BUNDLED_SOURCE_NOTE, loaded_at=moment))
        added.append(year)
    session.flush()
    if added:
        return f"已导入{added[0]}–{added[-1]}年共{len(added)}年的节假日安排"
    return f"{first}–{last}年节假日安排已存在，未改动"


def bundled_calendar() -> WorkCalendar:
    """Return a calendar of the bundled history without a database (CLI fallbacks, tests, benchmark)."""
    rows = read_holiday_csv(bundled_csv_text())
    return WorkCalendar(
        ((r.day, r.kind, r.name) for r in rows),
        range(min(r.year for r in rows), max(r.year for r in rows) + 1),
    )
