"""On the first working day of a month, prepare last month's 12345 assessment and tell the office — once.

The beat task `reports.prepare_assessment` (workers/tasks/reports.py, scheduled every morning in
workers/schedule.py) calls `prepare_previous_month`. It acts from the month's first working day on the
working-day calendar (调休 included: a Saturday made a working day counts, a Monday of the National Day
holiday does not) until the 15th, so a beat that was down that morning catches up the next one.

"Prepared once" is a fact of the database, not of a check-then-act: the snapshot row's period is UNIQUE
(`AssessmentSnapshot`, migration 0039). The run inserts it in a savepoint; a second run — the same
morning's retry, another beat after a failover, tomorrow's tick — meets the constraint, rolls back its
savepoint and notifies nobody. The notifications themselves carry a dedupe key per period and user as
well (tracker.notify.service.notify).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.calendar.store import load_calendar
from tracker.clock import local
from tracker.errors import CalendarYearMissing
from tracker.notify.service import notify
from tracker.people.models import User
from tracker.reports.assessment import build_assessment
from tracker.reports.assessment_rules import AssessmentRules, month_before
from tracker.reports.models import AssessmentSnapshot

log = logging.getLogger(__name__)
LAST_CATCH_UP_DAY = 15  # after this day of the month a missed preparation waits for the office to run it


@dataclass
class Prepared:
    period: str
    notification_ids: list[int]
    already: bool = False


def first_working_day(session: Session, year: int, month: int) -> date:
    """The first working day of the month on the loaded calendar; Monday–Friday when the year is missing
    (the calendar warning tells the office to load it; a day early is better than no assessment)."""
    calendar = load_calendar(session)
    day = date(year, month, 1)
    while True:
        try:
            working = calendar.is_workday(day)
        except CalendarYearMissing:
            working = day.weekday() < 5 and (day.month, day.day) != (1, 1)  # 元旦 is always off
        if working:
            return day
        day += timedelta(days=1)


def prepare_previous_month(session: Session, *, now: datetime, rules: AssessmentRules) -> Prepared | None:
    """Snapshot last month's assessment and notify the administrators; None when today is not the day."""
    today = local(now).date()
    first = first_working_day(session, today.year, today.month)
    if not first <= today or today.day > LAST_CATCH_UP_DAY:
        return None
    period = month_before(today)
    if session.scalar(select(AssessmentSnapshot.id).where(AssessmentSnapshot.period == period.key)):
        return Prepared(period.key, [], already=True)
    data = build_assessment(session, period, rules)
    try:
        with session.begin_nested():
            session.add(
                AssessmentSnapshot(
                    period=period.key, prepared_at=now, rules_source=rules.source[:500], data=data
                )
            )
    except IntegrityError:  # another run prepared it between our look and our insert
        return Prepared(period.key, [], already=True)
    bureau, units = data["bureau"], data["units"]
    best = next((u for u in units if u["rank"] == 1), None)
    satisfaction = bureau["rates"]["satisfaction"]["rate"]
    body = (
        f"{period.label}12345承办单位考核已生成：受理{bureau['received']}件，"
        f"{data['ranked_units']}个单位参与排名"
        + (f"，第一名{best['name']}（{best['score']:.2f}分）" if best else "")
        + (f"，全局满意率{satisfaction * 100:.2f}%" if satisfaction is not None else "")
        + "。请核对后报送。"
    )
    admins = session.scalars(select(User.id).where(User.is_active, User.role == "admin")).all()
    ids = notify(
        session,
        admins,
        kind="digest",
        title=f"{period.label}12345考核已生成",
        body=body,
        link=f"/reports/assessment?period={period.key}",
        now=now,
        dedupe_key=f"assessment:{period.key}",
    )
    session.flush()
    log.info("assessment %s prepared: %d units, %d notified", period.key, len(units), len(ids))
    return Prepared(period.key, ids)
