"""Retention of personal data (个人信息保护法 art. 19, 47): how long contact details are kept, per channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.orm import Base, int_pk


class RetentionPolicy(Base):
    """Anonymise a channel's contact details `years_after_close` years after its tickets end.

    One row per channel; a channel without a row uses `tracker.privacy.service.DEFAULT_RETENTION_YEARS`.
    Changes are recorded in the audit log (who, when, before → after).
    """

    __tablename__ = "retention_policies"

    id: Mapped[int_pk]
    channel: Mapped[str] = mapped_column(String(32), unique=True)
    years_after_close: Mapped[int]
    is_active: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime]
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
