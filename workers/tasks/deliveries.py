"""Send pending deliveries: lease a few (commit), send each, record the outcome (commit per delivery).

A failing channel only delays its own rows (backoff in the row, not a blocked worker); a worker killed
mid-send leaves its rows leased, and they are sent again when the lease runs out.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from celery import shared_task
from sqlalchemy import select

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from tracker.models import Ticket, User
from tracker.models.notifications import Delivery, Notification, NotificationChannel
from workers.senders import Message, send
from workers.tasks.common import RETRY, settings_of

log = logging.getLogger(__name__)

CLAIM = 10  # × the senders' 20 s timeouts stays well inside tracker.notify.LEASE
TIME_BUDGET_SECONDS = 120  # then hand over to a fresh task, well inside the task time limit


def load_message(settings: Settings, session, delivery_id: int) -> Message | None:
    from tracker.notify import channel_secret

    row = session.execute(
        select(Delivery, Notification, User, Ticket.number, NotificationChannel)
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(User, User.id == Notification.user_id)
        .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
        .outerjoin(NotificationChannel, NotificationChannel.id == Delivery.channel_id)
        .where(Delivery.id == delivery_id)
    ).first()
    if row is None:
        return None
    delivery, notification, user, number, channel = row
    if delivery.medium == "sms" and channel is None:
        channel = session.scalar(
            select(NotificationChannel).where(
                NotificationChannel.kind == "sms", NotificationChannel.is_active
            )
        )
    return Message(
        delivery_id=delivery.id,
        delivery_key=delivery.key,
        medium=delivery.medium,
        title=notification.title,
        body=notification.body,
        link=notification.link,
        kind=notification.kind,
        ticket_number=number,
        recipient_name=user.display_name,
        email=user.email,
        phone=user.phone,
        url=channel.url if channel else None,
        secret=channel_secret(channel, settings.secret_key) if channel else None,
    )


def send_pending(
    settings: Settings, *, now: datetime | None = None, budget: float = TIME_BUDGET_SECONDS
) -> dict[str, int]:
    """Send what is due until nothing is left or the time budget is spent; return counts."""
    from tracker.notify import claim_deliveries, mark_failed, mark_sent

    counts = {"sent": 0, "failed": 0, "retrying": 0}
    started = time.monotonic()
    while time.monotonic() - started < budget:
        with session_scope(settings.database_url) as session:
            ids = claim_deliveries(session, now=now or utcnow(), limit=CLAIM)
        if not ids:
            break
        for delivery_id in ids:
            with session_scope(settings.database_url) as session:
                message = load_message(settings, session, delivery_id)
            if message is None:
                continue
            try:
                send(message, settings)
            except Exception as exc:  # any failure of one channel is recorded; the others go on
                error = f"{type(exc).__name__}: {exc}"[:500]
                with session_scope(settings.database_url) as session:
                    status = mark_failed(session, delivery_id, error, now=now or utcnow())
                counts["failed" if status == "failed" else "retrying"] += 1
                log.warning("delivery %s (%s) failed: %s", delivery_id, message.medium, type(exc).__name__)
                continue
            with session_scope(settings.database_url) as session:
                mark_sent(session, delivery_id, now=now or utcnow())
            counts["sent"] += 1
    return counts


@shared_task(bind=True, name="deliveries.send", **RETRY)
def send_deliveries(self) -> dict[str, int]:
    counts = send_pending(settings_of(self))
    if sum(counts.values()) and counts["sent"] + counts["failed"] + counts["retrying"] >= CLAIM:
        self.app.send_task("deliveries.send")  # more may be waiting; the beat entry would find them too
    return counts
