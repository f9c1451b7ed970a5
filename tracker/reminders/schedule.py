"""When reminders fire: the rules, thresholds and working-hours arithmetic — pure functions of the rule, the
calendar and ``now`` (the sweep that applies them is tracker.reminders.sweep).

Reminders and escalation: when the right person hears about a deadline, exactly once, in working hours.

Pure part (`thresholds`, `outlook`, `plan`, `working_moment` …) takes the rule, the calendar and ``now``;
the sweep (`sweep_due`) applies it to the deadlines that are due, set-oriented so its cost follows the
number due.

* Default rule: 3 working days before, 1 working day before, on the due day, and when overdue. Overdue
  escalates to the department's supervisors; then, once per working day, to the supervisors and the office.
* Only in working hours on working days: a reminder that falls at night, on a weekend, a holiday or in the
  lunch break waits for the next working period (`WorkingHours`, setting TRACKER_WORKING_HOURS, by default
  09:00–17:30 Asia/Shanghai). A 调休 Saturday is a working day.
* `Deadline.next_check_at` is the next moment something may fire for the deadline's current version. The
  deadline service sets it to the first reminder threshold on every change (`tracker.reminders.rules.
  first_check`, as the planner of new tickets' deadlines does), and the sweep moves it on after each visit.
* A reminder's notification is its own ledger entry, keyed (deadline, deadline version, threshold,
  recipient): two sweeps at once, a re-delivered task or a crash cannot make a second one for the same key.
  A new version (extension, pause, restart, calendar change) gets its own keys, so reminders follow the
  new due time, and thresholds already passed before the change are not re-sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from tracker.calendar.days import WorkCalendar
from tracker.clock import BUSINESS_TZ
from tracker.config import DEFAULT_WORKING_HOURS_TEXT, WorkingHours
from tracker.errors import CalendarYearMissing, ValidationError

log = logging.getLogger(__name__)

HANDLER, ESCALATE, REPEAT = "handler", "escalate", "repeat"
OPEN_STATES_SQL = "deadlines.state IN ('running', 'breached')"  # literal, so the partial index matches


@dataclass(frozen=True)
class RuleSpec:
    """When to remind for one channel/deadline kind."""

    days_before: tuple[int, ...] = (3, 1, 0)
    is_escalating: bool = True
    is_repeating: bool = True
    channel: str | None = None
    deadline_kind: str | None = None

    def __post_init__(self) -> None:
        if any(n < 0 or n > 60 for n in self.days_before):
            raise ValidationError("提前提醒的工作日数应在 0 到 60 之间", fields={"days_before": "取值无效"})


DEFAULT_RULE = RuleSpec()


@dataclass(frozen=True)
class Threshold:
    key: str  # before:3, before:1, due, overdue, overdue@2026-03-05
    fire_at: datetime
    audience: str  # handler / escalate / repeat


# -- working hours ---------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _parse_working_hours(text: str) -> WorkingHours:
    return WorkingHours.parse(text)


def default_working_hours() -> WorkingHours:
    """Return the configured working hours (TRACKER_WORKING_HOURS, the setting `Settings.working_hours`).

    Read from the environment like `tracker.deadlines.engine.default_end_of_day`, so the flush hook that
    schedules reminders, which has no settings object, uses the same hours as the sweep.
    """
    return _parse_working_hours(os.environ.get("TRACKER_WORKING_HOURS") or DEFAULT_WORKING_HOURS_TEXT)


def is_workday(calendar: WorkCalendar, day: date) -> bool:
    try:
        return calendar.is_workday(day)
    except CalendarYearMissing:
        # Only the *sending time* falls back to Monday–Friday here; deadlines themselves are never guessed.
        return day.weekday() < 5


def _next_workday(calendar: WorkCalendar, day: date) -> date:
    day += timedelta(days=1)
    while not is_workday(calendar, day):
        day += timedelta(days=1)
    return day


# The pure date helpers below are cached: a sweep asks them the same few questions (a batch's deadlines
# share due days and mornings) thousands of times, and time-zone conversions are not free.
@lru_cache(maxsize=4096)
def _local(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=BUSINESS_TZ).astimezone(UTC)


def _morning(day: date, hours: WorkingHours) -> datetime:
    return _local(day, hours.opening)


def working_moment(moment: datetime, calendar: WorkCalendar, hours: WorkingHours | None = None) -> datetime:
    """Return ``moment`` if it is within working hours of a working day, else the next working period's start."""
    hours = hours or default_working_hours()
    here = moment.astimezone(BUSINESS_TZ)
    day = here.date()
    if is_workday(calendar, day):
        for start, end in hours.periods:
            if here.time() < start:
                return _local(day, start)
            if here.time() < end:
                return moment.astimezone(UTC)
    return _morning(_next_workday(calendar, day), hours)


@lru_cache(maxsize=4096)
def due_day(due_at: datetime) -> date:
    """The last day of the period: a due time of 24:00 is the end of the previous day."""
    return (due_at.astimezone(BUSINESS_TZ) - timedelta(microseconds=1)).date()


def workdays_before(calendar: WorkCalendar, day: date, count: int) -> date:
    """Return the working day ``count`` working days before ``day`` (``count == 0`` gives ``day``)."""
    found = 0
    while found < count:
        day -= timedelta(days=1)
        if is_workday(calendar, day):
            found += 1
    return day


# -- thresholds --------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _mornings_before(
    calendar: WorkCalendar, last_day: date, days_before: tuple[int, ...], hours: WorkingHours
) -> tuple[Threshold, ...]:
    """The pre-due reminders of a period whose last day is ``last_day``, earliest first.

    Cached: a sweep's deadlines end on a few dozen days, and counting working days back is the costly
    part of a threshold. The calendar is keyed by identity; a changed calendar is a new object. The
    thresholds themselves are cached too (they are frozen), not rebuilt for every deadline.
    """
    return tuple(
        Threshold(
            "due" if n == 0 else f"before:{n}",
            working_moment(_morning(workdays_before(calendar, last_day, n), hours), calendar, hours),
            HANDLER,
        )
        for n in sorted(set(days_before), reverse=True)
    )


def thresholds(
    due_at: datetime, rule: RuleSpec, calendar: WorkCalendar, hours: WorkingHours | None = None
) -> list[Threshold]:
    """Return the one-off thresholds of a deadline (the daily overdue repeats come from `repeat_after`)."""
    hours = hours or default_working_hours()
    result = [
        step
        for step in _mornings_before(calendar, due_day(due_at), rule.days_before, hours)
        # not a due-day reminder for a period that ends before the office opens
        if step.fire_at < due_at
    ]
    result.append(
        Threshold(
            "overdue", working_moment(due_at, calendar, hours), ESCALATE if rule.is_escalating else HANDLER
        )
    )
    return result


def repeat_after(
    due_at: datetime, moment: datetime, calendar: WorkCalendar, hours: WorkingHours | None = None
) -> Threshold:
    """Return the first daily overdue repeat that fires after ``moment`` (the opening of a working day)."""
    hours = hours or default_working_hours()
    return _repeat_after(calendar, _first_overdue_day(due_at, calendar, hours), moment, hours)


def latest_repeat(
    due_at: datetime, now: datetime, calendar: WorkCalendar, hours: WorkingHours | None = None
) -> Threshold | None:
    """Return the most recent daily overdue repeat at or before ``now`` (None before the first one)."""
    hours = hours or default_working_hours()
    return _latest_repeat(calendar, _first_overdue_day(due_at, calendar, hours), now, hours)


def _first_overdue_day(due_at: datetime, calendar: WorkCalendar, hours: WorkingHours) -> date:
    """The day the overdue escalation goes out; the daily repeats start on the working day after it."""
    return working_moment(due_at, calendar, hours).astimezone(BUSINESS_TZ).date()


# Cached like `_mornings_before`: the deadlines of one sweep escalate on a few dozen days.
@lru_cache(maxsize=4096)
def _repeat_after(
    calendar: WorkCalendar, first_day: date, moment: datetime, hours: WorkingHours
) -> Threshold:
    here = moment.astimezone(BUSINESS_TZ)
    day = here.date()
    if not (is_workday(calendar, day) and here.time() < hours.opening):
        day = _next_workday(calendar, day)
    if day <= first_day:
        day = _next_workday(calendar, first_day)
    return Threshold(f"overdue@{day.isoformat()}", _morning(day, hours), REPEAT)


@lru_cache(maxsize=4096)
def _latest_repeat(
    calendar: WorkCalendar, first_day: date, now: datetime, hours: WorkingHours
) -> Threshold | None:
    here = now.astimezone(BUSINESS_TZ)
    day = here.date()
    if not (is_workday(calendar, day) and here.time() >= hours.opening):
        day = workdays_before(calendar, day, 1)
    if day <= first_day:
        return None
    return Threshold(f"overdue@{day.isoformat()}", _morning(day, hours), REPEAT)


@dataclass
class Plan:
    send: Threshold | None
    next_check_at: datetime | None


@dataclass(frozen=True)
class Outlook:
    """What one due time's thresholds say at one moment, for every deadline that shares it.

    Only ``starts_at`` differs between such deadlines, and it only decides which of the thresholds
    already reached may still be sent (`send`), so a sweep works an outlook out once per due time.
    """

    reached: tuple[Threshold, ...]  # the one-off thresholds at or before the moment, latest first
    repeat: Threshold | None  # the latest daily overdue repeat at or before the moment
    next_check_at: datetime | None

    def send(self, starts_at: datetime) -> Threshold | None:
        """The threshold to send now for a period that started at ``starts_at`` (None: nothing)."""
        found = None
        for step in self.reached:
            if step.audience != HANDLER or step.key == "overdue" or step.fire_at > starts_at:
                found = step
                break
        if self.repeat is not None and (found is None or self.repeat.fire_at > found.fire_at):
            return self.repeat
        return found


def outlook(
    due_at: datetime, rule: RuleSpec, calendar: WorkCalendar, now: datetime, hours: WorkingHours | None = None
) -> Outlook:
    """Work out the thresholds of ``due_at`` reached by ``now``, the latest repeat and the next check."""
    hours = hours or default_working_hours()
    steps = thresholds(due_at, rule, calendar, hours)
    latest = following = None
    if rule.is_repeating and now >= steps[-1].fire_at:
        first_day = steps[-1].fire_at.astimezone(BUSINESS_TZ).date()  # the overdue threshold's day
        latest = _latest_repeat(calendar, first_day, now, hours)
        following = _repeat_after(calendar, first_day, now, hours).fire_at
    # Latest first; the sort is stable, so of two thresholds at the same moment the earlier rule step
    # wins, as it did when the latest was picked with max().
    reached = tuple(sorted((t for t in steps if t.fire_at <= now), key=lambda t: t.fire_at, reverse=True))
    upcoming = [t.fire_at for t in steps if t.fire_at > now]
    if due_at > now:
        upcoming.append(due_at)  # the breach itself is recorded on time, even at night
    if following is not None:
        upcoming.append(following)
    return Outlook(reached, latest, min(upcoming) if upcoming else None)


def plan(
    *,
    due_at: datetime | None,
    starts_at: datetime,
    rule: RuleSpec,
    calendar: WorkCalendar,
    now: datetime,
    cache: dict | None = None,
    hours: WorkingHours | None = None,
) -> Plan:
    """Decide what fires now for one deadline version and when to look again.

    Only the latest threshold already reached is sent (a sweep that was down for a day does not send a
    backlog of stale reminders), and a pre-due threshold that passed before the period even started is
    skipped (a two-day period gets no "three days left" reminder).
    """
    if due_at is None:
        return Plan(None, None)
    hours = hours or default_working_hours()
    key = (due_at, rule, hours, now)
    known = cache.get(key) if cache is not None else None
    if known is None:
        known = outlook(due_at, rule, calendar, now, hours)
        if cache is not None:
            cache[key] = known
    return Plan(known.send(starts_at), known.next_check_at)


def first_check_at(
    due_at: datetime | None, rule: RuleSpec, calendar: WorkCalendar, hours: WorkingHours | None = None
) -> datetime | None:
    if due_at is None:
        return None
    return min(t.fire_at for t in thresholds(due_at, rule, calendar, hours))


# -- rules -------------------------------------------------------------------------------------------


def rule_for(rules: Iterable[RuleSpec], channel: str, deadline_kind: str) -> RuleSpec:
    """Return the most specific rule: channel and kind, then channel, then kind, then the catch-all."""
    best: tuple[int, RuleSpec] | None = None
    for rule in rules:
        if rule.channel not in (None, channel) or rule.deadline_kind not in (None, deadline_kind):
            continue
        score = (rule.channel is not None) * 2 + (rule.deadline_kind is not None)
        if best is None or score > best[0]:
            best = (score, rule)
    return best[1] if best else DEFAULT_RULE


def last_working_moment(now: datetime, calendar: WorkCalendar, hours: WorkingHours | None = None) -> datetime:
    """Return ``now`` if it is within working hours, else the end of the latest working period before it."""
    hours = hours or default_working_hours()
    here = now.astimezone(BUSINESS_TZ)
    day = here.date()
    if is_workday(calendar, day):
        for start, end in reversed(hours.periods):
            if here.time() >= end:
                return _local(day, end) - timedelta(minutes=1)
            if here.time() >= start:
                return now
    day = workdays_before(calendar, day, 1)
    return _local(day, hours.periods[-1][1]) - timedelta(minutes=1)
