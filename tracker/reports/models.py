"""The annual report's registers: proactive disclosure figures, review/litigation cases, report texts.

Section 二 of the report and the seed's "published items by outlet" come from `RegisterFigure` rows that
the office keeps per year and department; section 四 from `ReviewCase` rows linked to the disclosure
tickets they concern; sections 一/五/六 may carry edited text kept in `ReportText`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.orm import Base, int_pk
from tracker.people.models import Department
from tracker.tickets.models import Deadline, Ticket


class RegisterFigure(Base):
    """One figure of the proactive-disclosure register: (year, department, item, measure) → value.

    Items and measures are the codes of `tracker.reports.registers_spec` (e.g. item ``normative``,
    measure ``issued`` = 行政规范性文件 本年制发件数). Amounts of money are in 万元 as the table states.
    """

    __tablename__ = "register_figures"
    __table_args__ = (UniqueConstraint("year", "department_id", "item", "measure"),)

    id: Mapped[int_pk]
    year: Mapped[int] = mapped_column(index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    item: Mapped[str] = mapped_column(String(32))
    measure: Mapped[str] = mapped_column(String(32))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 4))
    note: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    department: Mapped[Department] = relationship()


class ReviewCase(Base):
    """An administrative review (复议) or lawsuit (诉讼) about a disclosure decision, linked to its ticket."""

    __tablename__ = "review_cases"
    __table_args__ = (Index("ix_review_cases_filed_on", "filed_on"),)

    id: Mapped[int_pk]
    case_number: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(32))  # review | direct_suit | suit_after_review
    result: Mapped[str] = mapped_column(String(16))  # upheld | corrected | other | pending
    filed_on: Mapped[date]
    decided_on: Mapped[date | None]
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    department: Mapped[Department] = relationship()
    ticket: Mapped[Ticket | None] = relationship()


class ReportText(Base):
    """Edited text of a narrative section (一 总体情况, 五 问题与改进, 六 其他事项) for a year and department."""

    __tablename__ = "report_texts"
    __table_args__ = (UniqueConstraint("year", "department_id", "section"),)

    id: Mapped[int_pk]
    year: Mapped[int]
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    section: Mapped[str] = mapped_column(String(16))  # overview | problems | other
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class AssessmentSnapshot(Base):
    """The 12345 assessment of a period as prepared for the office (tracker.reports.assessment_prepare).

    The unique `period` makes "prepared once" a fact of the database: the beat task that runs every
    morning inserts the row on the month's first working day, and a second run (another beat, a retry)
    meets the constraint and stops without notifying anyone again. `data` is the JSON of
    `build_assessment` at that moment; the page always computes afresh (late 回访 imports move figures).
    """

    __tablename__ = "assessment_snapshots"

    id: Mapped[int_pk]
    period: Mapped[str] = mapped_column(String(16), unique=True)
    prepared_at: Mapped[datetime]
    rules_source: Mapped[str] = mapped_column(String(500))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)


# The 12345 assessment reads a period's orders by two times no index served (migration 0039;
# docs/benchmarks.md, bench:assessment): reply deadlines falling due in the period (办结及时率), with what
# the rate needs in the index itself on PostgreSQL, so a month is an index-only range of ~170,000 entries
# instead of a scan of every deadline; and orders closed in the period (重办率). Both are partial: the
# sign-for and other deadlines, and open orders, are not in them. A third covers the sign-for deadline.
Index(
    "ix_deadlines_reply_due_met",
    Deadline.due_at,
    postgresql_include=["ticket_id", "met_at", "state"],
    postgresql_where=text("kind = 'reply'"),
    sqlite_where=text("kind = 'reply'"),
)
# 签收及时率 looks up each dispatched order's sign deadline: covering, the look-up never reads the heap.
Index(
    "ix_deadlines_sign_ticket",
    Deadline.ticket_id,
    postgresql_include=["due_at", "met_at", "state"],
    postgresql_where=text("kind = 'sign'"),
    sqlite_where=text("kind = 'sign'"),
)
Index(
    "ix_tickets_closed_at",
    Ticket.closed_at,
    postgresql_where=text("closed_at IS NOT NULL"),
    sqlite_where=text("closed_at IS NOT NULL"),
)
