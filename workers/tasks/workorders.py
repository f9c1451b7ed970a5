"""The 12345 work-order cycle's periodic work: escalate overdue 督办/催办 to the units' leaders."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from workers.tasks.common import RETRY, settings_of
from workers.tasks.events import media_for


def run_escalate_supervisions(settings: Settings, *, now: datetime | None = None) -> int:
    """Escalate each open 督办 past its due time once (tracker.workorders.supervision.escalate_overdue:
    `escalated_at` is claimed by a conditional UPDATE, so a re-run or a second worker escalates nothing
    twice); return how many."""
    from tracker.workorders.supervision import escalate_overdue

    with session_scope(settings.database_url) as session:
        return escalate_overdue(session, now=now or utcnow(), media=media_for(settings))


@shared_task(bind=True, name="reminders.escalate_supervisions", **RETRY)
def escalate_supervisions(self) -> int:
    return run_escalate_supervisions(settings_of(self))
