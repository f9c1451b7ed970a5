"""留言选登: the public list of website messages whose authors agreed to publication, with the reply.

Only messages that carry the author's consent (`Ticket.is_publishable`, the checkbox on the message form),
have been replied to, are not confidential, merged or anonymised. Personal data is masked before it
leaves here — the author's name to its family name, and any phone number, ID number or e-mail address
written inside the message or the reply — so a template cannot show it by mistake. The text is otherwise
given as written; the page escapes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.security import mask_email, mask_id_number, mask_name, mask_phone
from tracker.tickets.models import Contact, Ticket

PAGE_SIZE = 20
MAX_PAGE = 500

_ID = re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_text(text: str | None) -> str:
    """Mask ID numbers, phone numbers and e-mail addresses written in free text."""
    if not text:
        return ""
    text = _ID.sub(lambda m: mask_id_number(m.group()), text)
    text = _PHONE.sub(lambda m: mask_phone(m.group()), text)
    return _EMAIL.sub(lambda m: mask_email(m.group()), text)


@dataclass(frozen=True)
class PublishedMessage:
    number: str
    request_type: str
    subject: str
    body: str
    author: str
    received_at: datetime
    reply: str
    replied_at: datetime


def _published():
    return (
        select(Ticket, Contact.name, Contact.is_confidential)
        .outerjoin(Contact, Contact.id == Ticket.contact_id)
        .where(
            Ticket.channel == "website",
            Ticket.is_publishable,
            Ticket.replied_at.is_not(None),
            Ticket.reply_text.is_not(None),
            Ticket.merged_into_id.is_(None),
            Contact.anonymised_at.is_(None),
        )
    )


def published_messages(session: Session, *, page: int = 1) -> tuple[list[PublishedMessage], int]:
    """One page of published messages, newest reply first, and the number of pages."""
    page = min(max(1, page), MAX_PAGE)
    query = _published().where(Contact.is_confidential.is_not(True))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.execute(
        query.order_by(Ticket.replied_at.desc(), Ticket.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    items = [
        PublishedMessage(
            number=ticket.number,
            request_type=ticket.request_type,
            subject=mask_text(ticket.subject),
            body=mask_text(ticket.body),
            author=mask_name(name) or "匿名",
            received_at=ticket.received_at,
            reply=mask_text(ticket.reply_text),
            replied_at=ticket.replied_at,
        )
        for ticket, name, _ in rows
    ]
    return items, max(1, -(-total // PAGE_SIZE))
