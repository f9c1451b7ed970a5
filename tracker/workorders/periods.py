"""The periods of the 12345 work-order cycle that are not a ticket's own deadline rows — a co-handling
unit's answer to the lead unit (协办), a unit's answer to a 督办 — computed with the same versioned
policies, calendar and engine as every deadline (tracker.deadlines), so a period is explained the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from tracker.calendar.store import load_calendar
from tracker.clock import local
from tracker.deadlines.engine import DeadlineInput, compute_due, default_end_of_day
from tracker.deadlines.policies import policies_for, select_policy
from tracker.errors import CalendarYearMissing, ValidationError
from tracker.tickets.models import Ticket


class Period(NamedTuple):
    due_at: datetime | None  # None: the calendar year is not loaded (never guessed)
    explanation: str
    policy: str  # code@version, as a deadline row names its rule


def period_due(session: Session, ticket: Ticket, kind: str, *, starts_at: datetime) -> Period:
    """The due time of a `kind` period (policies.COHANDLING, policies.SUPERVISION) of `ticket` that starts
    at `starts_at`, under the policy in force that day (an administrator's override wins), explained."""
    policy = select_policy(
        policies_for(session),
        channel=ticket.channel,
        kind=kind,
        received_on=local(starts_at).date(),
        request_type=ticket.request_type,
        urgency=ticket.urgency,
    )
    if policy is None:
        return Period(None, "", "")
    name = f"{policy.code}@{policy.version}"
    try:
        result = compute_due(
            DeadlineInput(policy=policy, starts_at=starts_at),
            load_calendar(session),
            end_of_day=default_end_of_day(),
        )
    except CalendarYearMissing as missing:
        return Period(None, f"{missing.message}，暂无法计算截止时间", name)
    return Period(result.due_at, f"{policy.legal_basis}：{result.explanation}", name)


def aware_due(due_at: datetime | None, *, field: str) -> datetime | None:
    """A due time the platform or the office gives (协办时限, 督办时限) must say its time zone."""
    if due_at is not None and due_at.tzinfo is None:
        raise ValidationError("时限缺少时区", fields={field: "缺少时区"})
    return due_at
