"""The Celery queues and which tasks go to which — the one place that says so.

Separate queues so that one kind of work cannot hold up another: a 100,000-row import or the annual
report must not delay a reminder, and a slow e-mail server must not delay routing new tickets. The
worker command names the queues it consumes (`tracker run`: all of them; docker-compose: `worker` the
quick ones, `worker-bulk` imports and reports).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "celery"  # everything not routed below: the relay, the heartbeat, polls, duplicate scan
IMPORTS_QUEUE = "imports"  # uploads and the annual report: long, CPU-heavy
EVENTS_QUEUE = "events"  # outbox events: routing, tagging, deadlines, status notifications
REMINDERS_QUEUE = "reminders"  # the deadline sweep, the digest, the calendar warning
DELIVERIES_QUEUE = "deliveries"  # e-mail, robots, SMS: waits on other servers

QUEUES = (DEFAULT_QUEUE, IMPORTS_QUEUE, EVENTS_QUEUE, REMINDERS_QUEUE, DELIVERIES_QUEUE)
# What each worker service of docker-compose.yml consumes; together they consume every queue.
QUICK_QUEUES = (DEFAULT_QUEUE, EVENTS_QUEUE, REMINDERS_QUEUE, DELIVERIES_QUEUE)
BULK_QUEUES = (IMPORTS_QUEUE,)

TASK_ROUTES = {
    "intake.import_batch": {"queue": IMPORTS_QUEUE},
    "intake.resume_imports": {"queue": IMPORTS_QUEUE},
    "reports.*": {"queue": IMPORTS_QUEUE},
    "events.*": {"queue": EVENTS_QUEUE},
    "reminders.*": {"queue": REMINDERS_QUEUE},
    "deliveries.*": {"queue": DELIVERIES_QUEUE},
}


def queue_depths(app, *, timeout: float = 2) -> dict[str, int] | None:
    """Messages waiting in each queue (not those a worker has taken), or None when the broker does not
    answer. A queue nobody has used yet counts 0."""
    from kombu.exceptions import ChannelError

    depths: dict[str, int] = {}
    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout)
            channel = connection.default_channel
            for queue in QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except ChannelError:  # never declared (Redis: an empty queue has no key)
                    depths[queue] = 0
                    channel = connection.channel()  # a refused passive declare may close the channel
    except Exception as exc:  # the broker is down: the scrape says so (tracker_broker_up 0), not a 500
        log.warning("queue depths: broker unavailable (%s)", type(exc).__name__, exc_info=True)
        return None
    return depths
