"""Possible duplicates across channels: the same phone number, or very similar text, within a window.

Flagging only points at the earlier ticket (Ticket.possible_duplicate_of_id); merging stays a person's
decision on the dashboard.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from difflib import SequenceMatcher

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.models import Contact, Ticket

WINDOW = timedelta(days=30)
SIMILARITY = 0.85
TEXT_CANDIDATES = 200
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    return _NOISE.sub("", text or "")[:600]


def similarity(a: str, b: str) -> float:
    a, b = normalise(a), normalise(b)
    if not a or not b:
        return 0.0
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < SIMILARITY or matcher.quick_ratio() < SIMILARITY:
        return 0.0
    return matcher.ratio()


def find_possible_duplicate(session: Session, ticket: Ticket, *, window: timedelta = WINDOW) -> Ticket | None:
    """The earliest other live ticket within the window with the same phone, else with very similar text."""
    since, until = ticket.received_at - window, ticket.received_at + window
    live = (
        Ticket.id != ticket.id,
        Ticket.merged_into_id.is_(None),
        Ticket.received_at >= since,
        Ticket.received_at <= until,
    )
    phone = ticket.contact.phone if ticket.contact is not None else None
    if phone:
        match = session.scalar(
            select(Ticket)
            .join(Contact, Ticket.contact_id == Contact.id)
            .where(Contact.phone == phone, *live)
            .order_by(Ticket.received_at, Ticket.id)
            .limit(1)
        )
        if match is not None:
            return match
    rows = session.execute(
        select(Ticket.id, Ticket.body).where(*live).order_by(Ticket.received_at.desc()).limit(TEXT_CANDIDATES)
    ).all()
    best: tuple[float, int] | None = None
    for other_id, body in rows:
        score = similarity(ticket.body, body)
        if score >= SIMILARITY and (best is None or score > best[0]):
            best = (score, other_id)
    return session.get(Ticket, best[1]) if best else None


def flag_possible_duplicate(session: Session, ticket: Ticket, *, now: datetime) -> Ticket | None:
    from tracker.services.tickets import record_event

    other = find_possible_duplicate(session, ticket)
    if other is None:
        return None
    ticket.possible_duplicate_of_id = other.id
    record_event(
        session,
        ticket,
        "ticket.possible_duplicate",
        actor="系统",
        now=now,
        data={"of": other.number, "of_id": other.id, "of_channel": other.channel},
    )
    return other
