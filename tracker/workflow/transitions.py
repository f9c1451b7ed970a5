"""Ticket use cases: open, change status, assign, transfer, reply, close, rate, note, merge.

Every change appends a TicketEvent in the same transaction (tracker.tickets.history); changes that others react to also
write an OutboxMessage, which the workers relay after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from tracker.deadlines import policies
from tracker.deadlines import service as deadlines
from tracker.errors import Conflict, NotFound, ValidationError
from tracker.people.models import Department, User
from tracker.reports.facts import refresh_facts
from tracker.search import index_tickets
from tracker.tickets.channels import SATISFACTION_LEVELS, SATISFACTION_SOURCES
from tracker.tickets.drafts import CONTACT_FIELDS, UPDATABLE_FIELDS, TicketDraft, draft_subject
from tracker.tickets.history import Actor, record_event
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.status import OPEN_STATUSES, transition_for
from tracker.tickets.topics import set_topic_facts


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
    if "category" in changes:
        set_topic_facts(session, [ticket])
    if "subject" in changes or "body" in changes:
        index_tickets(session, [ticket])
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
    # A redone 12345 order's answer meets its 重办 period (tracker/workorders/redo.py).
    "reply": (policies.SIGN, policies.REPLY, policies.REDO),
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
    if not department.is_active:
        raise ValidationError(f"部门 {department.name} 已停用，不能转办给它", fields={"department": "已停用"})
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
    """Record the reply. A disclosure reply must name its outcome (the annual report's row).

    `replied_at` is the latest reply; `first_replied_at` the first, set once."""
    if not text.strip():
        raise ValidationError("答复内容不能为空", fields={"reply_text": "必填"})
    if ticket.channel == "disclosure" and not outcome:
        raise ValidationError("依申请公开答复须选择答复结果", fields={"outcome": "必填"})
    ticket.reply_text = text
    ticket.replied_at = replied_at or now
    if ticket.first_replied_at is None:
        # Whether the answer came in time is the first answer's affair: a reopening and a second answer
        # later do not make a timely application late (the report reads this).
        ticket.first_replied_at = ticket.replied_at
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
    source: str = "revisit",
) -> TicketEvent:
    """Record a rating and where it came from (`SATISFACTION_SOURCES`): the 回访 result, the citizen's
    好差评 (`rate_from_portal`), or the platform's record in an import."""
    if satisfaction not in SATISFACTION_LEVELS:
        raise ValidationError(
            f"满意度应为 {'/'.join(SATISFACTION_LEVELS)} 之一", fields={"satisfaction": "取值无效"}
        )
    if source not in SATISFACTION_SOURCES:
        raise ValidationError(f"未知的评价来源 {source!r}", fields={"source": "取值无效"})
    before = ticket.satisfaction
    ticket.satisfaction = satisfaction
    ticket.satisfaction_source = source
    ticket.is_resolved = is_resolved
    ticket.updated_at = now
    return record_event(
        session,
        ticket,
        "ticket.rated",
        actor=actor,
        now=now,
        data={"satisfaction": [before, satisfaction], "is_resolved": is_resolved, "source": source},
    )


def rate_from_portal(session: Session, query_code: str, satisfaction: str, *, now: datetime) -> Ticket:
    """The citizen's 好差评 with the 查询码: once per ticket, after the reply.

    The claim is one conditional UPDATE, so two submissions racing (a replayed form) cannot both count:
    the second finds the ticket already rated from the portal and is refused. A 回访 rating recorded
    before is replaced — the citizen's own word is the later one — and the event keeps both.
    """
    code = (query_code or "").strip().upper()
    if satisfaction not in SATISFACTION_LEVELS:
        raise ValidationError(
            f"评价应为 {'/'.join(SATISFACTION_LEVELS)} 之一", fields={"satisfaction": "取值无效"}
        )
    ticket = session.scalar(select(Ticket).where(Ticket.query_code == code)) if 0 < len(code) <= 32 else None
    if ticket is None:
        raise NotFound("查询码不正确，请核对后重试")
    if ticket.replied_at is None:
        raise ValidationError("尚未答复，答复后才能评价", fields={"satisfaction": "尚未答复"})
    claimed = session.execute(
        update(Ticket)
        .where(
            Ticket.id == ticket.id,
            or_(Ticket.satisfaction_source.is_(None), Ticket.satisfaction_source != "portal"),
        )
        .values(satisfaction_source="portal")
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        raise Conflict("您已评价过此件，每件只能评价一次")
    session.refresh(ticket)
    rate_ticket(session, ticket, satisfaction, actor="群众（网站好差评）", now=now, source="portal")
    return ticket


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
