"""A ticket's history: the one writer of its events and of the outbox rows others react to.

Every service that changes a ticket appends its TicketEvent here, in the same transaction; with `publish`,
an OutboxMessage too, which the workers relay after the commit (workers/outbox.py). It sits below the
services and the deadline engine, which both record events, so neither has to import the other for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from tracker.people.models import User
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage

Actor = User | str  # a signed-in user, or a label for the system / a platform ("12345平台")


def actor_columns(actor: Actor | None) -> tuple[int | None, str]:
    """(actor_id, actor_label) of an event: a user's id and name, or the label of the system or platform.
    The batched writer of new tickets (tracker.workflow.opening) writes its events' rows with these."""
    if isinstance(actor, User):
        return actor.id, actor.display_name
    return None, actor or "系统"


def _actor_fields(actor: Actor | None) -> dict[str, Any]:
    actor_id, actor_label = actor_columns(actor)
    return {"actor_id": actor_id, "actor_label": actor_label}


def record_event(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    actor: Actor | None,
    now: datetime,
    data: dict[str, Any] | None = None,
    status_before: str | None = None,
    status_after: str | None = None,
    publish: bool = False,
) -> TicketEvent:
    """Append an event to the ticket's history; with `publish`, also queue it in the outbox."""
    event = TicketEvent(
        ticket_id=ticket.id,
        kind=kind,
        occurred_at=now,
        status_before=status_before,
        status_after=status_after,
        data=data or {},
        **_actor_fields(actor),
    )
    session.add(event)
    session.flush()
    if publish:
        session.add(
            OutboxMessage(
                topic=kind,
                event_id=event.id,
                ticket_id=ticket.id,
                payload={"ticket_id": ticket.id, "event_id": event.id, **(data or {})},
                created_at=now,
            )
        )
    return event
