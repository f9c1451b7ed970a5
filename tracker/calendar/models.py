"""The holiday calendar as data: days off and make-up working days, per year, with their source."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.orm import Base


class HolidayDay(Base):
    """A day that differs from the Monday-to-Friday default: `holiday` (day off) or `workday` (调休上班)."""

    __tablename__ = "holiday_days"

    day: Mapped[date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(200))


class CalendarYear(Base):
    """A year whose schedule has been loaded. A year without a row here is refused, never guessed."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(200))
    loaded_at: Mapped[datetime]
