"""Send pending deliveries: lease a few (commit), send each, record the outcome (commit per delivery).

A failing channel only delays its own rows (backoff in the row, not a blocked worker); a worker killed
mid-send leaves its rows leased, and they are sent again when the lease runs out.

Group robots (DingTalk, WeCom) take 20 messages a minute each: a robot gets at most one message every
ROBOT_SPACING, and the deliveries due for it at that moment (the morning's reminders arrive together) go
out as one digest. A robot that is not free yet, or answered with its throttle code, keeps its deliveries
waiting — a wait, not a failed attempt.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from celery import shared_task
from sqlalchemy import select

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from tracker.notify.models import (
    CitizenMessage,
    Delivery,
    MessageTemplate,
    Notification,
    NotificationChannel,
)
from tracker.notify.service import ROBOT_KINDS, ROBOT_SPACING
from tracker.people.models import User
from tracker.tickets.models import Contact, Ticket
from workers.senders import Message, Throttled, send_batch
from workers.tasks.common import RETRY, settings_of

log = logging.getLogger(__name__)

CLAIM = 10  # × the senders' 20 s timeouts stays well inside tracker.notify.service.LEASE
TIME_BUDGET_SECONDS = 120  # then hand over to a fresh task, well inside the task time limit


def _sms_gateway(session) -> NotificationChannel | None:
    return session.scalar(
        select(NotificationChannel)
        .where(NotificationChannel.kind == "sms", NotificationChannel.is_active)
        .order_by(NotificationChannel.id)
    )


def load_citizen_message(settings: Settings, session, delivery: Delivery) -> Message | None:
    """A message to a citizen: recipient and text are on its `CitizenMessage`, the wording's gateway
    template code on the office's template. None when the citizen opted out since it was planned."""
    from tracker.notify.service import channel_secret

    row = session.execute(
        select(CitizenMessage, Ticket.number, Contact.notify_opt_out_at, MessageTemplate.gateway_template)
        .outerjoin(Ticket, Ticket.id == CitizenMessage.ticket_id)
        .outerjoin(Contact, Contact.id == Ticket.contact_id)
        .outerjoin(
            MessageTemplate,
            (MessageTemplate.kind == CitizenMessage.kind) & (MessageTemplate.medium == CitizenMessage.medium),
        )
        .where(CitizenMessage.id == delivery.citizen_message_id)
    ).first()
    if row is None:
        return None
    citizen, number, opted_out_at, gateway_template = row
    if opted_out_at is not None and citizen.kind != "recovery":
        return None
    channel = _sms_gateway(session) if delivery.medium == "sms" else None
    return Message(
        delivery_id=delivery.id,
        delivery_key=delivery.key,
        medium=delivery.medium,
        title=citizen.subject or citizen.text[:60],
        body=citizen.text,
        link=None,
        kind=f"citizen.{citizen.kind}",
        ticket_number=number,
        email=citizen.recipient if delivery.medium == "email" else None,
        phone=citizen.recipient if delivery.medium == "sms" else None,
        url=channel.url if channel else None,
        secret=channel_secret(channel, settings.secret_key) if channel else None,
        channel_id=channel.id if channel else None,
        options=dict(channel.options or {}) if channel else {},
        template_code=gateway_template,
        params=dict(citizen.params or {}),
        text=citizen.text,
    )


def load_message(settings: Settings, session, delivery_id: int) -> Message | None:
    from tracker.notify.service import channel_secret

    delivery = session.get(Delivery, delivery_id)
    if delivery is not None and delivery.citizen_message_id is not None:
        return load_citizen_message(settings, session, delivery)
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
        channel = _sms_gateway(session)
    staff_template = None
    if delivery.medium == "sms":
        staff_template = session.scalar(
            select(MessageTemplate.gateway_template).where(
                MessageTemplate.kind == "staff", MessageTemplate.medium == "sms"
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
        channel_id=channel.id if channel else None,
        options=dict(channel.options or {}) if channel else {},
        template_code=staff_template,
        params={"title": notification.title[:35]},
    )


def _skip(settings: Settings, delivery_id: int, now) -> None:
    """A planned message that must not go out any more (the citizen opted out): failed, with the reason."""
    from tracker.notify.service import mark_failed

    with session_scope(settings.database_url) as session:
        mark_failed(session, delivery_id, "群众已退订，不再发送", now=now or utcnow(), final=True)


def send_pending(
    settings: Settings, *, now: datetime | None = None, budget: float = TIME_BUDGET_SECONDS
) -> dict[str, int]:
    """Send what is due until nothing is left or the time budget is spent; return counts (`held`: robot
    deliveries waiting for their robot's pace or throttle)."""
    from tracker.notify.service import claim_deliveries

    counts = {"sent": 0, "failed": 0, "retrying": 0, "held": 0}
    started = time.monotonic()
    while time.monotonic() - started < budget:
        with session_scope(settings.database_url) as session:
            ids = claim_deliveries(session, now=now or utcnow(), limit=CLAIM)
        if not ids:
            if now is None and counts["held"] and _robot_due_soon(settings):
                time.sleep(ROBOT_SPACING.total_seconds())  # a robot's next slot: send on, not next minute
                continue
            break
        with session_scope(settings.database_url) as session:
            loaded = {i: load_message(settings, session, i) for i in ids}
        messages = [m for m in loaded.values() if m is not None]
        for delivery_id in [i for i, m in loaded.items() if m is None]:
            _skip(settings, delivery_id, now)
            counts["failed"] += 1
        robots: dict[int, list[Message]] = {}
        for message in messages:
            if message.medium in ROBOT_KINDS and message.channel_id is not None:
                robots.setdefault(message.channel_id, []).append(message)
            else:
                _deliver(settings, [message], counts, now=now)
        for channel_id, burst in robots.items():
            _deliver_to_robot(settings, channel_id, burst, counts, now=now)
    return counts


def _robot_due_soon(settings: Settings) -> bool:
    """Whether a robot delivery held for its pace comes due within the next slot."""
    soon = utcnow() + ROBOT_SPACING
    with session_scope(settings.database_url) as session:
        return (
            session.scalar(
                select(Delivery.id)
                .where(
                    Delivery.status == "pending",
                    Delivery.medium.in_(ROBOT_KINDS),
                    Delivery.next_attempt_at <= soon,
                )
                .limit(1)
            )
            is not None
        )


def _deliver_to_robot(
    settings: Settings, channel_id: int, burst: list[Message], counts: dict[str, int], *, now
) -> None:
    """Post a robot's due deliveries as one message when its pace allows, else leave them waiting."""
    from tracker.notify.service import ROBOT_BATCH, gather_burst, hold_deliveries, take_robot_slot

    moment = now or utcnow()
    with session_scope(settings.database_url) as session:
        wait_until = take_robot_slot(session, channel_id, now=moment)
        if wait_until is not None:
            hold_deliveries(session, [m.delivery_id for m in burst], until=wait_until)
            counts["held"] += len(burst)
            return
        more = gather_burst(session, channel_id, now=moment, limit=max(0, ROBOT_BATCH - len(burst)))
        burst = burst[:ROBOT_BATCH] + [m for m in (load_message(settings, session, i) for i in more) if m]
        # Claimed beyond one digest (rare: CLAIM > ROBOT_BATCH): they wait for the robot's next slot.
        hold_deliveries(session, [m.delivery_id for m in burst[ROBOT_BATCH:]], until=moment)
    _deliver(settings, burst[:ROBOT_BATCH], counts, now=now)


def _deliver(settings: Settings, messages: list[Message], counts: dict[str, int], *, now) -> None:
    """Send one message (or one robot's digest) and record the outcome for every delivery in it."""
    from tracker.notify.service import hold_deliveries, mark_failed, mark_sent

    first = messages[0]
    moment = now or utcnow()
    try:
        send_batch(messages, settings)
    except Throttled as exc:
        until = moment + timedelta(seconds=exc.retry_after)
        with session_scope(settings.database_url) as session:
            hold_deliveries(session, [m.delivery_id for m in messages], until=until)
        counts["held"] += len(messages)
        _record_health(settings, first, now=moment, code=exc.code, error=str(exc), paused_until=until)
        log.warning("channel %s throttled (%s) until %s", first.channel_id, exc.code, until.isoformat())
        return
    except Exception as exc:  # any failure of one channel is recorded; the others go on
        error = f"{type(exc).__name__}: {exc}"[:500]
        with session_scope(settings.database_url) as session:
            for message in messages:
                status = mark_failed(
                    session,
                    message.delivery_id,
                    error,
                    now=now or utcnow(),
                    final=bool(getattr(exc, "permanent", False)),
                )
                counts["failed" if status == "failed" else "retrying"] += 1
        log.warning("delivery %s (%s) failed: %s", first.delivery_id, first.medium, type(exc).__name__)
        _record_health(
            settings,
            first,
            now=moment,
            code=str(getattr(exc, "code", None) or type(exc).__name__),
            error=error,
        )
        return
    with session_scope(settings.database_url) as session:
        for message in messages:
            mark_sent(session, message.delivery_id, now=now or utcnow())
    counts["sent"] += len(messages)
    _record_health(settings, first, now=moment)


def _record_health(settings: Settings, message: Message, *, now: datetime, **outcome) -> None:
    """The channel's last success or refusal, in a transaction of its own after the delivery's outcome is
    committed: two senders recording at once must never roll back a delivery that was sent (it would be
    sent again)."""
    from tracker.notify.service import record_channel_result

    where = {"channel_id": message.channel_id} if message.channel_id else {"medium": message.medium}
    try:
        with session_scope(settings.database_url) as session:
            record_channel_result(session, now=now, **where, **outcome)
    except Exception as exc:  # health is a report; the delivery's outcome is already safe
        log.warning("could not record the health of %s: %s", message.medium, type(exc).__name__)


@shared_task(bind=True, name="deliveries.send", **RETRY)
def send_deliveries(self) -> dict[str, int]:
    counts = send_pending(settings_of(self))
    if sum(counts.values()) and counts["sent"] + counts["failed"] + counts["retrying"] >= CLAIM:
        self.app.send_task("deliveries.send")  # more may be waiting; the beat entry would find them too
    return counts
