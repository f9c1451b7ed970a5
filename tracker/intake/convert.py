"""条例 art. 39 both ways: a hotline order or a message that is really a disclosure application becomes
(or is linked to) a disclosure ticket, and an application that is really a complaint or petition is
pointed to its channel. Both tickets keep their whole history; they point at each other."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.tickets.channels import CHANNELS
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.history import Actor, record_event
from tracker.tickets.models import Ticket
from tracker.workflow.opening import open_ticket


def link_tickets(
    session: Session, a: Ticket, b: Ticket, *, actor: Actor | None, now: datetime, reason: str
) -> None:
    """Point two tickets at each other, with an event on each."""
    if a.id == b.id:
        raise ValidationError("不能与自身关联", fields={"linked": "同一工单"})
    if not reason.strip():
        raise ValidationError("关联须说明理由", fields={"reason": "必填"})
    a.linked_ticket_id, b.linked_ticket_id = b.id, a.id
    for this, other in ((a, b), (b, a)):
        record_event(
            session,
            this,
            "ticket.linked",
            actor=actor,
            now=now,
            data={"linked": other.number, "linked_id": other.id, "reason": reason},
            publish=True,
        )


def convert_ticket(
    session: Session,
    ticket: Ticket,
    target_channel: str,
    *,
    actor: Actor | None,
    now: datetime,
    reason: str,
    received_at: datetime | None = None,
    request_type: str | None = None,
    applicant_type: str | None = None,
) -> Ticket:
    """Open a ticket in `target_channel` carrying this one's content and contact, and link the two.

    The source ticket is not changed otherwise: staff reply to it (e.g. 信访举报投诉类申请, or telling
    the citizen an application was opened) through the usual actions.
    """
    if target_channel not in CHANNELS or target_channel == ticket.channel:
        raise ValidationError("目标渠道无效", fields={"channel": "须为另一个渠道"})
    if ticket.linked_ticket_id is not None:
        raise ValidationError("该工单已关联其他工单", fields={"linked": "已关联"})
    chan = CHANNELS[target_channel]
    kind = request_type or (chan.request_types[0] if target_channel == "disclosure" else "其他")
    contact = ticket.contact
    draft = TicketDraft(
        channel=target_channel,
        request_type=kind,
        subject=ticket.subject,
        body=ticket.body,
        arrived_at=ticket.arrived_at,
        # art. 31: an application arriving through another channel counts from when it is confirmed.
        confirmed_at=received_at or now,
        department_code=ticket.department.code,
        applicant_type=(applicant_type or "自然人") if target_channel == "disclosure" else None,
        received_via=f"由{CHANNELS[ticket.channel].label}转来",
        contact=ContactDraft(
            **{
                f: getattr(contact, f)
                for f in ("name", "phone", "email", "address", "id_type", "id_number", "is_confidential")
            }
        )
        if contact is not None
        else ContactDraft(),
        extra={"converted_from": ticket.number},
        with_query_code=target_channel in ("website", "disclosure"),
    )
    draft = replace(draft, received_via=draft.received_via[:32])
    created, _ = open_ticket(session, draft, actor=actor, now=now)
    record_event(
        session,
        ticket,
        "ticket.converted",
        actor=actor,
        now=now,
        data={"to": created.number, "to_id": created.id, "channel": target_channel, "reason": reason},
        publish=True,
    )
    link_tickets(session, ticket, created, actor=actor, now=now, reason=reason)
    return created
