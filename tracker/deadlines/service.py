"""Deadline rows: the services that apply the pure engine (tracker.deadlines.engine) to a ticket's
`Deadline` rows — open, pause, resume, extend, override, meet, cancel, recompute — and the administrators'
policy overrides. Each takes a Session and `now`, flushes, never commits, bumps `Deadline.version` on every
change and records a `TicketEvent` through `tracker.tickets.history.record_event`.

Over 600 lines on purpose: every change to a deadline row sits beside the others, so each bumps the
version and writes its event the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.calendar.days import WorkCalendar
from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ
from tracker.deadlines.engine import (
    DeadlineInput,
    EndOfDay,
    Extension,
    FixedDue,
    Pause,
    check_extension,
    compute_due,
    default_end_of_day,
    iso_utc,
    start_phrase,
    state_at,
)
from tracker.deadlines.models import DeadlinePolicyOverride
from tracker.deadlines.planner import DEADLINE_COLUMNS, DeadlinePlanner, reply_due_at
from tracker.deadlines.policies import (
    BREACHED,
    CANCELLED,
    CORRECTION,
    CORRECTION_NOTICE,
    DEFAULT_POLICIES,
    KIND_LABELS,
    MET,
    OPEN_STATES,
    PAUSE_REASONS,
    REPLY,
    RUNNING,
    Policy,
    find_policy,
    policies_for,
    select_policy,
)
from tracker.errors import CalendarYearMissing, Conflict, NotFound, ValidationError
from tracker.reminders.rules import active_rules, first_check
from tracker.tickets.history import record_event
from tracker.tickets.models import Deadline, Ticket

# -- services on Deadline rows -------------------------------------------------------------------------
#
# Each takes a Session and `now`, flushes, never commits, bumps Deadline.version on every change and
# records a TicketEvent through `tracker.tickets.history.record_event`.


def add_policy_override(
    session: Session,
    *,
    code: str,
    unit: str,
    length: int,
    effective_from: date,
    reason: str,
    now: datetime,
    effective_to: date | None = None,
    request_type: str | None = None,
    urgency: str | None = None,
    max_extensions: int | None = None,
    max_extension_length: int | None = None,
    pauses_reply: bool | None = None,
    created_by_id: int | None = None,
) -> Any:
    """Record an administrator's local rule replacing the default ``code`` from ``effective_from``."""
    if not reason.strip():
        raise ValidationError("调整期限规则必须说明理由", fields={"reason": "必填"})
    base = next((p for p in DEFAULT_POLICIES if p.code == code), None)
    if base is None:
        raise NotFound(f"没有这条期限规则：{code}")
    Policy(
        code=code,
        version="check",
        channel=base.channel,
        kind=base.kind,
        unit=unit,
        length=length,
        effective_from=effective_from,
    )  # validates unit and length
    row = DeadlinePolicyOverride(
        code=code,
        channel=base.channel,
        kind=base.kind,
        request_type=request_type,
        urgency=urgency,
        unit=unit,
        length=length,
        max_extensions=base.max_extensions if max_extensions is None else max_extensions,
        max_extension_length=base.max_extension_length
        if max_extension_length is None
        else max_extension_length,
        is_pausable=base.is_pausable,
        pauses_reply=base.pauses_reply if pauses_reply is None else pauses_reply,
        effective_from=effective_from,
        effective_to=effective_to,
        legal_basis="",
        reason=reason,
        created_by_id=created_by_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _received_on(ticket: Ticket) -> date:
    return ticket.received_at.astimezone(BUSINESS_TZ).date()


def _policy_for_ticket(policies: Sequence[Policy], ticket: Ticket, kind: str) -> Policy | None:
    return select_policy(
        policies,
        channel=ticket.channel,
        kind=kind,
        received_on=_received_on(ticket),
        request_type=ticket.request_type,
        urgency=ticket.urgency,
    )


def deadline_input(deadline: Deadline, policy: Policy) -> DeadlineInput:
    override = deadline.override or {}
    return DeadlineInput(
        policy=policy,
        starts_at=deadline.starts_on,
        pauses=tuple(Pause.from_json(p) for p in deadline.pauses or ()),
        extensions=tuple(Extension.from_json(e) for e in deadline.extensions or ()),
        fixed_due=FixedDue.from_json(override) if override.get("due_at") else None,
        start_note=override.get("start_note", ""),
    )


def get_deadline(ticket: Ticket, kind: str) -> Deadline:
    for deadline in ticket.deadlines:
        if deadline.kind == kind:
            return deadline
    raise NotFound(f"工单{ticket.number}没有“{KIND_LABELS.get(kind, kind)}”期限")


def _open_deadline(ticket: Ticket, kind: str) -> Deadline:
    deadline = get_deadline(ticket, kind)
    if deadline.state not in OPEN_STATES:
        raise Conflict(f"“{deadline.label}”期限已结束（{deadline.state}），不能再修改")
    return deadline


def _refresh(
    session: Session,
    deadline: Deadline,
    *,
    now: datetime,
    actor: Any,
    event_kind: str,
    data: dict[str, Any] | None = None,
    policies: Sequence[Policy] | None = None,
    calendar: WorkCalendar | None = None,
    end_of_day: EndOfDay | None = None,
    only_if_changed: bool = False,
) -> bool:
    """Recompute one deadline; unless nothing changed and ``only_if_changed``, bump version and record it."""
    policy = find_policy(
        policies if policies is not None else policies_for(session),
        deadline.policy_code,
        deadline.policy_version,
    )
    calendar = calendar if calendar is not None else load_calendar(session)
    inputs = deadline_input(deadline, policy)
    try:
        result = compute_due(inputs, calendar, end_of_day=end_of_day or default_end_of_day())
        due_at, explanation, is_paused = result.due_at, result.explanation, result.is_paused
    except CalendarYearMissing as missing:
        # Never guess: the deadline stays open without a due time and is recomputed when the year is loaded.
        start = start_phrase(inputs, deadline.starts_on.astimezone(BUSINESS_TZ))
        due_at, is_paused = None, any(p.ended_at is None for p in inputs.pauses)
        explanation = f"{start}；{missing.message}，暂无法计算截止时间，导入后自动重新计算"
    state = (
        deadline.state
        if deadline.state in (MET, CANCELLED)
        else state_at(due_at, is_paused=is_paused, now=now)
    )
    before = (deadline.due_at, deadline.explanation, deadline.state)
    if only_if_changed and before == (due_at, explanation, state):
        return False
    deadline.due_at = due_at
    if deadline.kind == REPLY:
        deadline.ticket.reply_due_at = due_at  # the report's copy (tracker.reports.facts)
    deadline.explanation = explanation
    if state == BREACHED and deadline.breached_at is None:
        deadline.breached_at = now
    elif state != BREACHED:
        # A later due time (extension, newly loaded year) lifts the breach; the events keep the history.
        deadline.breached_at = None
    deadline.state = state
    # When the sweep looks at it again: the first reminder threshold of the new due time.
    deadline.next_check_at = first_check(
        due_at, state, deadline.ticket.channel, deadline.kind, active_rules(session), calendar
    )
    deadline.version = (deadline.version or 0) + 1
    session.flush()
    record_event(
        session,
        deadline.ticket,
        event_kind,
        actor=actor,
        now=now,
        data={
            "deadline": deadline.kind,
            "label": deadline.label,
            "due_at_before": iso_utc(before[0]),
            "due_at": iso_utc(due_at),
            "state": state,
            "version": deadline.version,
            "policy": f"{deadline.policy_code}@{deadline.policy_version}",
            "explanation": explanation,
            **(data or {}),
        },
        # An extension is news for the applicant (延期告知): the citizen-message consumer hears it.
        publish=event_kind == "deadline.extended",
    )
    return True


def _create(
    session: Session,
    ticket: Ticket,
    policy: Policy,
    *,
    starts_at: datetime,
    now: datetime,
    actor: Any,
    override: dict[str, Any] | None = None,
    calendar: WorkCalendar | None = None,
    policies: Sequence[Policy] | None = None,
) -> Deadline:
    deadline = Deadline(
        ticket=ticket,
        kind=policy.kind,
        label=policy.label,
        policy_code=policy.code,
        policy_version=policy.version,
        starts_on=starts_at,
        state=RUNNING,
        pauses=[],
        extensions=[],
        override=override,
        version=0,
        explanation="",
    )
    session.add(deadline)
    session.flush()
    _refresh(
        session,
        deadline,
        now=now,
        actor=actor,
        event_kind="deadline.opened",
        calendar=calendar,
        policies=policies,
    )
    return deadline


def open_deadlines(session: Session, ticket: Ticket, *, now: datetime, actor: Any = None) -> list[Deadline]:
    """Add the ticket's initial deadlines for its channel that it lacks (idempotent: existing kinds are
    kept) — the rows tracker.deadlines.planner plans for every new ticket, as ORM rows, each with its
    `deadline.opened` event. A 12345 work order's own 签收时限/办结时限 (Ticket.extra) win over the
    default policies; the rule is the one in force on the receipt date, and the count starts where
    `engine.period_start` says (a 12345 order's 派单, an application's legal receipt)."""
    planner = DeadlinePlanner(session, now=now)
    planned = planner.plan_ticket(
        channel=ticket.channel,
        received_at=ticket.received_at,
        request_type=ticket.request_type,
        urgency=ticket.urgency,
        extra=ticket.extra,
        received_via=ticket.received_via,
        skip={d.kind for d in ticket.deadlines},
    )
    if not planned:
        return []
    rows, events = planner.rows([ticket.id], [planned], actor=(None, ""))
    created = []
    for row, event in zip(rows, events, strict=True):
        values = dict(zip(DEADLINE_COLUMNS, row, strict=True))
        values.update(ticket_id=None, pauses=[], extensions=[])  # fresh lists: each row its own
        deadline = Deadline(ticket=ticket, **values)
        session.add(deadline)
        created.append(deadline)
        record_event(session, ticket, "deadline.opened", actor=actor, now=now, data=event[5])
    due = reply_due_at(planned)
    if due is not None:
        ticket.reply_due_at = due  # the report's copy (tracker.reports.facts)
    session.flush()
    return created


def restart_deadline(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    starts_at: datetime,
    now: datetime,
    actor: Any,
    reason: str,
) -> Deadline:
    """Open `kind` afresh, counted from `starts_at` under the rule in force on that day (a 12345 order's
    重办: a new period, not an extension). A ticket has one row per kind, so a second redo restarts the
    row; the events and the `Redo` rows keep every earlier period."""
    local_day = starts_at.astimezone(BUSINESS_TZ).date()
    policy = select_policy(
        policies_for(session),
        channel=ticket.channel,
        kind=kind,
        received_on=local_day,
        request_type=ticket.request_type,
        urgency=ticket.urgency,
    )
    if policy is None:
        raise NotFound(f"“{KIND_LABELS.get(kind, kind)}”期限不适用于此渠道的工单")
    deadline = next((d for d in ticket.deadlines if d.kind == kind), None)
    if deadline is None:
        deadline = Deadline(ticket=ticket, kind=kind, version=0, explanation="")
        session.add(deadline)
    deadline.label = policy.label
    deadline.policy_code, deadline.policy_version = policy.code, policy.version
    deadline.starts_on = starts_at
    deadline.state = RUNNING
    deadline.pauses, deadline.extensions, deadline.override = [], [], None
    deadline.met_at = deadline.breached_at = None
    session.flush()
    _refresh(session, deadline, now=now, actor=actor, event_kind="deadline.opened", data={"reason": reason})
    return deadline


def recompute_deadline(
    session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any, reason: str
) -> Deadline:
    """Recompute one deadline after something it depends on changed (always recorded)."""
    deadline = get_deadline(ticket, kind)
    _refresh(
        session, deadline, now=now, actor=actor, event_kind="deadline.recomputed", data={"reason": reason}
    )
    return deadline


def recompute_open_deadlines(session: Session, *, now: datetime, actor: Any, reason: str) -> int:
    """Recompute every open deadline; record an event on each one whose due time or explanation moved.

    Called after a calendar load: a newly loaded year gives a due time to deadlines that crossed into it
    and moves those whose days changed. Returns how many deadlines changed.
    """
    calendar = load_calendar(session)
    policies = policies_for(session)
    changed = 0
    for deadline in session.scalars(
        select(Deadline).where(Deadline.state.in_(OPEN_STATES)).order_by(Deadline.id)
    ):
        if _refresh(
            session,
            deadline,
            now=now,
            actor=actor,
            event_kind="deadline.recomputed",
            data={"reason": reason},
            calendar=calendar,
            policies=policies,
            only_if_changed=True,
        ):
            changed += 1
    return changed


def pause_deadline(
    session: Session, ticket: Ticket, kind: str = REPLY, *, reason: str, now: datetime, actor: Any
) -> Deadline:
    """Stop the clock from today on (the pause's days are not counted) until `resume_deadline`."""
    deadline = _open_deadline(ticket, kind)
    policy = find_policy(policies_for(session), deadline.policy_code, deadline.policy_version)
    if not policy.is_pausable:
        raise Conflict(f"“{deadline.label}”期限依规不能暂停")
    if any(p.get("ended_at") is None for p in deadline.pauses or ()):
        raise Conflict(f"“{deadline.label}”期限已在暂停中")
    deadline.pauses = [*(deadline.pauses or []), Pause(now, None, reason).as_json()]
    _refresh(session, deadline, now=now, actor=actor, event_kind="deadline.paused", data={"reason": reason})
    return deadline


def resume_deadline(
    session: Session, ticket: Ticket, kind: str = REPLY, *, now: datetime, actor: Any
) -> Deadline:
    deadline = _open_deadline(ticket, kind)
    pauses = [dict(p) for p in deadline.pauses or ()]
    open_pauses = [p for p in pauses if p.get("ended_at") is None]
    if not open_pauses:
        raise Conflict(f"“{deadline.label}”期限没有在暂停")
    open_pauses[-1]["ended_at"] = iso_utc(now)
    deadline.pauses = pauses
    _refresh(
        session,
        deadline,
        now=now,
        actor=actor,
        event_kind="deadline.resumed",
        data={"reason": open_pauses[-1].get("reason", "")},
    )
    return deadline


def start_consultation(session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any) -> Deadline:
    """Open a consultation deadline (第三方 / 其他机关 / 缴费) and pause the reply clock if the rule says so."""
    if kind not in PAUSE_REASONS:
        raise ValidationError(f"未知的征求意见类型 {kind!r}", fields={"kind": kind})
    if any(d.kind == kind for d in ticket.deadlines):
        raise Conflict(f"“{KIND_LABELS[kind]}”已经开始过")
    policies = policies_for(session)
    policy = _policy_for_ticket(policies, ticket, kind)
    if policy is None:
        raise Conflict(f"该工单适用的规则中没有“{KIND_LABELS[kind]}”期限")
    deadline = _create(session, ticket, policy, starts_at=now, now=now, actor=actor, policies=policies)
    if policy.pauses_reply:
        pause_deadline(session, ticket, REPLY, reason=PAUSE_REASONS[kind], now=now, actor=actor)
    return deadline


def finish_consultation(
    session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any
) -> Deadline:
    """Close a consultation (answer received, or its time ran out) and restart the reply clock."""
    deadline = mark_deadline_met(session, ticket, kind, now=now, actor=actor)
    reply = get_deadline(ticket, REPLY)
    if any(p.get("ended_at") is None and p.get("reason") == PAUSE_REASONS[kind] for p in reply.pauses or ()):
        resume_deadline(session, ticket, REPLY, now=now, actor=actor)
    return deadline


def extend_deadline(
    session: Session,
    ticket: Ticket,
    kind: str = REPLY,
    *,
    length: int,
    approver: str,
    reason: str,
    now: datetime,
    actor: Any,
    applicant_notice: str = "",
) -> Deadline:
    """Grant the one extension the rule allows, recording the approver, the reason and the notice."""
    if not approver.strip() or not reason.strip():
        raise ValidationError("延期必须记录批准人和理由", fields={"approver": "必填", "reason": "必填"})
    deadline = _open_deadline(ticket, kind)
    policy = find_policy(policies_for(session), deadline.policy_code, deadline.policy_version)
    existing = [Extension.from_json(e) for e in deadline.extensions or ()]
    check_extension(policy, existing, length)
    extension = Extension(length, approver, reason, now, applicant_notice)
    deadline.extensions = [*(deadline.extensions or []), extension.as_json()]
    _refresh(
        session, deadline, now=now, actor=actor, event_kind="deadline.extended", data=extension.as_json()
    )
    return deadline


def override_deadline(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    due_at: datetime,
    reason: str,
    now: datetime,
    actor: Any,
    by: str = "",
) -> Deadline:
    """Set a due time by hand (art. 35 "reasonable later date", or a correction), with a recorded reason."""
    if not reason.strip():
        raise ValidationError("人工调整期限必须说明理由", fields={"reason": "必填"})
    if due_at.tzinfo is None:
        raise ValidationError("截止时间缺少时区", fields={"due_at": "缺少时区"})
    deadline = _open_deadline(ticket, kind)
    override = dict(deadline.override or {})
    override.update(FixedDue(due_at.astimezone(UTC), reason, "manual", by).as_json())
    deadline.override = override
    _refresh(
        session, deadline, now=now, actor=actor, event_kind="deadline.overridden", data={"reason": reason}
    )
    return deadline


def request_correction(
    session: Session, ticket: Ticket, *, now: datetime, actor: Any, correction_due_at: datetime | None = None
) -> Deadline:
    """Issue the one 补正 notice: meet 补正告知, give the applicant a deadline, stop the reply clock.

    The reply period restarts from the corrected application (`restart_after_correction`).
    """
    if any(d.kind == CORRECTION for d in ticket.deadlines):
        raise Conflict("补正告知只能发出一次")
    if any(d.kind == CORRECTION_NOTICE for d in ticket.deadlines):
        mark_deadline_met(session, ticket, CORRECTION_NOTICE, now=now, actor=actor)
    policies = policies_for(session)
    policy = _policy_for_ticket(policies, ticket, CORRECTION)
    if policy is None:
        raise Conflict("该工单适用的规则中没有补正程序")
    override = None
    if correction_due_at is not None:
        override = FixedDue(correction_due_at.astimezone(UTC), "补正通知写明的补正期限", "manual").as_json()
    deadline = _create(
        session, ticket, policy, starts_at=now, now=now, actor=actor, override=override, policies=policies
    )
    pause_deadline(session, ticket, REPLY, reason="等待申请人补正", now=now, actor=actor)
    return deadline


def restart_after_correction(
    session: Session, ticket: Ticket, *, corrected_received_at: datetime, now: datetime, actor: Any
) -> Deadline:
    """Restart the reply period from the day the corrected application was received (art. 30)."""
    if any(d.kind == CORRECTION and d.state in OPEN_STATES for d in ticket.deadlines):
        mark_deadline_met(session, ticket, CORRECTION, now=corrected_received_at, actor=actor)
    reply = _open_deadline(ticket, REPLY)
    reply.starts_on = corrected_received_at
    reply.pauses = []
    reply.override = {
        **{k: v for k, v in (reply.override or {}).items() if k != "start_note"},
        "start_note": "收到补正后的申请（答复期限重新起算）",
    }
    _refresh(
        session,
        reply,
        now=now,
        actor=actor,
        event_kind="deadline.restarted",
        data={"corrected_received_at": iso_utc(corrected_received_at)},
    )
    return reply


def preview_due(session: Session, ticket: Ticket, kind: str, *, starts_at: datetime) -> datetime | None:
    """The due time a deadline of `kind` would have if it started at `starts_at`, without opening it: a letter
    (the 补正 notice) states the deadline before its door opens it, with the same policy and calendar.
    None when no policy of the ticket has that kind, or the calendar year is not loaded (never guessed)."""
    policy = _policy_for_ticket(policies_for(session), ticket, kind)
    if policy is None:
        return None
    try:
        result = compute_due(
            DeadlineInput(policy=policy, starts_at=starts_at),
            load_calendar(session),
            end_of_day=default_end_of_day(),
        )
    except CalendarYearMissing:
        return None
    return result.due_at


def is_correction_overdue(ticket: Ticket, now: datetime) -> bool:
    """Whether the applicant's correction deadline passed uncorrected (the ticket may close as 逾期不补正)."""
    for deadline in ticket.deadlines:
        if deadline.kind == CORRECTION and deadline.state in OPEN_STATES:
            return deadline.due_at is not None and now >= deadline.due_at
    return False


def mark_deadline_met(session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any) -> Deadline:
    deadline = _open_deadline(ticket, kind)
    was_late = deadline.due_at is not None and now > deadline.due_at
    deadline.state = MET
    deadline.met_at = now
    deadline.next_check_at = None
    deadline.version = (deadline.version or 0) + 1
    session.flush()
    record_event(
        session,
        ticket,
        "deadline.met",
        actor=actor,
        now=now,
        data={"deadline": kind, "label": deadline.label, "version": deadline.version, "is_late": was_late},
    )
    return deadline


def cancel_open_deadlines(
    session: Session,
    ticket: Ticket,
    *,
    now: datetime,
    actor: Any,
    reason: str,
    kinds: Iterable[str] | None = None,
) -> list[Deadline]:
    """End the ticket's open deadlines that no longer apply (closed, merged, withdrawn, returned …)."""
    wanted = set(kinds) if kinds is not None else None
    cancelled = []
    for deadline in ticket.deadlines:
        if deadline.state not in OPEN_STATES or (wanted is not None and deadline.kind not in wanted):
            continue
        deadline.state = CANCELLED
        deadline.next_check_at = None
        deadline.version = (deadline.version or 0) + 1
        session.flush()
        record_event(
            session,
            ticket,
            "deadline.cancelled",
            actor=actor,
            now=now,
            data={
                "deadline": deadline.kind,
                "label": deadline.label,
                "reason": reason,
                "version": deadline.version,
            },
        )
        cancelled.append(deadline)
    return cancelled


def meet_if_open(
    session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any
) -> Deadline | None:
    """Mark a deadline met if the ticket has it open; a no-op otherwise (e.g. 签收 already met)."""
    for deadline in ticket.deadlines:
        if deadline.kind == kind and deadline.state in OPEN_STATES:
            return mark_deadline_met(session, ticket, kind, now=now, actor=actor)
    return None
