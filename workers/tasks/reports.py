"""The year-end report task: in early January, prepare last year's figures and tell the administrators."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from workers.tasks.common import RETRY, settings_of
from workers.tasks.events import media_for

log = logging.getLogger(__name__)


def run_prepare_previous_year(settings: Settings, *, now: datetime | None = None) -> int:
    """Return how many administrators were notified (0 outside the window or once done)."""
    from tracker.notify.service import plan_deliveries
    from tracker.reports.yearend import prepare_previous_year

    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        prepared = prepare_previous_year(session, now=now)
        if prepared is None or prepared.already:
            return 0
        plan_deliveries(session, prepared.notification_ids, now=now, media=media_for(settings))
    log.info("annual report %s prepared (checks passed: %s)", prepared.year, prepared.checks_passed)
    return len(prepared.notification_ids)


@shared_task(bind=True, name="reports.prepare_previous_year", **RETRY)
def prepare_previous_year(self) -> int:
    return run_prepare_previous_year(settings_of(self))


def run_prepare_assessment(settings: Settings, *, now: datetime | None = None) -> int:
    """Return how many administrators were notified (0 when today is not the day, or once done)."""
    from tracker.notify.service import plan_deliveries
    from tracker.reports.assessment_prepare import prepare_previous_month
    from tracker.reports.assessment_rules import load_rules

    now = now or utcnow()
    rules = load_rules(settings.instance_dir)
    with session_scope(settings.database_url) as session:
        prepared = prepare_previous_month(session, now=now, rules=rules)
        if prepared is None or prepared.already:
            return 0
        plan_deliveries(session, prepared.notification_ids, now=now, media=media_for(settings))
    log.info("assessment %s prepared", prepared.period)
    return len(prepared.notification_ids)


@shared_task(bind=True, name="reports.prepare_assessment", **RETRY)
def prepare_assessment(self) -> int:
    return run_prepare_assessment(settings_of(self))
