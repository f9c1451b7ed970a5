"""The nightly personal-data retention run (tracker.privacy.service): anonymise contact details that are due."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import OperationalError

from tracker.clock import utcnow
from tracker.privacy.service import run_anonymisation

log = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="privacy.anonymise_due",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError, ConnectionError),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=5,
)
def anonymise_due(self) -> dict:
    """Idempotent: each batch commits on its own, and what is done is not due any more."""
    result = run_anonymisation(self.app.conf.tracker_settings.database_url, now=utcnow())
    # Counts only: never personal data in logs.
    log.info("privacy retention run: %s contacts, %s tickets", result.contacts, result.tickets)
    return {"contacts": result.contacts, "tickets": result.tickets}
