"""Loading a year's holiday schedule and applying it: the deadlines it moves, the report facts it changes.

`tracker.calendar.store` moves the rows; this use case sits above it and the deadline engine, so the
store needs neither the engine nor the reports (which both read the calendar through the store).
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import and_
from sqlalchemy.orm import Session

from tracker.calendar.notice import notice_source, parse_notice
from tracker.calendar.store import HolidayRow, LoadResult, notice_rows, save_year
from tracker.clock import BUSINESS_TZ
from tracker.deadlines.service import recompute_open_deadlines
from tracker.reports.facts import refresh_facts
from tracker.tickets.models import Ticket


def load_year(
    session: Session,
    year: int,
    rows: list[HolidayRow],
    *,
    source: str,
    now: datetime,
    actor: object | None = None,
) -> LoadResult:
    """Save a year's schedule, then recompute the open deadlines it moves (an event on each ticket)."""
    result = save_year(session, year, rows, source=source, now=now)
    recomputed = recompute_open_deadlines(
        session, now=now, actor=actor or "节假日导入", reason=f"导入{year}年节假日安排"
    )
    # The working days to reply of the replies whose span crosses the year are counted anew.
    start = datetime.combine(date(year, 1, 1), time(0), BUSINESS_TZ)
    end = datetime.combine(date(year + 1, 1, 1), time(0), BUSINESS_TZ)
    refresh_facts(session, and_(Ticket.replied_at >= start, Ticket.received_at < end))
    return LoadResult(result.year, result.rows, result.changed_days, recomputed)


def load_notice(
    session: Session, text: str, *, now: datetime, year: int | None = None, actor: object | None = None
) -> LoadResult:
    """Parse a pasted notice and load it (the admin page's "save" after its preview of `parse_notice`)."""
    parsed = parse_notice(text, year=year)
    return load_year(
        session, parsed.year, notice_rows(parsed), source=notice_source(parsed.year), now=now, actor=actor
    )
