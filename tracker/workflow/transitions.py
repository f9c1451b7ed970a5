"""Ticket use cases: open, change status, assign, transfer, reply, close, rate, note, merge.

Every change appends a TicketEvent in the same transaction (tracker.tickets.history); changes that others react to also
write an OutboxMessage, which the workers relay after the commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tracker.clock import local
from tracker.deadlines import policies
from tracker.deadlines import service as deadlines
from tracker.errors import NotFound, ValidationError
from tracker.people.models import Department, User
from tracker.reports.facts import refresh_facts
from tracker.tickets.channels import APPLICANT_TYPES, SATISFACTION_LEVELS, channel
from tracker.tickets.history import Actor, record_event
from tracker.tickets.models import Contact, Ticket, TicketEvent, TicketNumberAllocation, TicketTopic
from tracker.tickets.status import OPEN_STATUSES, transition_for

# Draft fields that a re-delivered work order may change; the rest identify the order.
UPDATABLE_FIELDS = (
    "request_type",
    "subject",
    "body",
    "category",
    "urgency",
    "incident_address",
    "applicant_type",
    "received_via",
)
CONTACT_FIELDS = ("name", "phone", "email", "address", "id_type", "id_number", "is_confidential")


@dataclass
class ContactDraft:
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    id_type: str | None = None
    id_number: str | None = None
    is_confidential: bool = False


@dataclass
class TicketDraft:
    """What every intake adapter normalises its input into."""

    channel: str
    request_type: str
    subject: str
    body: str
    arrived_at: datetime
    received_at: datetime | None = None  # legal receipt time; defaults to arrival
    external_ref: str | None = None
    department_code: str | None = None
    category: str | None = None
    urgency: str | None = None
    incident_address: str | None = None
    applicant_type: str | None = None
    received_via: str | None = None
    is_publishable: bool = False
    contact: ContactDraft = field(default_factory=ContactDraft)
    topics: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    with_query_code: bool = False


def next_ticket_number(session: Session, channel_code: str, received_at: datetime) -> str:
    """RX2026000123: channel prefix, receipt year, then a number the database hands out."""
    allocated = session.execute(
        insert(TicketNumberAllocation).values().returning(TicketNumberAllocation.id)
    ).scalar_one()
    return f"{channel(channel_code).number_prefix}{local(received_at).year}{allocated:07d}"


def _department(session: Session, code: str | None) -> Department:
    if code:
        department = session.scalar(select(Department).where(Department.code == code))
        if department is None:
            raise ValidationError(f"未知部门 {code!r}", fields={"department": "未知部门"})
        return department
    # No routing information: the root of the tree (the bureau's office) receives it.
    department = session.scalar(
        select(Department).where(Department.parent_id.is_(None)).order_by(Department.id)
    )
    if department is None:
        raise ValidationError("尚未建立部门，请先创建部门", fields={"department": "无部门"})
    return department


def _validate(draft: TicketDraft) -> None:
    chan = channel(draft.channel)
    errors: dict[str, str] = {}
    if draft.request_type not in chan.request_types:
        errors["request_type"] = f"应为 {'/'.join(chan.request_types)} 之一"
    if not draft.body or not draft.body.strip():
        errors["body"] = "内容不能为空"
    if draft.applicant_type is not None and draft.applicant_type not in APPLICANT_TYPES:
        errors["applicant_type"] = f"应为 {'/'.join(APPLICANT_TYPES)} 之一"
    if draft.arrived_at.tzinfo is None:
        errors["arrived_at"] = "时间缺少时区"
    if errors:
        raise ValidationError("；".join(f"{k}: {v}" for k, v in errors.items()), fields=errors)


def draft_subject(draft: TicketDraft) -> str:
    """The subject a draft gives its ticket: its title, else the opening of its text."""
    return (draft.subject or draft.body[:40]).strip()


def open_ticket(
    session: Session, draft: TicketDraft, *, actor: Actor | None, now: datetime
) -> tuple[Ticket, bool]:
    """Create the ticket for a draft, unless one with the same channel and external reference exists.

    Returns (ticket, created): with created False the existing ticket, unchanged — updating it is the
    update-from-channel door (`tracker.intake.records.apply_record`), which first checks that the caller
    may change it. The ticket, its `ticket.created` event and the outbox message are written in the
    caller's transaction, so intake works while the broker is down.
    """
    _validate(draft)
    if draft.external_ref:
        existing = session.scalar(
            select(Ticket).where(Ticket.channel == draft.channel, Ticket.external_ref == draft.external_ref)
        )
        if existing is not None:
            return existing, False

    received_at = draft.received_at or draft.arrived_at
    contact = Contact(**{f: getattr(draft.contact, f) for f in CONTACT_FIELDS})
    session.add(contact)
    ticket = Ticket(
        number=next_ticket_number(session, draft.channel, received_at),
        channel=draft.channel,
        external_ref=draft.external_ref,
        request_type=draft.request_type,
        subject=draft_subject(draft),
        body=draft.body,
        category=draft.category,
        urgency=draft.urgency,
        incident_address=draft.incident_address,
        contact=contact,
        applicant_type=draft.applicant_type,
        received_via=draft.received_via,
        arrived_at=draft.arrived_at,
        received_at=received_at,
        department=_department(session, draft.department_code),
        status="received",
        is_publishable=draft.is_publishable,
        query_code=secrets.token_hex(6).upper() if draft.with_query_code else None,
        extra=dict(draft.extra),
        created_at=now,
        updated_at=now,
    )
    ticket.topics = [TicketTopic(topic=t) for t in dict.fromkeys(draft.topics)]
    session.add(ticket)
    session.flush()
    record_event(
        session,
        ticket,
        "ticket.created",
        actor=actor,
        now=now,
        status_after="received",
        data={"channel": ticket.channel, "number": ticket.number, "external_ref": ticket.external_ref},
        publish=True,
    )
    deadlines.open_deadlines(session, ticket, now=now, actor=actor)
    return ticket, True


def update_from_draft(
    session: Session, ticket: Ticket, draft: TicketDraft, *, actor: Actor | None, now: datetime
) -> dict[str, tuple[Any, Any]]:
    """Apply a re-delivered draft; record what changed (nothing is recorded when nothing changed)."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name in UPDATABLE_FIELDS:
        # A draft without a title has the subject it was opened with: re-sending it changes nothing.
        new = draft_subject(draft) if name == "subject" else getattr(draft, name)
        if new is not None and new != getattr(ticket, name):
            changes[name] = (getattr(ticket, name), new)
            setattr(ticket, name, new)
    if ticket.contact is not None:
        for name in CONTACT_FIELDS:
            new = getattr(draft.contact, name)
            if new not in (None, "") and new != getattr(ticket.contact, name):
                # Personal data: record that it changed, not the values.
                changes[f"contact.{name}"] = ("***", "***")
                setattr(ticket.contact, name, new)
    for key, value in draft.extra.items():
        if ticket.extra.get(key) != value:
            changes[f"extra.{key}"] = (ticket.extra.get(key), value)
    if any(k.startswith("extra.") for k in changes):
        ticket.extra = {**ticket.extra, **draft.extra}
    if changes:
        ticket.updated_at = now
        record_event(
            session,
            ticket,
            "ticket.updated",
            actor=actor,
            now=now,
            data={"changes": {k: [_plain(a), _plain(b)] for k, (a, b) in changes.items()}},
            publish=True,
        )
    return changes


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def transition(
    session: Session,
    ticket: Ticket,
    action: str,
    *,
    actor: Actor | None,
    now: datetime,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Perform a status transition: check it against the table, set the status, append the event."""
    step = transition_for(action, ticket.status)
    before = ticket.status
    ticket.status = step.target
    ticket.updated_at = now
    event = record_event(
        session,
        ticket,
        "ticket.status_changed",
        actor=actor,
        now=now,
        status_before=before,
        status_after=step.target,
        data={"action": action, **(data or {})},
        publish=True,
    )
    if action == "reply" or ticket.channel == "disclosure":
        # The report's facts on the row (working days to reply; an application's result row and last
        # change), in the same transaction as the event they are read from.

        refresh_facts(session, Ticket.id == ticket.id)
    _deadline_consequences(session, ticket, action, actor=actor, now=now)
    return event


# What a status change does to the ticket's deadlines. The actions that open pauses and
# consultations (补正, 第三方, 缴费) carry their own dates and live in the workflow functions below.
_MEETS = {
    "assign": (policies.SIGN,),
    "start": (policies.SIGN,),
    "reply": (policies.SIGN, policies.REPLY),
}
_CANCELS = {"close", "merge", "withdraw", "return_to_platform"}


def _deadline_consequences(
    session: Session, ticket: Ticket, action: str, *, actor: Actor | None, now: datetime
):
    for kind in _MEETS.get(action, ()):
        deadlines.meet_if_open(session, ticket, kind, now=now, actor=actor)
    if action == "reply":
        # Answered without asking for a correction: the 补正告知 period no longer applies.
        deadlines.cancel_open_deadlines(
            session, ticket, now=now, actor=actor, reason="已答复", kinds=(policies.CORRECTION_NOTICE,)
        )
    if action in _CANCELS:
        reason = {"close": "已办结", "merge": "已合并", "withdraw": "已撤回", "return_to_platform": "已退单"}[
            action
        ]
        deadlines.cancel_open_deadlines(session, ticket, now=now, actor=actor, reason=reason)


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"工单 {ticket_id} 不存在")
    return ticket


def assign_ticket(
    session: Session, ticket: Ticket, assignee: User, *, actor: Actor | None, now: datetime
) -> TicketEvent:
    if assignee.department_id != ticket.department_id:
        raise ValidationError("承办人不属于工单所在部门", fields={"assignee": "部门不符"})
    previous = ticket.assignee.display_name if ticket.assignee else None
    ticket.assignee = assignee
    return transition(
        session,
        ticket,
        "assign",
        actor=actor,
        now=now,
        data={"assignee_id": assignee.id, "assignee": [previous, assignee.display_name]},
    )


def transfer_ticket(
    session: Session,
    ticket: Ticket,
    department: Department,
    reason: str,
    *,
    actor: Actor | None,
    now: datetime,
) -> TicketEvent:
    if not reason.strip():
        raise ValidationError("转办须说明理由", fields={"reason": "必填"})
    if department.id == ticket.department_id:
        raise ValidationError("不能转办给本部门", fields={"department": "与当前部门相同"})
    before = ticket.department.name
    ticket.department = department
    ticket.assignee = None
    return transition(
        session,
        ticket,
        "transfer",
        actor=actor,
        now=now,
        data={"department": [before, department.name], "department_id": department.id, "reason": reason},
    )


def reply_ticket(
    session: Session,
    ticket: Ticket,
    text: str,
    *,
    actor: Actor | None,
    now: datetime,
    outcome: str | None = None,
    replied_at: datetime | None = None,
) -> TicketEvent:
    """Record the reply. A disclosure reply must name its outcome (the annual report's row)."""
    if not text.strip():
        raise ValidationError("答复内容不能为空", fields={"reply_text": "必填"})
    if ticket.channel == "disclosure" and not outcome:
        raise ValidationError("依申请公开答复须选择答复结果", fields={"outcome": "必填"})
    ticket.reply_text = text
    ticket.replied_at = replied_at or now
    if outcome:
        ticket.outcome = outcome
    return transition(session, ticket, "reply", actor=actor, now=replied_at or now, data={"outcome": outcome})


def close_ticket(
    session: Session,
    ticket: Ticket,
    *,
    actor: Actor | None,
    now: datetime,
    outcome: str | None = None,
    closed_at: datetime | None = None,
) -> TicketEvent:
    ticket.closed_at = closed_at or now
    if outcome:
        ticket.outcome = outcome
    return transition(session, ticket, "close", actor=actor, now=closed_at or now, data={"outcome": outcome})


def rate_ticket(
    session: Session,
    ticket: Ticket,
    satisfaction: str,
    *,
    actor: Actor | None,
    now: datetime,
    is_resolved: bool | None = None,
) -> TicketEvent:
    """Record the 回访 result: satisfaction (满意/基本满意/不满意) and whether it was resolved."""
    if satisfaction not in SATISFACTION_LEVELS:
        raise ValidationError(
            f"满意度应为 {'/'.join(SATISFACTION_LEVELS)} 之一", fields={"satisfaction": "取值无效"}
        )
    before = ticket.satisfaction
    ticket.satisfaction = satisfaction
    ticket.is_resolved = is_resolved
    ticket.updated_at = now
    return record_event(
        session,
        ticket,
        "ticket.rated",
        actor=actor,
        now=now,
        data={"satisfaction": [before, satisfaction], "is_resolved": is_resolved},
    )


def add_note(
    session: Session, ticket: Ticket, text: str, *, actor: Actor | None, now: datetime
) -> TicketEvent:
    if not text.strip():
        raise ValidationError("备注不能为空", fields={"note": "必填"})
    return record_event(session, ticket, "ticket.note", actor=actor, now=now, data={"note": text})


def merge_tickets(
    session: Session, duplicate: Ticket, into: Ticket, *, actor: Actor | None, now: datetime
) -> TicketEvent:
    """Merge a duplicate into another open ticket; both histories stay, the duplicate is closed as merged."""
    if duplicate.id == into.id:
        raise ValidationError("不能与自身合并", fields={"into": "同一工单"})
    if into.status not in OPEN_STATUSES:
        raise ValidationError("只能合并到办理中的工单", fields={"into": "目标工单已结束"})
    duplicate.merged_into_id = into.id
    record_event(session, into, "ticket.merged_in", actor=actor, now=now, data={"from": duplicate.number})
    return transition(session, duplicate, "merge", actor=actor, now=now, data={"into": into.number})


# -- workflow steps that move the status and the deadlines together ------------------------------------


def request_correction(
    session: Session,
    ticket: Ticket,
    notice: str,
    *,
    actor: Actor | None,
    now: datetime,
    correction_due_at: datetime | None = None,
) -> TicketEvent:
    """Send the one 补正 notice (art. 30): the reply clock stops until the corrected application arrives."""
    if not notice.strip():
        raise ValidationError("补正告知须写明需要补正的内容", fields={"notice": "必填"})
    event = transition(session, ticket, "request_correction", actor=actor, now=now, data={"notice": notice})
    deadlines.request_correction(session, ticket, now=now, actor=actor, correction_due_at=correction_due_at)
    return event


def receive_correction(
    session: Session, ticket: Ticket, *, corrected_received_at: datetime, actor: Actor | None, now: datetime
) -> TicketEvent:
    """Record the corrected application; the reply period restarts from the day it was received."""
    event = transition(
        session,
        ticket,
        "receive_correction",
        actor=actor,
        now=now,
        data={"corrected_received_at": corrected_received_at.isoformat()},
    )
    deadlines.restart_after_correction(
        session, ticket, corrected_received_at=corrected_received_at, now=now, actor=actor
    )
    return event


CONSULTATION_ACTIONS = {
    policies.THIRD_PARTY: ("start_consultation", "end_consultation"),
    policies.OTHER_AGENCY: ("start_consultation", "end_consultation"),
    policies.FEE_PAYMENT: ("request_fee", "receive_fee"),
}


def _consultation_step(
    session: Session, ticket: Ticket, kind: str, step: int, *, actor: Actor | None, now: datetime, note: str
) -> TicketEvent:
    if kind not in CONSULTATION_ACTIONS:
        raise ValidationError(f"未知的征求意见类型 {kind!r}", fields={"kind": "取值无效"})
    action = CONSULTATION_ACTIONS[kind][step]
    return transition(session, ticket, action, actor=actor, now=now, data={"kind": kind, "note": note})


def start_consultation(
    session: Session, ticket: Ticket, kind: str, *, actor: Actor | None, now: datetime, note: str = ""
) -> TicketEvent:
    """Ask a third party / another agency (15 working days) or send the fee notice; the reply clock pauses."""
    event = _consultation_step(session, ticket, kind, 0, actor=actor, now=now, note=note)
    deadlines.start_consultation(session, ticket, kind, now=now, actor=actor)
    return event


def end_consultation(
    session: Session, ticket: Ticket, kind: str, *, actor: Actor | None, now: datetime, note: str = ""
) -> TicketEvent:
    """The answer (or the fee) arrived, or the time ran out: the reply clock runs again."""
    event = _consultation_step(session, ticket, kind, 1, actor=actor, now=now, note=note)
    deadlines.finish_consultation(session, ticket, kind, now=now, actor=actor)
    return event


def close_without_correction(
    session: Session, ticket: Ticket, *, actor: Actor | None, now: datetime
) -> TicketEvent:
    """Close an application whose correction deadline passed uncorrected (report row （六）1)."""
    if not deadlines.is_correction_overdue(ticket, now):
        raise ValidationError("补正期限尚未届满，不能按逾期不补正办结", fields={"status": "补正期限未到"})
    return close_ticket(session, ticket, actor=actor, now=now, outcome="other_no_correction")
