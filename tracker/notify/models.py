"""Notifications: in-app messages (a reminder is its own ledger entry), deliveries to outside channels,
and the rules (routing, topics, reminders) administrators edit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.orm import Base, int_pk
from tracker.people.models import Department, User
from tracker.tickets.models import Deadline


class Notification(Base):
    """One message to one user: the bell shows it; outside channels get a `Delivery` each.

    A deadline reminder is also its own ledger entry: the UNIQUE key (deadline, deadline version,
    threshold, recipient) makes "sent once" a fact, not a hope. The sweep inserts with ON CONFLICT DO
    NOTHING and plans deliveries only for the rows it really inserted. Other messages (status changes,
    the digest, the calendar warning) leave those columns empty and are kept apart by ``dedupe_key``.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_read", "user_id", "read_at", "id"),
        Index(
            "uq_notifications_dedupe_key",
            "dedupe_key",
            unique=True,
            postgresql_where=text("dedupe_key IS NOT NULL"),
            sqlite_where=text("dedupe_key IS NOT NULL"),
        ),
        # NULLs never conflict (SQLite and PostgreSQL alike), so only reminders are constrained. The
        # deadline comes first: the sweep looks up what was already sent per deadline through it.
        Index(
            "uq_notifications_reminder",
            "deadline_id",
            "deadline_version",
            "threshold",
            "user_id",
            unique=True,
        ),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(32))  # reminder, escalation, digest, status, calendar
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(300))
    # Non-reminder messages (digest, calendar warning) are made once per key (user, day …); unique
    # among the rows that have one (uq_notifications_dedupe_key, partial: reminders add no entry).
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    read_at: Mapped[datetime | None]
    # Reminders only: the deadline (of ``ticket_id``) the reminder is about.
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id"))
    deadline_version: Mapped[int | None]
    threshold: Mapped[str | None] = mapped_column(String(40))  # before:3, due, overdue, overdue@2026-03-05
    due_at: Mapped[datetime | None]  # the due time the reminder was about

    user: Mapped[User] = relationship()


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
    # Health, for `tracker channel status` and the admin page: the last message it accepted, the last
    # refusal and the channel's own code for it (errcode, HTTP status).
    last_success_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    last_error_code: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Pacing of group robots (20 messages a minute each): the earliest moment the next message may go, and
    # the end of a throttle the robot announced (DingTalk 130101, WeCom 45009).
    next_send_at: Mapped[datetime | None]
    paused_until: Mapped[datetime | None]
    # The SMS gateway's provider and its non-secret settings: {"provider": "generic" | "aliyun" |
    # "tencent", "access_key_id" / "secret_id", "sign_name", "sdk_app_id", "region"} (docs/citizens.md).
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON)

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
    )

    id: Mapped[int_pk]
    key: Mapped[str] = mapped_column(String(120), unique=True)  # notification:medium:target
    # Either a staff notification or a message to a citizen (who is no user): exactly one is set.
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    citizen_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("citizen_messages.id", ondelete="CASCADE"), index=True
    )
    medium: Mapped[str] = mapped_column(String(16))  # email, webhook, dingtalk, wecom, sms
    # The notification's user, copied for per-user media.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    channel_id: Mapped[int | None] = mapped_column(ForeignKey("notification_channels.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    notification: Mapped[Notification | None] = relationship()
    channel: Mapped[NotificationChannel | None] = relationship()


class CitizenMessage(Base):
    """One message to the citizen behind a ticket (受理, 补正, 延期, 答复, 回访 …) over one medium.

    The text is rendered from the office's template when the event is handled and kept as sent, so the
    ticket page shows what the citizen received. The UNIQUE key (outbox message, kind, medium) makes
    "sent once" a fact: a re-delivered event finds its row and plans nothing. The sending itself is a
    `Delivery` row like any other (one machinery: lease, backoff, failure, health).
    """

    __tablename__ = "citizen_messages"

    id: Mapped[int_pk]
    key: Mapped[str] = mapped_column(String(120), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # receipt, correction, extension, reply, revisit, recovery
    medium: Mapped[str] = mapped_column(String(16))  # sms, email
    recipient: Mapped[str] = mapped_column(String(255))  # the phone number or e-mail address used
    subject: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    # The template's variables, for gateways that take a template code and its parameters (Aliyun, Tencent).
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]


class MessageTemplate(Base):
    """The office's own wording of a citizen message, per kind and medium (defaults in
    tracker.citizens.messages). `gateway_template` is the template code the SMS gateway approved
    (Aliyun TemplateCode, Tencent TemplateId); the gateway fills it with `params`."""

    __tablename__ = "message_templates"
    __table_args__ = (UniqueConstraint("kind", "medium"),)

    id: Mapped[int_pk]
    kind: Mapped[str] = mapped_column(String(16))
    medium: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)
    gateway_template: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


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


__all__ = [
    "CitizenMessage",
    "Delivery",
    "MessageTemplate",
    "Notification",
    "NotificationChannel",
    "ReminderRule",
    "RoutingRule",
    "TopicRule",
]
