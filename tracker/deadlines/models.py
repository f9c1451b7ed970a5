"""Administrator overrides of the built-in deadline policies (`tracker.deadlines.policies.DEFAULT_POLICIES`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.orm import Base, int_pk


class DeadlinePolicyOverride(Base):
    """A local rule that replaces a default for receipts in [effective_from, effective_to).

    Rows are never edited in place once a deadline used them: a changed rule is a new row (its id is the
    policy version stored on each Deadline), so a ticket keeps the rule in force when it was received.
    """

    __tablename__ = "deadline_policy_overrides"

    id: Mapped[int_pk]
    code: Mapped[str] = mapped_column(
        String(64)
    )  # the default policy's code it replaces, e.g. "hotline.reply"
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    request_type: Mapped[str | None] = mapped_column(String(32))
    urgency: Mapped[str | None] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))  # working_days | calendar_days | clock_hours
    length: Mapped[int]
    max_extensions: Mapped[int] = mapped_column(default=0)
    max_extension_length: Mapped[int] = mapped_column(default=0)
    is_pausable: Mapped[bool] = mapped_column(default=False)
    pauses_reply: Mapped[bool] = mapped_column(default=False)
    effective_from: Mapped[date]
    effective_to: Mapped[date | None]
    legal_basis: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime]
    is_active: Mapped[bool] = mapped_column(default=True)
