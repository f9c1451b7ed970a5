"""The statutory deadlines of a new ticket, planned once, before anything is written: which deadlines it
opens (`INITIAL_KINDS`), under which policy in force on its receipt day, their due times and plain-Chinese
explanations (tracker.deadlines.engine), their state and the first reminder check
(tracker.reminders.rules.first_check). Every writer that opens a ticket — one ticket through
tracker.workflow.opening, a file import a batch at a time, the 12345 push in one statement — and the
idempotent `open_deadlines` write the rows planned here, so they cannot disagree.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from tracker import reference
from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ, local
from tracker.deadlines import engine as deadline_engine
from tracker.deadlines import policies as deadline_policies
from tracker.deadlines.engine import iso_utc
from tracker.errors import CalendarYearMissing
from tracker.reminders.rules import active_rules, first_check

# A new deadline's pauses and extensions; one object, serialised once a batch.
NOTHING_YET: list[Any] = []
# The columns of a deadline row, in the order `DeadlinePlanner.rows` gives them.
DEADLINE_COLUMNS = (
    "ticket_id",
    "kind",
    "label",
    "policy_code",
    "policy_version",
    "starts_on",
    "due_at",
    "state",
    "pauses",
    "extensions",
    "override",
    "version",
    "explanation",
    "next_check_at",
    "breached_at",
)


class PlannedDeadline(NamedTuple):
    """One deadline of a ticket about to be bulk-created: what `DeadlinePlanner.plan` computed for it."""

    kind: str
    policy: Any
    starts_on: datetime
    override: dict[str, Any] | None
    plan: tuple[Any, ...]  # (due time, state, explanation, first check, the event's data)


def reply_due_at(planned: list[PlannedDeadline]) -> datetime | None:
    return next((d.plan[0] for d in planned if d.kind == "reply"), None)


class DeadlinePlanner:
    """The statutory deadlines of new tickets: the rows and `deadline.opened` events every writer of a new
    ticket inserts (and `tracker.deadlines.service.open_deadlines` adds as ORM rows), computed with the
    engine's pure functions (policy selection, `compute_due`, the reminder schedule).

    One planner serves a whole import: the calendar, the policies and the reminder rules are read once,
    and every result is memoised under exactly the inputs that determine it (those three being fixed):
    the policy by (channel, kind, receipt day, request type, urgency); the due time and explanation by
    (policy, receipt day — the receipt moment for clock-hour periods —, the work order's own due time);
    the first reminder check by (due time, channel, kind). A year of work orders has a few hundred receipt
    days, so the arithmetic runs a few hundred times, not once per row. Those three memos belong to the
    reference data the planner computes with (its stamp), not to the planner: the process keeps them
    across planners until the stamp changes, so the 12345 push — a planner per request, the day's orders
    mostly received today — computes a day's deadlines once, not per order. Only the state (running or
    breached), which depends on `now`, is the planner's own. Each memo is emptied when it reaches
    MAX_ENTRIES, which bounds memory on any file and any stream of pushes.

    """

    MAX_ENTRIES = 4096

    def __init__(self, session: Session, *, now: datetime, stamp: reference.Stamp | None = None):
        self.now = now
        # One read of the reference stamp (unless the caller checks the one it passes in its own
        # statement); what it stands for is read again only when it changed.
        self.stamp = stamp or reference.current_stamp(session)
        self.calendar = load_calendar(session, self.stamp)
        self.policies = deadline_policies.policies_for(session, self.stamp)
        self.rules = active_rules(session, self.stamp)
        self.end_of_day = deadline_engine.default_end_of_day()
        # Shared by the process's planners of this stamp (and end of day), as the data they derive from.
        self._policy, self._due, self._check = reference.cached(
            self.stamp, f"deadline planner memos {self.end_of_day}", lambda: ({}, {}, {})
        )
        self._plan: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def plan_draft(self, draft: Any) -> list[PlannedDeadline]:
        """The deadlines a new ticket from `draft` (a tracker.tickets.drafts.TicketDraft) opens, computed
        before the ticket row is written (its `reply_due_at` report fact is the reply deadline's due time)."""
        return self.plan_ticket(
            channel=draft.channel,
            received_at=draft.received_at or draft.arrived_at,
            request_type=draft.request_type,
            urgency=draft.urgency,
            extra=draft.extra,
            received_via=draft.received_via,
        )

    def plan_ticket(
        self,
        *,
        channel: str,
        received_at: datetime,
        request_type: str,
        urgency: str | None,
        extra: dict[str, Any] | None,
        received_via: str | None = None,
        skip: frozenset[str] | set[str] = frozenset(),
    ) -> list[PlannedDeadline]:
        """The initial deadlines of a ticket with these facts, but for the kinds in `skip` (those it has);
        a 12345 work order's own 签收时限/办结时限 (in `extra`) win over the default policies. The rule is
        the one in force on the receipt date; the count starts where `deadline_engine.period_start` says
        (a 12345 order's 派单, an application's legal receipt), which its explanation names."""
        received_on = local(received_at).date()
        result = []
        for kind in deadline_policies.INITIAL_KINDS.get(channel, (deadline_policies.REPLY,)):
            if kind in skip:
                continue
            policy = self.policy(channel, kind, received_on, request_type, urgency)
            if policy is None:
                continue
            override = deadline_engine.work_order_due(extra, kind)
            starts_at, note = deadline_engine.period_start(
                channel, kind, received_at=received_at, received_via=received_via, extra=extra
            )
            if note:
                override = {**(override or {}), "start_note": note}
            plan = self.plan(policy, channel, starts_at, local(starts_at).date(), override)
            result.append(PlannedDeadline(kind, policy, starts_at, override, plan))
        return result

    def rows(
        self,
        ticket_ids: list[int],
        planned: list[list[PlannedDeadline]],
        *,
        actor: tuple[int | None, str],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows of the planned deadlines of the tickets just written, and of their `deadline.opened`
        events, in DEADLINE_COLUMNS and EVENT_COLUMNS order."""

        actor_id, actor_label = actor
        now = self.now
        deadline_rows, event_rows = [], []
        for ticket_id, deadlines in zip(ticket_ids, planned, strict=True):
            for d in deadlines:
                due_at, state, explanation, next_check, event_data = d.plan
                deadline_rows.append(
                    (
                        ticket_id,
                        d.kind,
                        d.policy.label,
                        d.policy.code,
                        d.policy.version,
                        d.starts_on,
                        due_at,
                        state,
                        NOTHING_YET,
                        NOTHING_YET,
                        d.override,
                        1,
                        explanation,
                        next_check,
                        now if state == deadline_policies.BREACHED else None,
                    )
                )
                event_rows.append(
                    (ticket_id, "deadline.opened", now, None, None, event_data, actor_id, actor_label)
                )
        return deadline_rows, event_rows

    def policy(
        self, channel: str, kind: str, received_on: date, request_type: str, urgency: str | None
    ) -> Any:

        key = (channel, kind, received_on, request_type, urgency)
        # Read once, not tested then read: another thread may empty the shared memo in between.
        policy = self._policy.get(key, _NOT_MEMOISED)
        if policy is _NOT_MEMOISED:
            policy = deadline_policies.select_policy(
                self.policies,
                channel=channel,
                kind=kind,
                received_on=received_on,
                request_type=request_type,
                urgency=urgency,
            )
            _bounded(self._policy)
            self._policy[key] = policy
        return policy

    def plan(
        self,
        policy: Any,
        channel: str,
        received_at: datetime,
        received_on: date,
        override: dict[str, Any] | None,
    ) -> tuple[Any, ...]:
        """(due time, state, explanation, first check, the event's data) — the event data is one shared
        dict per plan, serialised once per batch by `_write_rows`."""
        # compute_due reads the start as a day, except for clock-hour periods (and their start phrase).
        start = received_at if policy.unit == deadline_policies.CLOCK_HOURS else received_on
        key = (policy, start, tuple(sorted(override.items())) if override else None)
        cached = self._plan.get(key)
        if cached is not None:
            return cached
        due = self._due.get(key)
        if due is None:
            inputs = deadline_engine.DeadlineInput(
                policy=policy,
                starts_at=received_at,
                fixed_due=deadline_engine.FixedDue.from_json(override)
                if override and override.get("due_at")
                else None,
                start_note=(override or {}).get("start_note", ""),  # as `service.deadline_input` reads it
            )
            try:
                result = deadline_engine.compute_due(inputs, self.calendar, end_of_day=self.end_of_day)
                due = (result.due_at, result.explanation, result.is_paused)
            except CalendarYearMissing as missing:
                phrase = deadline_engine.start_phrase(inputs, received_at.astimezone(BUSINESS_TZ))
                explanation = f"{phrase}；{missing.message}，暂无法计算截止时间，导入后自动重新计算"
                due = (None, explanation, False)
            _bounded(self._due)
            self._due[key] = due
        due_at, explanation, is_paused = due
        state = deadline_engine.state_at(due_at, is_paused=is_paused, now=self.now)
        next_check = (
            self.first_check(due_at, channel, policy.kind)
            if state in (deadline_policies.RUNNING, deadline_policies.BREACHED)
            else None
        )
        event_data = {
            "deadline": policy.kind,
            "label": policy.label,
            "due_at_before": None,
            "due_at": iso_utc(due_at),
            "state": state,
            "version": 1,
            "policy": f"{policy.code}@{policy.version}",
            "explanation": explanation,
        }
        _bounded(self._plan)
        self._plan[key] = planned = (due_at, state, explanation, next_check, event_data)
        return planned

    def first_check(self, due_at: datetime | None, channel: str, kind: str) -> datetime | None:
        key = (due_at, channel, kind)
        check = self._check.get(key, _NOT_MEMOISED)
        if check is _NOT_MEMOISED:
            check = first_check(due_at, deadline_policies.RUNNING, channel, kind, self.rules, self.calendar)
            _bounded(self._check)
            self._check[key] = check
        return check


_NOT_MEMOISED: Any = object()  # a memo's "no entry" (None is a result: no policy, no due time)


def _bounded(memo: dict[Any, Any]) -> None:
    if len(memo) >= DeadlinePlanner.MAX_ENTRIES:
        memo.clear()
