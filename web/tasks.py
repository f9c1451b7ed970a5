"""The web's one door to the workers: queue a task, wake the outbox relay, ask whether the broker answers.

Views never import `workers/` themselves (tests/test_layering.py): what the web may ask of the
workers is this short list, so a reader sees it at once and the workers can change behind it.
"""

from __future__ import annotations

from tracker.config import Settings
from workers.broker import check_broker
from workers.outbox import app_for
from workers.outbox import wake_relay as _wake_relay
from workers.queues import queue_depths as _queue_depths


def broker_status(settings: Settings) -> str:
    """ "ok", or why the broker of these settings cannot be reached (for /healthz)."""
    return check_broker(settings.broker_url)


def queue_import(settings: Settings, batch_id: int) -> None:
    """Send the import task for `batch_id` to the broker of these settings, without retries (a request
    must not wait on a dead broker; the caller leaves the batch to the resume scan when this raises)."""
    # The broker of this app's settings (as the outbox relay does), not whichever Celery app happens to be
    # current in the process.
    app_for(settings).send_task("intake.import_batch", args=[batch_id], retry=False)


def wake_relay(settings: Settings) -> None:
    """Have this process's relay thread publish the outbox rows just committed."""
    _wake_relay(settings)


def queue_depths(settings: Settings) -> dict[str, int] | None:
    """Messages waiting in each Celery queue of these settings' broker, or None when it does not answer
    (for /metrics)."""
    return _queue_depths(app_for(settings))
