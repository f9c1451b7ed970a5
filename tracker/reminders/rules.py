"""The reminder rules administrators edit (which thresholds, escalation, repeats per channel and deadline
kind), as this process's copy keyed by the reference stamp, and the one function that says when a deadline
is first looked at again: `first_check`, used by every writer of a deadline (tracker.deadlines).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import reference
from tracker.calendar.days import WorkCalendar
from tracker.notify.models import ReminderRule
from tracker.reference import Stamp
from tracker.reminders.schedule import RuleSpec, first_check_at, rule_for

log = logging.getLogger(__name__)


def active_rules(session: Session, stamp: Stamp | None = None) -> tuple[RuleSpec, ...]:
    """Return the active reminder rules (kept per process until the reference stamp changes)."""
    return reference.cached(
        stamp or reference.current_stamp(session), "reminder rules", lambda: _read_rules(session)
    )


def _read_rules(session: Session) -> tuple[RuleSpec, ...]:
    return tuple(
        RuleSpec(
            days_before=tuple(int(n) for n in row.days_before or ()),
            is_escalating=row.is_escalating,
            is_repeating=row.is_repeating,
            channel=row.channel,
            deadline_kind=row.deadline_kind,
        )
        for row in session.scalars(
            select(ReminderRule).where(ReminderRule.is_active).order_by(ReminderRule.id)
        )
    )


def save_reminder_rule(
    session: Session,
    *,
    channel: str | None,
    deadline_kind: str | None,
    days_before: Sequence[int],
    is_escalating: bool,
    is_repeating: bool,
    now: datetime,
    actor_id: int | None = None,
):
    """Create or replace the active rule for (channel, kind); returns the row."""
    RuleSpec(tuple(days_before), is_escalating, is_repeating)  # validates
    existing = session.scalar(
        select(ReminderRule).where(
            ReminderRule.is_active,
            ReminderRule.channel.is_(None) if channel is None else ReminderRule.channel == channel,
            ReminderRule.deadline_kind.is_(None)
            if deadline_kind is None
            else ReminderRule.deadline_kind == deadline_kind,
        )
    )
    row = existing or ReminderRule(channel=channel, deadline_kind=deadline_kind)
    row.days_before = sorted({int(n) for n in days_before}, reverse=True)
    row.is_escalating = is_escalating
    row.is_repeating = is_repeating
    row.is_active = True
    row.updated_at = now
    row.updated_by_id = actor_id
    session.add(row)
    session.flush()
    return row


def first_check(
    due_at: datetime | None,
    state: str,
    channel: str,
    kind: str,
    rules: Sequence[RuleSpec],
    calendar: WorkCalendar,
) -> datetime | None:
    """When the sweep first looks at an open deadline again: its first reminder threshold (None when the
    deadline is not running or breached, or has no due time). Should the schedule fail to compute (a
    calendar year missing at the threshold), the due time itself, so the deadline is never forgotten."""
    if state not in ("running", "breached") or due_at is None:
        return None
    try:
        return first_check_at(due_at, rule_for(rules, channel, kind), calendar)
    except Exception:
        log.warning("reminder schedule fell back to the due time", exc_info=True)
        return due_at
