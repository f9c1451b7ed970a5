"""What every task shares: the settings, the transient errors worth retrying, the retry policy."""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import DBAPIError, OperationalError

from tracker.config import Settings

# Worth another try: the database or the broker went away for a moment, a network call timed out.
TRANSIENT = (OperationalError, DBAPIError, BrokerError, ConnectionError, TimeoutError)

# acks_late + reject_on_worker_lost come from the app config; these bound the retries.
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


def settings_of(task) -> Settings:
    return task.app.conf.tracker_settings
