"""The one place the product asks what time it is, so tests can inject a clock."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def local(moment: datetime) -> datetime:
    """Return an aware moment in business time (Asia/Shanghai), for display and day arithmetic."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every moment in the tracker is timezone-aware")
    return moment.astimezone(BUSINESS_TZ)


def local_date(moment: datetime) -> date:
    return local(moment).date()


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: every moment in the tracker is timezone-aware")
    return moment.astimezone(UTC)
