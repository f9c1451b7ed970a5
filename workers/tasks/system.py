"""A heartbeat that goes through the whole path: beat → broker → worker → database."""

from __future__ import annotations

from celery import shared_task

from tracker.clock import utcnow
from tracker.db import session_scope
from tracker.ops.health import record_heartbeat
from workers.tasks.common import settings_of


@shared_task(bind=True, name="system.heartbeat", ignore_result=True, expires=60)
def heartbeat(self) -> None:
    with session_scope(settings_of(self).database_url) as session:
        record_heartbeat(session, "queue", now=utcnow())
