"""The deadline sweep (every minute), the supervisors' daily digest, the calendar warning.

Deadlines and reminders are rows plus this one periodic scan — never far-future ETA tasks.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from sqlalchemy import select

from tracker.clock import BUSINESS_TZ, utcnow
from tracker.config import Settings
from tracker.db import session_scope
from workers.tasks.common import RETRY, settings_of
from workers.tasks.events import media_for

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000
# On PostgreSQL the sweep runs in two lanes (`tracker.reminders.sweep.sweep_all`): while one lane's Python works
# out a batch, PostgreSQL writes the other's, on the machine's second core. SQLite has one writer at a
# time and no SKIP LOCKED, so one lane there.
SWEEP_LANES = 2


def sweep_lanes(database_url: str) -> int:
    return SWEEP_LANES if database_url.startswith("postgresql") else 1


def run_sweep(settings: Settings, *, now: datetime | None = None, batch: int = SWEEP_BATCH) -> dict[str, int]:
    """Sweep every due deadline in batches, one transaction per batch; return the totals.

    Each batch's notifications (each reminder's own "sent once" entry) and their delivery rows commit
    together, so a crash loses nothing and repeats nothing; the sending happens afterwards (`deliveries.send`).
    Each lane takes its own connection from the pool (`session_scope` per batch).
    """
    from dataclasses import asdict

    from tracker.config import WorkingHours
    from tracker.reminders.sweep import sweep_all

    totals = sweep_all(
        lambda: session_scope(settings.database_url),
        now=now or utcnow(),
        batch=batch,
        hours=WorkingHours.parse(settings.working_hours),
        media=media_for(settings),
        lanes=sweep_lanes(settings.database_url),
    )
    return asdict(totals)


@shared_task(bind=True, name="reminders.sweep", **RETRY)
def sweep(self) -> dict[str, int]:
    totals = run_sweep(settings_of(self))
    if totals["deliveries"]:
        self.app.send_task("deliveries.send")
    if totals["visited"]:
        log.info("sweep: %s", totals)
    return totals


def run_digest(settings: Settings, *, now: datetime | None = None) -> int:
    """Send each supervisor (and the office) the day's digest, once per working day; return how many."""
    from tracker.calendar.store import load_calendar
    from tracker.notify.service import notify, plan_deliveries
    from tracker.people.models import User
    from tracker.reminders.schedule import is_workday
    from tracker.reminders.sweep import digest_lines, digest_text

    now = now or utcnow()
    today = now.astimezone(BUSINESS_TZ).date()
    made = 0
    with session_scope(settings.database_url) as session:
        if not is_workday(load_calendar(session), today):
            return 0
        people = session.execute(
            select(User.id, User.role, User.department_id).where(
                User.is_active, User.role.in_(("supervisor", "admin"))
            )
        ).all()
        ids = []
        for user_id, role, department_id in people:
            report = digest_lines(session, None if role == "admin" else [department_id], now=now)
            if not report:
                continue
            overdue = sum(len(b["overdue"]) for b in report.values())
            week = sum(len(b["due_this_week"]) for b in report.values())
            ids += notify(
                session,
                [user_id],
                kind="digest",
                title=f"【每日汇总】{today:%m月%d日}：已超期{overdue}件，本周到期{week}件",
                body=digest_text(report),
                link="/",
                now=now,
                dedupe_key=f"digest:{today.isoformat()}",
            )
        plan_deliveries(session, ids, now=now, media=media_for(settings))
        made = len(ids)
    return made


@shared_task(bind=True, name="reminders.digest", **RETRY)
def digest(self) -> int:
    made = run_digest(settings_of(self))
    if made:
        self.app.send_task("deliveries.send")
    return made


def run_calendar_warning(settings: Settings, *, now: datetime | None = None) -> int:
    """From 1 October, tell the office every working day that next year's holidays are not loaded yet."""
    from tracker.calendar.store import next_year_missing
    from tracker.notify.service import notify, plan_deliveries
    from tracker.people.models import User

    now = now or utcnow()
    today = now.astimezone(BUSINESS_TZ).date()
    with session_scope(settings.database_url) as session:
        year = next_year_missing(session, today)
        if year is None:
            return 0
        admins = session.scalars(select(User.id).where(User.is_active, User.role == "admin")).all()
        ids = notify(
            session,
            admins,
            kind="calendar",
            title=f"尚未导入{year}年节假日安排",
            body=(
                f"国务院办公厅通常在10月下旬至12月上旬公布{year}年的节假日安排。"
                f"未导入前，跨入{year}年的期限无法计算。请在公布后用“tracker calendar import-notice”导入。"
            ),
            link="/",
            now=now,
            dedupe_key=f"calendar-missing:{year}:{today.isoformat()}",
        )
        plan_deliveries(session, ids, now=now, media=media_for(settings))
        log.warning("calendar year %s is not loaded", year)
        return len(ids)


@shared_task(bind=True, name="reminders.calendar_warning", **RETRY)
def calendar_warning(self) -> int:
    return run_calendar_warning(settings_of(self))
