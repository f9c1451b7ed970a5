"""The audit log's periodic jobs (tracker.audit): forward new entries to syslog, prune past retention."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import OperationalError

from tracker.audit.retention import prune_expired
from tracker.audit.syslog import SyslogTarget, forward_pending
from tracker.clock import utcnow
from tracker.db import session_scope

log = logging.getLogger(__name__)


@shared_task(bind=True, name="audit.forward", ignore_result=True, acks_late=True)
def forward_to_syslog(self) -> int:
    """Send what committed since the last run. A failure leaves the cursor where it was: the next run
    (seconds later, from the beat) sends the same entries again, so no retry is scheduled here."""
    settings = self.app.conf.tracker_settings
    if not settings.audit_syslog_url:
        return 0
    target = SyslogTarget.parse(settings.audit_syslog_url, settings.audit_syslog_ca_file)
    try:
        sent = forward_pending(settings.database_url, target)
    except OSError as exc:
        log.warning("audit forwarding to syslog failed, retried at the next run: %s", exc)
        return 0
    if sent:
        log.info("audit forwarding: %s entries sent to syslog", sent)
    return sent


@shared_task(
    bind=True,
    name="audit.prune",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=30,
    max_retries=5,
)
def prune(self) -> int:
    settings = self.app.conf.tracker_settings
    if settings.audit_retention_days is None:
        return 0
    with session_scope(settings.database_url) as session:
        result = prune_expired(
            session,
            retention_days=settings.audit_retention_days,
            now=utcnow(),
            keep_unforwarded=bool(settings.audit_syslog_url),
        )
    log.info("audit retention: %s entries pruned", result.deleted)
    return result.deleted
