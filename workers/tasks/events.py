"""Consumers of outbox events. Each consumer records the message in `ProcessedMessage` in the same
transaction as its effect, so a re-delivered message (at-least-once relay, a redelivered task) has no
second effect."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from celery import shared_task
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from tracker.people.models import User
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage, ProcessedMessage
from tracker.tickets.status import OPEN_STATUSES
from workers.tasks.common import RETRY, settings_of

log = logging.getLogger(__name__)


def _supervisors(session: Session, department_id: int) -> list[int]:
    return list(
        session.scalars(
            select(User.id).where(
                User.department_id == department_id, User.role == "supervisor", User.is_active
            )
        )
    )


def _notify(
    session: Session,
    settings: Settings,
    user_ids,
    *,
    title: str,
    ticket: Ticket,
    now: datetime,
    key: str,
    kind: str = "status",
):
    from tracker.notify.service import notify, plan_deliveries

    ids = notify(
        session,
        user_ids,
        kind=kind,
        title=title,
        body=ticket.subject,
        ticket_id=ticket.id,
        now=now,
        dedupe_key=key,
    )
    plan_deliveries(session, ids, now=now, media=media_for(settings))
    return ids


def media_for(settings: Settings) -> tuple[str, ...]:
    from tracker.notify.service import configured_media

    return configured_media(settings)


def on_created_route(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    from tracker.workflow.routing import route_ticket

    ticket = session.get(Ticket, message.ticket_id)
    department = route_ticket(session, ticket, now=now)
    if department is not None:
        _notify(
            session,
            settings,
            _supervisors(session, department.id),
            title=f"新工单分办到本部门：{ticket.number}",
            ticket=ticket,
            now=now,
            key=f"routed:{message.id}",
        )


def on_created_tag(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    from tracker.workflow.routing import tag_ticket

    tag_ticket(session, session.get(Ticket, message.ticket_id), now=now)


def on_created_deadlines(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    """Open the ticket's deadlines if intake did not (idempotent: existing kinds are kept)."""
    from tracker.deadlines.service import open_deadlines

    open_deadlines(session, session.get(Ticket, message.ticket_id), now=now, actor="系统")


def on_created_index(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    """Write the search index row if intake left it out (the push keeps segmentation out of the request)."""
    from tracker.search import reindex
    from tracker.workflow.models import TicketSearch

    if session.get(TicketSearch, message.ticket_id) is None:
        reindex(session, [message.ticket_id])


def on_status_notify(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    """Tell the people a status change concerns (never the person who made it)."""
    ticket = session.get(Ticket, message.ticket_id)
    event = session.get(TicketEvent, message.event_id) if message.event_id else None
    action = (message.payload or {}).get("action")
    actor_id = event.actor_id if event else None
    if action in ("assign", "transfer") and ticket.status not in OPEN_STATUSES:
        return  # handled since (a relay catching up after an outage): nobody needs to hear it now
    if (
        action == "assign"
        and ticket.assignee_id
        and ticket.assignee_id == (message.payload or {}).get("assignee_id")
    ):
        people, title = [ticket.assignee_id], f"您有新分派的工单：{ticket.number}"
    elif action == "transfer":
        people, title = _supervisors(session, ticket.department_id), f"工单转办到本部门：{ticket.number}"
    elif action in ("reopen", "return_to_platform", "withdraw", "merge"):
        people = [p for p in [ticket.assignee_id, *_supervisors(session, ticket.department_id)] if p]
        title = f"工单{ticket.number}状态变为「{_label(ticket.status)}」"
    else:
        return
    _notify(
        session,
        settings,
        [p for p in people if p != actor_id],
        title=title,
        ticket=ticket,
        now=now,
        key=f"status:{message.id}",
    )


# What the citizen hears of each status change (tracker.notify.citizens): the 补正 notice, the reply, and
# at closing the 回访 invitation to rate.
CITIZEN_ACTIONS = {"request_correction": "correction", "reply": "reply", "close": "revisit"}


def _tell_citizen(
    session: Session, settings: Settings, message: OutboxMessage, kind: str, now: datetime, **extra
) -> None:
    from tracker.notify.citizens import tell_citizen

    ticket = session.get(Ticket, message.ticket_id)
    if ticket is None:
        return
    tell_citizen(
        session,
        ticket,
        kind,
        key=f"ob{message.id}:{kind}",
        now=now,
        public_url=settings.public_url,
        secret_key=settings.secret_key,
        media=media_for(settings),
        **extra,
    )


def on_created_citizen(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    """受理告知 with the 查询码."""
    _tell_citizen(session, settings, message, "receipt", now)


def on_status_citizen(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    payload = message.payload or {}
    kind = CITIZEN_ACTIONS.get(payload.get("action"))
    if kind == "revisit" and payload.get("outcome") == "other_no_correction":
        return  # closed because the applicant never corrected: nothing to rate
    if kind is not None:
        _tell_citizen(session, settings, message, kind, now, notice=str(payload.get("notice") or "")[:200])


def on_extended_citizen(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    """延期告知, only for the reply deadline (the citizen's answer), not for internal ones."""
    if (message.payload or {}).get("deadline") == "reply":
        _tell_citizen(session, settings, message, "extension", now)


def _deciders(session: Session, department_id: int) -> list[int]:
    """Who may decide a request of this department (tracker.workflow.doors.can_decide): its
    supervisors; the administrators when it has none (a bureau-level department, a new bureau)."""
    people = _supervisors(session, department_id)
    if people:
        return people
    return list(session.scalars(select(User.id).where(User.role == "admin", User.is_active)))


def on_approval_notify(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    """An extension or a reply's sign-off: asked for → tell the deciders; approved or refused → tell the
    person who asked. Never the person who acted; a request decided before this runs (a supervisor's own
    request, granted at once; a relay catching up) tells nobody that it waits."""
    from tracker.tickets.queries import APPROVAL_KIND_LABELS
    from tracker.workflow.models import Approval

    payload = message.payload or {}
    approval = session.get(Approval, payload.get("approval_id") or 0)
    ticket = session.get(Ticket, message.ticket_id)
    if approval is None or ticket is None:
        return
    event = session.get(TicketEvent, message.event_id) if message.event_id else None
    actor_id = event.actor_id if event else None
    what = APPROVAL_KIND_LABELS.get(approval.kind, "审批事项")
    if message.topic == "approval.requested":
        if approval.state != "pending":
            return
        people, title = _deciders(session, approval.department_id), f"待您审批：{ticket.number}的{what}"
    else:
        decision = "已同意" if message.topic == "approval.approved" else "未同意"
        people, title = [approval.requested_by_id], f"您提交的{what}{decision}：{ticket.number}"
    _notify(
        session,
        settings,
        [p for p in people if p and p != actor_id],
        title=title,
        ticket=ticket,
        now=now,
        key=f"approval:{message.id}",
        kind="approval",
    )


def _label(status: str) -> str:
    from tracker.tickets.status import STATUS_LABELS

    return STATUS_LABELS.get(status, status)


def on_created_repeats(session: Session, settings: Settings, message: OutboxMessage, now: datetime) -> None:
    """重复件 of a new order (tracker.workorders.repeats), after routing has settled its department: the
    push leaves it to this consumer; an order another intake path already linked is left alone."""
    from tracker.workorders.models import RepeatLink
    from tracker.workorders.repeats import link_at_intake

    ticket = session.get(Ticket, message.ticket_id)
    if ticket is None or session.scalar(select(RepeatLink.id).where(RepeatLink.ticket_id == ticket.id)):
        return
    link_at_intake(session, ticket.id, phone=ticket.contact.phone if ticket.contact else None, now=now)


def on_supervision_notify(
    session: Session, settings: Settings, message: OutboxMessage, now: datetime
) -> None:
    """A 督办/催办 was issued: tell the unit — the order's 承办人 and its department's 科室负责人."""
    from tracker.workorders.supervision import unit_to_tell

    ticket = session.get(Ticket, message.ticket_id)
    found = unit_to_tell(session, (message.payload or {}).get("supervision_id") or 0)
    if ticket is None or found is None:
        return
    people, title = found
    _notify(session, settings, people, title=title, ticket=ticket, now=now, key=f"supervision:{message.id}")


def on_send_back_decided_notify(
    session: Session, settings: Settings, message: OutboxMessage, now: datetime
) -> None:
    """The 12345 platform decided a 退单 request: tell who asked and the unit's supervisors — a refused
    request means the order is theirs again, with its clocks as they were (tracker.workorders.sendbacks)."""
    from tracker.workorders.models import SendBack

    send_back = session.get(SendBack, (message.payload or {}).get("send_back_id") or 0)
    ticket = session.get(Ticket, message.ticket_id)
    if send_back is None or ticket is None:
        return
    people = [p for p in [send_back.requested_by_id, *_supervisors(session, send_back.department_id)] if p]
    if send_back.state == "accepted":
        title = f"12345平台同意退单：{ticket.number}"
    else:
        title = f"12345平台不同意退单，请继续办理（期限照常计算）：{ticket.number}"
    _notify(
        session,
        settings,
        list(dict.fromkeys(people)),
        title=title,
        ticket=ticket,
        now=now,
        key=f"sendback:{message.id}",
    )


CONSUMERS: dict[str, list[tuple[str, Callable]]] = {
    "ticket.created": [
        ("route", on_created_route),
        ("repeats", on_created_repeats),
        ("tag", on_created_tag),
        ("deadlines", on_created_deadlines),
        ("search", on_created_index),
        ("citizen", on_created_citizen),
    ],
    "ticket.status_changed": [("notify", on_status_notify), ("citizen", on_status_citizen)],
    "deadline.extended": [("citizen", on_extended_citizen)],
    "approval.requested": [("notify", on_approval_notify)],
    "approval.approved": [("notify", on_approval_notify)],
    "approval.refused": [("notify", on_approval_notify)],
    "supervision.issued": [("notify", on_supervision_notify)],
    "sendback.decided": [("notify", on_send_back_decided_notify)],
}


def process_message(settings: Settings, message_id: int, *, now: datetime | None = None) -> list[str]:
    """Run every consumer of one outbox message that has not handled it yet; return the ones that ran.

    Each consumer commits on its own with its `ProcessedMessage` row, so one failing consumer neither
    blocks nor repeats the others; the task's retry runs only what is left.
    """
    now = now or utcnow()
    with session_scope(settings.database_url) as session:
        message = session.get(OutboxMessage, message_id)
        if message is None:
            log.warning("outbox message %s not found", message_id)
            return []
        topic = message.topic
    ran = []
    for name, consumer in CONSUMERS.get(topic, []):
        with session_scope(settings.database_url) as session:
            try:
                with session.begin_nested():
                    session.add(ProcessedMessage(consumer=name, message_id=message_id, processed_at=now))
            except IntegrityError:
                continue  # another delivery of the message already did it (or is doing it right now)
            consumer(session, settings, session.get(OutboxMessage, message_id), now)
        ran.append(name)
    return ran


@shared_task(bind=True, name="events.handle", **RETRY)
def handle_message(self, message_id: int) -> list[str]:
    return process_message(settings_of(self), message_id)
