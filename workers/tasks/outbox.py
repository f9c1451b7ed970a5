"""The periodic outbox relay: publishes whatever a request could not (broker down, process crashed)."""

from __future__ import annotations

from celery import shared_task

from workers.outbox import publish_pending
from workers.tasks.common import settings_of


@shared_task(bind=True, name="outbox.relay", ignore_result=True)
def relay(self) -> int:
    total = 0
    while True:
        published = publish_pending(settings_of(self))
        total += published
        if published < 500:
            return total
