"""Reference data that `tracker db upgrade` loads once (idempotent): the holiday calendar."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tracker.calendar.store import load_bundled_calendar


def load_reference_data(session: Session) -> str:
    loaded = load_bundled_calendar(session)
    return f"节假日数据：{loaded}"
