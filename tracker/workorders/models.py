"""The rows of the 12345 work-order cycle (issue 19). Each is appended by one service module of this
package; none is ever deleted (they are the assessment's numerators and denominators).

- `SendBack`       退单 / 派单异议: the unit asks the platform to take an order back; the platform decides.
- `Revisit`        回访: the platform's (or the office's) call-back to the citizen and its result.
- `Redo`           重办: an order handled again, with a new deadline, after an unsatisfied or unresolved 回访.
- `Supervision`    督办 / 催办 aimed at a unit, with its own deadline and answer.
- `CoHandling`     主办 / 协办: a child order of a co-handling unit under the lead unit's order.
- `RepeatLink`     重复件: an order linked to an earlier one of the same citizen or place on the same matter.
- `HandlingRecord` 办理情况: the internal record (who was contacted, when, by which number, evidence),
                   kept apart from the public reply (`Ticket.reply_text`).
- `ReplyCheckRules` the office's rules of the check before a public reply leaves and of repeat linking
                   (one row, edited by administrators; migration 0038).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.orm import Base, int_pk
from tracker.people.models import Department, User
from tracker.pii.cipher import EncryptedText
from tracker.tickets.models import Ticket

# The city's code list for a send-back (派单异议); the labels are what the platform and the staff see.
SEND_BACK_REASONS = {
    "not_our_duty": "非本单位职责",
    "incomplete": "信息不全",
    "duplicate": "重复件",
    "wrong_area": "非本辖区",
    "other": "其他",
}
SEND_BACK_STATES = ("pending", "accepted", "refused", "withdrawn")
REVISIT_RESULTS = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
REVISIT_SOURCES = ("platform", "staff")
SUPERVISION_KINDS = {"supervise": "督办", "urge": "催办"}
SUPERVISION_STATES = ("open", "answered")
REPEAT_BASES = {"same_citizen": "同一诉求人", "same_place": "同一地点"}


def _one_of(column: str, values) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"{column}_known")


class SendBack(Base):
    """退单申请: a reason from the code list, an optional suggested unit, the platform's decision.

    A refused send-back returns the order to the unit with its clocks untouched; an accepted one returns
    the order to the platform (status 已退回) and counts for 回退率.
    """

    __tablename__ = "send_backs"
    __table_args__ = (
        _one_of("reason_code", SEND_BACK_REASONS),
        _one_of("state", SEND_BACK_STATES),
        Index("ix_send_backs_department_requested", "department_id", "requested_at"),
    )

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))  # the unit that asks
    reason_code: Mapped[str] = mapped_column(String(32))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    suggested_unit: Mapped[str | None] = mapped_column(String(200))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime | None]
    decided_by_label: Mapped[str | None] = mapped_column(String(200))  # the platform, or an office user
    decision_note: Mapped[str | None] = mapped_column(Text)

    ticket: Mapped[Ticket] = relationship()
    department: Mapped[Department] = relationship()
    requested_by: Mapped[User | None] = relationship()


class Revisit(Base):
    """回访: when, which number was called, the result, whether it was resolved, the citizen's words.

    `external_ref` is the platform's id of the call-back: an import delivered twice records it once.
    """

    __tablename__ = "revisits"
    __table_args__ = (
        UniqueConstraint("ticket_id", "external_ref"),
        _one_of("result", REVISIT_RESULTS),
        _one_of("source", REVISIT_SOURCES),
        Index("ix_revisits_visited", "visited_at"),
    )

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    visited_at: Mapped[datetime]
    phone: Mapped[str | None] = mapped_column("phone_ct", EncryptedText("revisits.phone"))
    result: Mapped[str] = mapped_column(String(32))
    is_resolved: Mapped[bool | None]
    # 响应: the citizen confirms the unit contacted them (the 接诉即办 response rate).
    was_contacted: Mapped[bool | None]
    citizen_words: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))
    external_ref: Mapped[str | None] = mapped_column(String(128))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]

    ticket: Mapped[Ticket] = relationship()


class Redo(Base):
    """重办: the order is handled again with a new deadline (`due_at`), because of `revisit_id` or by hand."""

    __tablename__ = "redos"
    __table_args__ = (Index("ix_redos_redone", "redone_at"),)

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    revisit_id: Mapped[int | None] = mapped_column(ForeignKey("revisits.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    redone_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    ordered_by_label: Mapped[str] = mapped_column(String(200))

    ticket: Mapped[Ticket] = relationship()


class Supervision(Base):
    """督办 / 催办 aimed at a unit (`department_id`), with its own deadline, answer and escalation."""

    __tablename__ = "supervisions"
    __table_args__ = (
        UniqueConstraint("ticket_id", "external_ref"),
        _one_of("kind", SUPERVISION_KINDS),
        _one_of("state", SUPERVISION_STATES),
        Index("ix_supervisions_department_issued", "department_id", "issued_at"),
    )

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    issued_by_label: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    external_ref: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="open")
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None]
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    escalated_at: Mapped[datetime | None]  # the unit's leader was told it is overdue

    ticket: Mapped[Ticket] = relationship()
    department: Mapped[Department] = relationship()


class CoHandling(Base):
    """协办: `child_ticket_id` is the co-handling unit's own order under the lead order `parent_ticket_id`."""

    __tablename__ = "co_handlings"
    __table_args__ = (UniqueConstraint("parent_ticket_id", "department_id"),)

    id: Mapped[int_pk]
    parent_ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    child_ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))  # the co-handling unit
    added_at: Mapped[datetime]
    added_by_label: Mapped[str] = mapped_column(String(200))  # 加派 by the platform or the lead unit

    parent: Mapped[Ticket] = relationship(foreign_keys=[parent_ticket_id])
    child: Mapped[Ticket] = relationship(foreign_keys=[child_ticket_id])
    department: Mapped[Department] = relationship()


class RepeatLink(Base):
    """重复件: `ticket_id` repeats `repeat_of_id` (same citizen or same place, same matter, within N days).

    Never deleted: staff who find it is not a repeat set `dismissed_at` (event `repeat.dismissed`), and
    the assessment counts only links not dismissed (tracker.workorders.repeats.repeat_ticket_ids).
    """

    __tablename__ = "repeat_links"
    __table_args__ = (
        _one_of("basis", REPEAT_BASES),
        CheckConstraint("ticket_id <> repeat_of_id", name="not_itself"),
    )

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), unique=True)
    repeat_of_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    basis: Mapped[str] = mapped_column(String(16))
    linked_at: Mapped[datetime]
    linked_by_label: Mapped[str] = mapped_column(String(200))
    dismissed_at: Mapped[datetime | None]  # marked "not a repeat" by staff (migration 0038)
    dismissed_by_label: Mapped[str | None] = mapped_column(String(200))


# The same-place look-up of a new order (tracker.workorders.repeats): earlier orders at the same 事发地址
# within the window, read from this index alone. Partial: most orders of other channels have no address.
Index(
    "ix_tickets_incident_address_received",
    Ticket.__table__.c.incident_address,
    Ticket.__table__.c.received_at,
    postgresql_where=text("incident_address IS NOT NULL"),
    sqlite_where=text("incident_address IS NOT NULL"),
)


class HandlingRecord(Base):
    """办理情况: one entry of the internal record; never sent to the citizen or the platform's public page."""

    __tablename__ = "handling_records"

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    contacted_at: Mapped[datetime | None]
    contact_method: Mapped[str | None] = mapped_column(String(32))  # 电话 / 上门 / 短信 / 现场
    contact_number: Mapped[str | None] = mapped_column(
        "contact_number_ct", EncryptedText("handling_records.contact_number")
    )
    summary: Mapped[str] = mapped_column(Text)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime]

    recorded_by: Mapped[User] = relationship()


class ReplyCheckRules(Base):
    """The office's rules for the check before a public reply leaves (tracker.workorders.reply_check) and
    for linking repeats (tracker.workorders.repeats): one row (`id` 1), edited by administrators on
    /admin/reply-check; without it the defaults of `reply_check.ReplyCheckConfig` apply."""

    __tablename__ = "reply_check_rules"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int_pk]
    is_blocking: Mapped[bool] = mapped_column(default=False)  # refuse (not only warn) on any finding
    min_length: Mapped[int] = mapped_column(default=15)  # characters, whitespace not counted
    banned_phrases: Mapped[list[str]] = mapped_column(JSON, default=list)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)  # the channels whose replies are checked
    repeat_window_days: Mapped[int] = mapped_column(default=30)
    updated_at: Mapped[datetime | None]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
