"""Read side: queues and ticket lists, always restricted to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload

from tracker.access import visible_tickets
from tracker.models import Ticket, TicketEvent, User


@dataclass(frozen=True)
class Page:
    tickets: list[Ticket]
    next_cursor: int | None


def ticket_list_query(user: User) -> Select:
    return select(Ticket).where(visible_tickets(user))


def list_tickets(session: Session, user: User, *, before_id: int | None = None, limit: int = 50) -> Page:
    """Newest first, keyset-paginated on id (no OFFSET: deep pages cost the same as the first)."""
    query = ticket_list_query(user).options(selectinload(Ticket.department), selectinload(Ticket.assignee))
    if before_id is not None:
        query = query.where(Ticket.id < before_id)
    rows = list(session.scalars(query.order_by(Ticket.id.desc()).limit(limit + 1)))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return Page(rows[:limit], next_cursor)


def count_by_status(session: Session, user: User) -> dict[str, int]:
    rows = session.execute(
        select(Ticket.status, func.count()).where(visible_tickets(user)).group_by(Ticket.status)
    )
    return dict(rows.all())


def timeline(session: Session, ticket: Ticket) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .options(selectinload(TicketEvent.actor))
            .order_by(TicketEvent.occurred_at, TicketEvent.id)
        )
    )
