"""Tickets, the people behind them, their append-only history and their deadlines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, event, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.orm import Base, int_pk
from tracker.people.models import Department, User
from tracker.pii.cipher import INDEX_LENGTH, EncryptedText, contact_indexes


class Contact(Base):
    """A citizen's or applicant's personal data, kept apart so it can be masked and anonymised."""

    __tablename__ = "contacts"
    # The blind indexes are indexed only where there is a value: most orders have no ID number or e-mail,
    # and a push then writes no entry for them. Every look-up compares with a value, which implies NOT
    # NULL, so both databases use these partial indexes for it (EXPLAIN: tests/privacy/test_encryption.py).
    __table_args__ = tuple(
        Index(
            f"ix_contacts_{name}_bidx",
            f"{name}_bidx",
            postgresql_where=text(f"{name}_bidx IS NOT NULL"),
            sqlite_where=text(f"{name}_bidx IS NOT NULL"),
        )
        for name in ("phone", "id_number", "email")
    )

    id: Mapped[int_pk]
    name: Mapped[str | None] = mapped_column(String(200), index=True)  # the search's exact-name look-up
    # Encrypted at rest (tracker.pii, docs/security.md): the attributes read and take the plain values,
    # the `*_ct` columns hold only ciphertext. Looked up by the blind indexes below, never compared.
    phone: Mapped[str | None] = mapped_column("phone_ct", EncryptedText("contacts.phone"))
    email: Mapped[str | None] = mapped_column("email_ct", EncryptedText("contacts.email"))
    address: Mapped[str | None] = mapped_column("address_ct", EncryptedText("contacts.address"))
    id_type: Mapped[str | None] = mapped_column(String(32))
    id_number: Mapped[str | None] = mapped_column("id_number_ct", EncryptedText("contacts.id_number"))
    is_confidential: Mapped[bool] = mapped_column(default=False)
    anonymised_at: Mapped[datetime | None]
    # The citizen asked for no more SMS / e-mail about their tickets (the link in every message).
    notify_opt_out_at: Mapped[datetime | None]
    # HMAC-SM3 of the normalised phone / ID number / e-mail (tracker.pii.cipher.blind), kept by the flush
    # hook below and by the importer's rows: the duplicate look-up, the privacy requests and the search
    # find a person by these indexes.
    phone_bidx: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    id_number_bidx: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))
    email_bidx: Mapped[str | None] = mapped_column(String(INDEX_LENGTH))


@event.listens_for(Contact, "before_insert")
@event.listens_for(Contact, "before_update")
def _keep_blind_indexes(_mapper, _connection, contact: Contact) -> None:
    """Every ORM write of a contact carries the indexes of its current values (under the current key)."""
    contact.phone_bidx, contact.id_number_bidx, contact.email_bidx = contact_indexes(
        contact.phone, contact.id_number, contact.email
    )


class TicketNumberAllocation(Base):
    """Ticket numbers: the database hands out the next id, never read-then-write.

    On PostgreSQL the identity column is a sequence; on SQLite, AUTOINCREMENT. A ticket opened one at a
    time inserts a row; the bulk importer on PostgreSQL draws its numbers from the sequence without rows
    (tracker.workflow.batch_writer._allocate_numbers) — the sequence alone makes each number unique.
    """

    __tablename__ = "ticket_number_allocations"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int_pk]


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("channel", "external_ref"),
        # The search finds a ticket by the platform's reference alone (the constraint needs the channel).
        Index("ix_tickets_external_ref", "external_ref"),
        Index("ix_tickets_department_status", "department_id", "status"),
        Index("ix_tickets_assignee_status", "assignee_id", "status"),
        Index("ix_tickets_channel_received", "channel", "received_at"),
        # Section 三 of the annual report reads a year of applications from this index alone on PostgreSQL
        # (an index-only scan of the columns it needs), not from the heap pages of every other ticket.
        Index(
            "ix_tickets_applications_received",
            "received_at",
            postgresql_include=[
                "id",
                "channel",
                "applicant_type",
                "status",
                "outcome",
                "history_outcome",
                "status_changed_at",
                "updated_at",
                "department_id",
            ],
            postgresql_where=text("channel = 'disclosure'"),
            sqlite_where=text("channel = 'disclosure'"),
        ),
        # Section 三 reads from their history the applications changed after the end of the year; this
        # index finds them without reading the year's other applications.
        Index(
            "ix_tickets_applications_changed",
            "status_changed_at",
            postgresql_where=text("channel = 'disclosure'"),
            sqlite_where=text("channel = 'disclosure'"),
        ),
        # The interaction figures read merged applications apart from the scan of the unmerged tickets
        # (tracker.reports.interactions.ticket_figures); this index finds a period's merged tickets.
        Index(
            "ix_tickets_merged_received",
            "received_at",
            postgresql_where=text("merged_into_id IS NOT NULL"),
            sqlite_where=text("merged_into_id IS NOT NULL"),
        ),
        # The top topics count the few tickets with several topics from ticket_topics (the rest from
        # `topic_label_id`): this index finds a year of them without reading the other tickets.
        Index(
            "ix_tickets_several_topics_received",
            "received_at",
            postgresql_where=text("has_several_topics"),
            sqlite_where=text("has_several_topics"),
        ),
    )

    id: Mapped[int_pk]
    number: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_ref: Mapped[str | None] = mapped_column(String(128))
    request_type: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(200))  # 诉求分类
    urgency: Mapped[str | None] = mapped_column(String(32))  # 紧急程度
    incident_address: Mapped[str | None] = mapped_column(String(500))  # 事发地址
    # Indexed: the phone duplicate look-up goes from the contacts with a number to their tickets.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    applicant_type: Mapped[str | None] = mapped_column(String(32))  # disclosure only
    received_via: Mapped[str | None] = mapped_column(String(32))  # 当面/邮寄/挂号信/网络/传真/平台
    arrived_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(index=True)  # legal receipt time
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(32), index=True)
    outcome: Mapped[str | None] = mapped_column(String(64))  # annual-report row key for disclosure
    reply_text: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None]  # the latest 答复 (a reopened ticket answered again moves it)
    # The first 答复, never moved: the report judges timeliness by it (issue 18, migration 0033).
    first_replied_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    satisfaction: Mapped[str | None] = mapped_column(String(16))
    # Where the rating came from: revisit (回访 by staff), portal (the citizen's 好差评), platform (import).
    satisfaction_source: Mapped[str | None] = mapped_column(String(16))
    is_resolved: Mapped[bool | None]
    is_publishable: Mapped[bool] = mapped_column(default=False)
    query_code: Mapped[str | None] = mapped_column(String(32), unique=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    linked_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    possible_duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # Channel-specific fields that no query filters on (Weibo post link, platform deadlines as sent, …).
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Facts the annual report reads, written by `tracker.reports.facts.refresh_facts` in the transaction
    # that makes them true (deadline computed, reply, status change, calendar load), so a year's report is
    # one scan of this table instead of joins over deadlines and events (issue 7).
    reply_due_at: Mapped[datetime | None]  # the `reply` deadline's due_at, extensions included
    reply_workdays: Mapped[int | None]  # working days after the receipt day up to the reply day
    status_changed_at: Mapped[datetime | None]  # applications: time of the last status event
    history_outcome: Mapped[str | None] = mapped_column(String(64))  # applications: 三 row by history
    # What the ticket counts as in the report's top topics, set by `tracker.tickets.topics.set_topic_facts`
    # whenever its topics or 诉求分类 change: its only topic, or its category when it has none (NULL when it has neither,
    # or several: those are counted from ticket_topics). The year's topics then come from the same scan
    # of this table as the interaction figures, not from a join of every ticket with its topics. Stored
    # as the label's id in `topic_labels`: the scan groups by an integer, not by text (docs/benchmarks.md).
    topic_label_id: Mapped[int | None] = mapped_column(ForeignKey("topic_labels.id"))
    has_several_topics: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    contact: Mapped[Contact | None] = relationship()
    department: Mapped[Department] = relationship()
    assignee: Mapped[User | None] = relationship()
    topics: Mapped[list[TicketTopic]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="TicketTopic.topic"
    )
    deadlines: Mapped[list[Deadline]] = relationship(
        back_populates="ticket", cascade="all, delete-orphan", order_by="Deadline.id"
    )

    @property
    def topic_names(self) -> list[str]:
        return [t.topic for t in self.topics]


class TopicLabel(Base):
    """The labels tickets count under in the top topics (topic names and 诉求分类 values), each once.

    Append-only (labels are never renamed or deleted), and a reference table: an insert gives
    `reference_stamp` a new value, so a process's copy of the dictionary (tracker.tickets.topics) is
    rebuilt when a label has been added.
    """

    __tablename__ = "topic_labels"

    id: Mapped[int_pk]
    label: Mapped[str] = mapped_column(String(200), unique=True)


class TicketTopic(Base):
    __tablename__ = "ticket_topics"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)

    ticket: Mapped[Ticket] = relationship(back_populates="topics")


def topic_facts(topics: list[str], category: str | None) -> tuple[str | None, bool]:
    """Return a ticket's (topic label, `has_several_topics`) for its topics and 诉求分类.

    The one definition in Python (`tracker.tickets.topics.set_topic_facts`, the writers of new tickets in
    tracker.workflow.opening, the generator);
    `tracker.reports.facts.refresh_topic_facts` is the same in SQL, for backfills and checks.
    """
    if len(topics) > 1:
        return None, True
    return (topics[0] if topics else category), False


class TicketEvent(Base):
    """Append-only history: every change with who, when, what, before → after.

    The timeline, the audit trail and the year-end figures are all read from here.
    """

    __tablename__ = "ticket_events"
    __table_args__ = (
        # Read per ticket (the timeline, the report); no index by kind (migration 0022: nothing read it).
        Index("ix_ticket_events_ticket_at", "ticket_id", "occurred_at"),
    )

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str | None] = mapped_column(String(200))  # for system / platform actors
    occurred_at: Mapped[datetime]
    status_before: Mapped[str | None] = mapped_column(String(32))
    status_after: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()


class Deadline(Base):
    """One named deadline of a ticket (签收, 补正告知, 答复, 第三方意见, 缴费 …).

    `version` changes on every recomputation; reminders key on it, so after an extension, a pause or a
    calendar change the reminders follow the new due time and the old ones are not re-sent.
    """

    __tablename__ = "deadlines"
    __table_args__ = (
        UniqueConstraint("ticket_id", "kind"),
        # The sweep reads what is due through ix_deadlines_next_check_open (tracker/notify/models.py),
        # the queues sort by ix_deadlines_open_reply_due (tracker/workflow/models.py). No index on due_at
        # alone (migration 0022): no query read it, and every deadline update wrote it.
    )

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    label: Mapped[str] = mapped_column(String(64))
    policy_code: Mapped[str] = mapped_column(String(64))
    policy_version: Mapped[str] = mapped_column(String(32))
    starts_on: Mapped[datetime]  # the moment the period starts (art. 201: counting begins the next day)
    due_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16), default="running")  # running/paused/met/breached/cancelled
    pauses: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    extensions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    override: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(default=1)
    explanation: Mapped[str] = mapped_column(Text, default="")
    next_check_at: Mapped[datetime | None]
    met_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]

    ticket: Mapped[Ticket] = relationship(back_populates="deadlines")
