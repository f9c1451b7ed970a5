"""Letters issued on a ticket, their numbers (文号) and the templates the office uploaded.

A letter's file is one of the ticket's attachments (`attachments`, purpose "letter"); the row says which
letter it is, what it was issued with, and how and when it was served (送达方式, 送达日期).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.orm import Base, int_pk


class LetterCounter(Base):
    """The last 文号 handed out per year and letter kind. One statement increments it and returns the new
    value (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), so two issuers never read the same number; the
    unique (year, kind, seq) of `letters` makes that a fact of the schema too."""

    __tablename__ = "letter_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class Letter(Base):
    __tablename__ = "letters"
    __table_args__ = (UniqueConstraint("year", "kind", "seq"),)

    id: Mapped[int_pk]
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(64))  # reply letters: the annual report's row
    year: Mapped[int]
    seq: Mapped[int]
    doc_number: Mapped[str] = mapped_column(String(64), unique=True)  # 文号 as printed
    # What the letter was issued with besides the ticket (补正 items, reply text, fee inputs, third party…):
    # serving a 补正 notice passes the same notice and deadline to the door, so the letter and the clock agree.
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attachment_id: Mapped[int] = mapped_column(ForeignKey("attachments.id"))
    template_id: Mapped[int | None] = mapped_column(ForeignKey("letter_templates.id"))  # None: built-in
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime]
    served_via: Mapped[str | None] = mapped_column(String(32))  # 送达方式 (tracker.letters.service.SERVICE)
    served_on: Mapped[date | None] = mapped_column(Date)  # 送达日期
    served_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    served_at: Mapped[datetime | None]  # when the service was recorded


class LetterTemplate(Base):
    """A DOCX template the office uploaded for one kind; the active one replaces the built-in template.
    Uploads are kept (never overwritten), so any issued letter names the template it came from."""

    __tablename__ = "letter_templates"
    __table_args__ = (
        Index(
            "ix_letter_templates_active_kind",
            "kind",
            unique=True,
            postgresql_where=text("is_active"),
            sqlite_where=text("is_active"),
        ),
    )

    id: Mapped[int_pk]
    kind: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime]
