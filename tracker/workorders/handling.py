"""办理情况: the unit's internal record of how it handled a 12345 order — who was contacted, when, by which
number, what was done, with evidence (attachments of purpose "evidence").

It is kept apart from the public reply (`Ticket.reply_text`, 公开答复内容): the reply is what the citizen and
the platform read; the record is the unit's own and never leaves the bureau — not in the callbacks to the
platform (tracker.intake.callbacks), not in the reply export (tracker.intake.hotline), not on the portal,
not in the API's event list (the `handling.recorded` event carries the record's id only, and is not
published). The contact number is encrypted at rest (EncryptedText) and masked on the page.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import Conflict, ValidationError
from tracker.inputs import text_error
from tracker.people.access import require_action
from tracker.people.models import User
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workflow import transitions as svc
from tracker.workflow.models import Attachment
from tracker.workorders.models import HandlingRecord

CONTACT_METHODS = ("电话", "上门", "短信", "现场", "其他")
MAX_SUMMARY_CHARS = 5000
EVIDENCE_PURPOSE = "evidence"
# A number as people write it: digits with spaces, dashes, brackets or a leading +, extension after 转.
_NUMBER = re.compile(r"\+?[0-9][0-9 ()\-]{2,30}(转[0-9]{1,6})?")
# Once the order has left the unit there is nothing left to record against it.
_GONE = frozenset({"returned", "merged", "withdrawn"})

# The fields as a message names them (the `fields` of the error keep the form's names).
_FIELD_LABELS = {
    "summary": "办理情况",
    "contact_method": "联系方式",
    "contact_number": "联系号码",
    "contacted_at": "联系时间",
    "evidence_ids": "办理证据",
}


def add_handling_record(
    session: Session,
    ticket: Ticket,
    *,
    summary: str,
    user: User,
    now: datetime,
    contacted_at: datetime | None = None,
    contact_method: str | None = None,
    contact_number: str | None = None,
    evidence_ids: list[int] | None = None,
) -> HandlingRecord:
    """Append one entry to the order's internal record. Reach and role as every door; a 12345 order the
    unit still holds; a summary; a contact time neither in the future nor before the order arrived."""
    require_action(user, "record_handling", ticket)
    if ticket.channel != "hotline":
        raise ValidationError("只有12345热线工单记录办理情况", fields={"action": "渠道不符"})
    if ticket.status in _GONE:
        raise Conflict(f"{ticket.number}已不在本单位办理，不能再记录办理情况")
    errors: dict[str, str] = {}
    summary = (summary or "").strip()
    if not summary:
        errors["summary"] = "必填"
    elif len(summary) > MAX_SUMMARY_CHARS:
        errors["summary"] = f"不能超过{MAX_SUMMARY_CHARS}字"
    elif text_error(summary):
        errors["summary"] = text_error(summary) or ""
    method = (contact_method or "").strip() or None
    if method is not None and method not in CONTACT_METHODS:
        errors["contact_method"] = "应为" + "、".join(CONTACT_METHODS) + "之一"
    number = (contact_number or "").strip() or None
    if number is not None and not _NUMBER.fullmatch(number):
        errors["contact_number"] = "不像电话号码"
    if contacted_at is not None:
        if contacted_at > now:
            errors["contacted_at"] = "不能晚于现在"
        elif contacted_at < ticket.received_at:
            errors["contacted_at"] = "不能早于受理时间"
    evidence = _evidence(session, ticket, evidence_ids or [], errors)
    if errors:
        raise ValidationError(
            "；".join(f"{_FIELD_LABELS.get(k, k)}{v}" for k, v in errors.items()), fields=errors
        )
    record = HandlingRecord(
        ticket_id=ticket.id,
        contacted_at=contacted_at,
        contact_method=method,
        contact_number=number,
        summary=summary,
        recorded_by_id=user.id,
        recorded_at=now,
    )
    session.add(record)
    session.flush()
    # The event says that the record grew and where to find it, never what it says: the history is
    # served to machine clients (GET /api/v1/tickets/<id>/events). Not published: nobody outside reacts.
    svc.record_event(
        session,
        ticket,
        "handling.recorded",
        actor=user,
        now=now,
        data={"handling_record_id": record.id, "evidence_ids": [a.id for a in evidence]},
    )
    return record


def _evidence(session: Session, ticket: Ticket, ids: list[int], errors: dict[str, str]) -> list[Attachment]:
    """The evidence attachments named: this order's own, uploaded as evidence."""
    if not ids:
        return []
    found = list(
        session.scalars(
            select(Attachment).where(
                Attachment.id.in_(ids),
                Attachment.ticket_id == ticket.id,
                Attachment.purpose == EVIDENCE_PURPOSE,
            )
        )
    )
    if len(found) != len(set(ids)):
        errors["evidence_ids"] = "附件不属于本工单或不是办理证据"
    return found


def handling_records(session: Session, ticket: Ticket) -> list[HandlingRecord]:
    return list(
        session.scalars(
            select(HandlingRecord).where(HandlingRecord.ticket_id == ticket.id).order_by(HandlingRecord.id)
        )
    )


def evidence_of(session: Session, ticket: Ticket) -> dict[int, list[Attachment]]:
    """Each record's evidence, read from its event (the record itself has no attachment column)."""
    by_record: dict[int, list[int]] = {}
    for data in session.scalars(
        select(TicketEvent.data).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "handling.recorded"
        )
    ):
        data = data or {}
        if data.get("handling_record_id"):
            by_record[int(data["handling_record_id"])] = [int(i) for i in data.get("evidence_ids") or []]
    wanted = {i for ids in by_record.values() for i in ids}
    attachments = (
        {a.id: a for a in session.scalars(select(Attachment).where(Attachment.id.in_(wanted)))}
        if wanted
        else {}
    )
    return {r: [attachments[i] for i in ids if i in attachments] for r, ids in by_record.items()}
