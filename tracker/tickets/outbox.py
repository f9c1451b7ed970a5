"""The transactional outbox: messages written with the change, relayed to the broker after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.ops.logs import current_request_id
from tracker.orm import Base, int_pk


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        # The relay scans only what is unpublished.
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
            sqlite_where=text("published_at IS NULL"),
        ),
    )

    id: Mapped[int_pk]
    topic: Mapped[str] = mapped_column(String(64))  # e.g. ticket.created, ticket.status_changed
    event_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_events.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    # The request (or task) that wrote the row: the relay sends it on in the task's headers, so the
    # consumers' log lines carry the id of the request that caused them.
    request_id: Mapped[str | None] = mapped_column(String(128), default=current_request_id)


class ProcessedMessage(Base):
    """Consumers record what they handled: at-least-once delivery, exactly-once effect."""

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime]
