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

from tracker.intake.models import adapter_state
from tracker.pii.cipher import blinds
from tracker.tickets.history import record_event
from tracker.tickets.models import Contact, Ticket

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


def _live(ticket: Ticket, window: timedelta) -> tuple:
    return (
        Ticket.id != ticket.id,
        Ticket.merged_into_id.is_(None),
        Ticket.received_at >= ticket.received_at - window,
        Ticket.received_at <= ticket.received_at + window,
    )


def find_phone_duplicate(session: Session, ticket: Ticket, *, window: timedelta = WINDOW) -> Ticket | None:
    """The earliest other live ticket within the window from the same phone number (an indexed look-up)."""
    phone = ticket.contact.phone if ticket.contact is not None else None
    if not phone:
        return None
    return session.scalar(
        select(Ticket)
        .join(Contact, Ticket.contact_id == Contact.id)
        # By the phone's blind index (the number is encrypted), under each configured key.
        .where(Contact.phone_bidx.in_(blinds("phone", phone)), *_live(ticket, window))
        .order_by(Ticket.received_at, Ticket.id)
        .limit(1)
    )


def find_text_duplicate(
    session: Session, ticket: Ticket, *, window: timedelta = WINDOW, only_earlier: bool = False
) -> Ticket | None:
    """The most similar of the recent live tickets within the window, if similar enough."""
    query = select(Ticket.id, Ticket.body).where(*_live(ticket, window))
    if only_earlier:
        query = query.where(Ticket.id < ticket.id)
    rows = session.execute(query.order_by(Ticket.received_at.desc()).limit(TEXT_CANDIDATES)).all()
    best: tuple[float, int] | None = None
    for other_id, body in rows:
        score = similarity(ticket.body, body)
        if score >= SIMILARITY and (best is None or score > best[0]):
            best = (score, other_id)
    return session.get(Ticket, best[1]) if best else None


def find_possible_duplicate(
    session: Session, ticket: Ticket, *, window: timedelta = WINDOW, by_text: bool = True
) -> Ticket | None:
    """Same phone first; then (with `by_text`) very similar text."""
    match = find_phone_duplicate(session, ticket, window=window)
    if match is None and by_text:
        match = find_text_duplicate(session, ticket, window=window)
    return match


def _flag(session: Session, ticket: Ticket, other: Ticket, *, now: datetime, reason: str) -> None:
    ticket.possible_duplicate_of_id = other.id
    record_event(
        session,
        ticket,
        "ticket.possible_duplicate",
        actor="系统",
        now=now,
        data={"of": other.number, "of_id": other.id, "of_channel": other.channel, "by": reason},
    )


def flag_possible_duplicate(
    session: Session, ticket: Ticket, *, now: datetime, by_text: bool = True
) -> Ticket | None:
    """Point a new ticket at an earlier possible duplicate (phone, then text) and record why."""
    other = find_phone_duplicate(session, ticket)
    reason = "phone"
    if other is None and by_text:
        other, reason = find_text_duplicate(session, ticket), "text"
    if other is not None:
        _flag(session, ticket, other, now=now, reason=reason)
    return other


SCAN_NAME = "duplicate-scan"


def scan_similar_text(session: Session, *, now: datetime, limit: int = 500) -> int:
    """Compare the tickets that arrived since the last scan with earlier ones by text; flag the similar.

    The beat task for the high-volume paths (the 12345 push, imports), which flag only by phone inline.
    """
    state = adapter_state(session, SCAN_NAME)
    after = int((state.cursor or {}).get("ticket_id", 0))
    tickets = session.scalars(select(Ticket).where(Ticket.id > after).order_by(Ticket.id).limit(limit)).all()
    flagged = 0
    for ticket in tickets:
        if ticket.possible_duplicate_of_id is None and ticket.merged_into_id is None:
            other = find_text_duplicate(session, ticket, only_earlier=True)
            if other is not None:
                _flag(session, ticket, other, now=now, reason="text")
                flagged += 1
        after = ticket.id
    state.cursor = {"ticket_id": after}
    state.last_success_at = now
    session.flush()
    return flagged
