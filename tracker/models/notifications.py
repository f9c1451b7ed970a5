"""Notifications: in-app messages, the reminder ledger, deliveries to outside channels, and the rules
(routing, topics, reminders) administrators edit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from tracker.models.base import Base, int_pk
from tracker.models.people import Department, User
from tracker.models.tickets import Deadline


class Notification(Base):
    """One message to one user: the bell shows it; outside channels get a `Delivery` each."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "read_at", "id"),)

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))  # reminder, escalation, digest, status, calendar
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(300))
    # Non-ledger messages (digest, calendar warning) are made once per key (user, day …).
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class ReminderLedger(Base):
    """A reminder that was decided on: the UNIQUE key makes "sent once" a fact, not a hope."""

    __tablename__ = "reminder_ledger"
    __table_args__ = (
        UniqueConstraint(
            "ticket_id",
            "deadline_id",
            "deadline_version",
            "threshold",
            "recipient_id",
            name="uq_reminder_ledger_key",
        ),
    )

    id: Mapped[int_pk]
    # The deadline's ticket, copied: deadline_id's foreign key guarantees it and cascades with the ticket.
    # No foreign key of its own, which the sweep would pay for with a lookup and a row lock per row.
    ticket_id: Mapped[int]
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"), index=True)
    deadline_version: Mapped[int]
    threshold: Mapped[str] = mapped_column(String(40))  # before:3, before:1, due, overdue, overdue@2026-03-05
    recipient_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]  # its notification carries dedupe_key "ledger:<id>"


class NotificationChannel(Base):
    """An outside channel an administrator configured: a group robot (DingTalk/WeCom), a generic webhook,
    or the SMS gateway. The secret (robot signing key, gateway token) is stored encrypted."""

    __tablename__ = "notification_channels"

    id: Mapped[int_pk]
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # webhook, dingtalk, wecom, sms
    url: Mapped[str] = mapped_column(String(500))
    secret_encrypted: Mapped[str | None] = mapped_column(String(500))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))  # None: every department
    # Which notification kinds go to this channel; empty means all.
    kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    department: Mapped[Department | None] = relationship()


class Delivery(Base):
    """One attempt-tracked delivery of a notification over one outside channel.

    pending → sending (leased) → sent, or back to pending with a backoff, or failed after the maximum.
    A crash while sending leaves the row leased; once the lease runs out the row is sent again.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_deliveries_status_created", "status", "created_at"),
    )

    id: Mapped[int_pk]
    key: Mapped[str] = mapped_column(String(120), unique=True)  # notification:medium:target
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    medium: Mapped[str] = mapped_column(String(16))  # email, webhook, dingtalk, wecom, sms
    # The notification's user, copied for per-user media (its foreign key is the notification's); no
    # foreign key of its own, which every planned delivery would pay for.
    user_id: Mapped[int | None]
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notification_channels.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    notification: Mapped[Notification] = relationship()
    channel: Mapped[NotificationChannel | None] = relationship()


class ReminderRule(Base):
    """When to remind, per channel and deadline kind (None matches any). The most specific active rule wins."""

    __tablename__ = "reminder_rules"

    id: Mapped[int_pk]
    channel: Mapped[str | None] = mapped_column(String(32))
    deadline_kind: Mapped[str | None] = mapped_column(String(32))
    days_before: Mapped[list[int]] = mapped_column(JSON, default=list)  # working days; 0 = the due day
    is_escalating: Mapped[bool] = mapped_column(default=True)  # overdue → supervisor
    is_repeating: Mapped[bool] = mapped_column(default=True)  # then daily to supervisor and office
    is_active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class RoutingRule(Base):
    """Route a new ticket to a department when channel, 诉求分类 and keywords match (lowest priority first)."""

    __tablename__ = "routing_rules"

    id: Mapped[int_pk]
    priority: Mapped[int] = mapped_column(default=100)
    channel: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(200))  # substring of Ticket.category
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)  # any one matches
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]

    department: Mapped[Department] = relationship()


class TopicRule(Base):
    """Tag a ticket with `topic` when any keyword appears among its words (jieba segmentation)."""

    __tablename__ = "topic_rules"

    id: Mapped[int_pk]
    topic: Mapped[str] = mapped_column(String(64), unique=True)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime]


# The sweep's index: the next check of the deadlines in both open states it visits (running, and
# breached for the daily overdue repeats).
Index(
    "ix_deadlines_next_check_open",
    Deadline.next_check_at,
    postgresql_where=text("state IN ('running', 'breached')"),
    sqlite_where=text("state IN ('running', 'breached')"),
)


@event.listens_for(Session, "before_flush")
def _reschedule_reminders(session, _flush_context, _instances) -> None:
    """Keep Deadline.next_check_at on the first reminder threshold whenever a deadline changes."""
    from tracker.reminders import reschedule_changed_deadlines

    reschedule_changed_deadlines(session)


__all__ = [
    "Delivery",
    "Notification",
    "NotificationChannel",
    "ReminderLedger",
    "ReminderRule",
    "RoutingRule",
    "TopicRule",
]
