"""The dashboard's own data: saved filters, canned replies, attachments, approvals and the search index."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.orm import Base, int_pk
from tracker.people.models import User
from tracker.tickets.models import Deadline, Ticket

# Queues sort tickets by the due time of their running reply deadline. Most deadlines are long met; a partial
# index over the open reply deadlines only, in (due_at, ticket_id) order, serves "sort by due time" with
# keyset pagination without wading through the closed years.
# (Two inequalities, not IN (…): PostgreSQL proves a query's clauses imply the index predicate when they are
# the same simple comparisons, which it does not manage for an IN list against the stored ANY(ARRAY[…]).)
# It covers the state, as the assessment's index of every reply deadline does (tracker/reports/models.py):
# without it PostgreSQL sorted the queues by that one, index-only, and read past every met deadline
# (migration 0040).
OPEN_REPLY = "kind = 'reply' AND state <> 'met' AND state <> 'cancelled'"
Index(
    "ix_deadlines_open_reply_due",
    Deadline.due_at,
    Deadline.ticket_id,
    postgresql_include=["state"],
    postgresql_where=text(OPEN_REPLY),
    sqlite_where=text(OPEN_REPLY),
)


class SavedFilter(Base):
    """A user's named queue filter (the query string of a queue page)."""

    __tablename__ = "saved_filters"

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class CannedReply(Base):
    """A reply template per channel and request type (answers staff reuse every day)."""

    __tablename__ = "canned_replies"

    id: Mapped[int_pk]
    channel: Mapped[str | None] = mapped_column(String(32))
    request_type: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str | None] = mapped_column(String(64))  # suggested disclosure outcome
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class Attachment(Base):
    """A file attached to a ticket (a reply's enclosures). The bytes live under instance/attachments."""

    __tablename__ = "attachments"

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))  # as uploaded, shown escaped
    stored_name: Mapped[str] = mapped_column(String(128), unique=True)  # random, safe on any filesystem
    content_type: Mapped[str] = mapped_column(String(128))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32), default="reply")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]


class Approval(Base):
    """A request that needs a supervisor: an extension of a deadline, or a reply that needs sign-off."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_state_department", "state", "department_id"),)

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    kind: Mapped[str] = mapped_column(String(16))  # extension / reply
    state: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending / approved / refused / superseded
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class TicketSearch(Base):
    """The full-text index of a ticket's subject and body, segmented by jieba into space-separated words.

    PostgreSQL searches `search_vector` (to_tsvector('simple', terms), GIN index); SQLite searches an FTS5
    table over `terms` kept in step by triggers (created by the migration, not modelled here).
    """

    __tablename__ = "ticket_search"
    __table_args__ = (Index("ix_ticket_search_vector", "search_vector", postgresql_using="gin"),)

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    terms: Mapped[str] = mapped_column(Text)
    search_vector: Mapped[str | None] = mapped_column(
        Text().with_variant(postgresql.TSVECTOR(), "postgresql")
    )
