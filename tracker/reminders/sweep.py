"""The reminder sweep: the rules administrators edit, the first-check hook on changed deadlines, the sweep
over due deadlines (set-oriented, one ledger row per reminder and recipient) and the weekly digest.
The arithmetic is tracker.reminders.schedule; the rules of the product are in its docstring.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import astuple, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import select, text, true, tuple_, update
from sqlalchemy.orm import Session

from tracker.calendar.days import WorkCalendar
from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ
from tracker.config import WorkingHours
from tracker.deadlines.engine import state_at
from tracker.deadlines.policies import BREACHED, RUNNING
from tracker.errors import CalendarYearMissing
from tracker.notify.models import Notification
from tracker.notify.service import NewNotification, plan_for
from tracker.people.models import Department, User
from tracker.reminders.rules import active_rules
from tracker.reminders.schedule import (
    ESCALATE,
    HANDLER,
    OPEN_STATES_SQL,
    RuleSpec,
    Threshold,
    default_working_hours,
    due_day,
    last_working_moment,
    outlook,
    rule_for,
)
from tracker.sql.bulk import binary_cursor, id_in, insert_columns, read_rows, update_by_id
from tracker.tickets.models import Deadline, Ticket, TicketEvent

log = logging.getLogger(__name__)


# -- recipients --------------------------------------------------------------------------------------


@dataclass
class Directory:
    """Who to tell, looked up once per sweep batch: supervisors by department, the office, preferences."""

    supervisors: dict[int, list[int]] = field(default_factory=dict)
    office: list[int] = field(default_factory=list)
    active: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session) -> Directory:
        directory = cls()
        for user_id, role, department_id in session.execute(
            select(User.id, User.role, User.department_id).where(User.is_active)
        ):
            directory.active.add(user_id)
            if role == "supervisor":
                directory.supervisors.setdefault(department_id, []).append(user_id)
            elif role == "admin":
                directory.office.append(user_id)
        return directory

    def recipients(self, audience: str, *, department_id: int, assignee_id: int | None) -> list[int]:
        handler = [assignee_id] if assignee_id in self.active else []
        supervisors = self.supervisors.get(department_id, [])
        if audience == HANDLER:
            people = handler or supervisors or self.office
        elif audience == ESCALATE:
            people = [*handler, *supervisors] or self.office
        else:
            people = [*supervisors, *self.office]
        return list(dict.fromkeys(people))


# -- the sweep ---------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    visited: int = 0
    breached: int = 0
    reminders: int = 0
    # The in-app notifications just made, with what planning their deliveries needs (`notify.plan_for`).
    notifications: list[NewNotification] = field(default_factory=list)
    # Where the next batch of the same sweep starts: the rows just visited moved their next check into
    # the future, and starting after them skips their dead index entries instead of re-reading them.
    last_key: tuple[datetime, int] | None = None


# The columns of a reminder's notification the sweep fills per row (``created_at`` is the sweep's ``now``).
_NOTE_COLUMNS = (
    *("user_id", "ticket_id", "kind", "title", "body", "link"),
    *("deadline_id", "deadline_version", "threshold", "due_at"),
)


@lru_cache(maxsize=4096)
def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


@lru_cache(maxsize=4096)  # many deadlines of a sweep share a due time
def _fmt(moment: datetime) -> str:
    here = moment.astimezone(BUSINESS_TZ)
    if here.time() == time(0, 0):
        here -= timedelta(minutes=1)
        return here.strftime("%Y年%m月%d日") + " 24:00"
    return here.strftime("%Y年%m月%d日 %H:%M")


@lru_cache(maxsize=4096)  # a sweep's repeats share a few dozen due days
def _workdays_overdue(calendar: WorkCalendar, last_day: date, now: datetime) -> int:
    with contextlib.suppress(CalendarYearMissing):
        return calendar.workdays_between(last_day, now.astimezone(BUSINESS_TZ).date())
    return 0


def reminder_text(
    threshold: Threshold,
    *,
    number: str,
    label: str,
    subject: str,
    due_at: datetime,
    calendar: WorkCalendar,
    now: datetime,
) -> tuple[str, str, str]:
    """Return (kind, title, body) of a reminder in plain Chinese."""
    due = _fmt(due_at)
    if threshold.key.startswith("before:"):
        left = threshold.key.split(":")[1]
        return (
            "reminder",
            f"【期限提醒】{number}「{label}」还有{left}个工作日到期",
            f"{subject}\n截止时间：{due}",
        )
    if threshold.key == "due":
        return "reminder", f"【今日到期】{number}「{label}」今天到期", f"{subject}\n截止时间：{due}"
    if threshold.key == "overdue":
        return (
            "escalation",
            f"【已超期】{number}「{label}」已超过期限",
            f"{subject}\n截止时间：{due}，请科室负责人督办。",
        )
    days = _workdays_overdue(calendar, due_day(due_at), now)
    overdue = f"已超期{days}个工作日" if days > 0 else "已超期"
    return (
        "escalation",
        f"【超期督办】{number}「{label}」{overdue}",
        f"{subject}\n截止时间：{due}，请科室负责人和办公室督办。",
    )


def sweep_due(
    session: Session,
    *,
    now: datetime,
    limit: int = 1000,
    calendar: WorkCalendar | None = None,
    directory: Directory | None = None,
    rules: Sequence[RuleSpec] | None = None,
    after: tuple[datetime, int] | None = None,
    hours: WorkingHours | None = None,
    plans: dict | None = None,
) -> SweepResult:
    """Handle up to ``limit`` deadlines whose next check has come; flush, never commit.

    Reads through the partial index on ``next_check_at`` of open deadlines, locking the rows with
    ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so a second sweep (or a second lane of `sweep_all`) at the
    same moment takes other rows; the rows are locked before they are joined to their tickets, so those
    another sweep holds are passed over without a ticket look-up.
    Marks breaches, makes one in-app notification per reminder and recipient (``ON CONFLICT DO NOTHING``
    on its unique reminder key: the notification is the ledger entry), and moves ``next_check_at`` on.
    The caller plans the deliveries of the returned notifications (`tracker.notify.service.plan_for`) in the same
    transaction and commits. Call again while ``visited == limit``, passing the same ``plans`` dict (it
    belongs to one ``now`` and one set of working hours): the outlook of a due time is worked out once
    per sweep, not once per deadline or per batch.

    Set-oriented: the rows are read as plain tuples (no ORM objects, no attribute events), every write
    is built as one list per column and sent as one statement per table (`insert_columns`).
    """
    calendar = calendar or load_calendar(session)
    directory = directory or Directory.load(session)
    rules = list(rules) if rules is not None else active_rules(session)
    hours = hours or default_working_hours()
    # The due rows are locked first and only then joined to their tickets: rows another sweep (or lane)
    # holds are skipped before any ticket is looked up for them.
    due = (
        select(
            Deadline.id,
            Deadline.ticket_id,
            Deadline.kind,
            Deadline.label,
            Deadline.version,
            Deadline.due_at,
            Deadline.state,
            Deadline.starts_on,
            Deadline.next_check_at,
        )
        .where(text(OPEN_STATES_SQL), Deadline.next_check_at <= now)
        .where(tuple_(Deadline.next_check_at, Deadline.id) > tuple_(*after) if after else true())
        .order_by(Deadline.next_check_at, Deadline.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .subquery()
    )
    # Plain tuples (`read_rows`), not ORM objects: the rows are only read, so the ORM's loading layer
    # (and on PostgreSQL SQLAlchemy's result layer) would be pure cost.
    rows = read_rows(
        session,
        select(due, Ticket.channel, Ticket.department_id, Ticket.assignee_id, Ticket.number, Ticket.subject)
        .join(Ticket, Ticket.id == due.c.ticket_id)
        .order_by(due.c.next_check_at, due.c.id),
    )
    result = SweepResult(visited=len(rows))
    if not rows:
        return result
    last = rows[-1]
    result.last_key = (last[8], last[0])  # (next_check_at, id)

    # A threshold already sent for the same due time under an earlier version (a breach, a pause that
    # moved nothing) is not sent again: new versions re-send only when the due time really moved.
    sent_before = set(
        read_rows(
            session,
            select(Notification.deadline_id, Notification.threshold, Notification.due_at).where(
                id_in(session, Notification.deadline_id, [row[0] for row in rows])
            ),
        )
    )
    outlooks = {} if plans is None else plans
    rule_of: dict[tuple[str, str], RuleSpec] = {}  # a handful of (channel, kind) pairs per sweep
    people_of: dict[tuple[str, int, int | None], list[int]] = {}  # recipients per audience and ticket
    department_of: dict[int, int] = {}
    # What is written: one list per column, the notifications one tuple per row at first.
    checked, next_checks, is_breach = [], [], []
    event_tickets, event_data = [], []
    notes: list[tuple] = []  # one tuple per notification (in _NOTE_COLUMNS order), turned into columns below
    for (
        deadline_id,
        ticket_id,
        kind,
        label,
        version,
        due_at,
        state,
        starts_on,
        _next_check_at,
        channel,
        department_id,
        assignee_id,
        number,
        subject,
    ) in rows:
        # The engine's rule (one definition): a running deadline is breached from its due time on.
        breach = state == RUNNING and state_at(due_at, is_paused=False, now=now) == BREACHED
        if breach:
            version += 1
            event_tickets.append(ticket_id)
            event_data.append(
                {"deadline": kind, "label": label, "due_at": _iso_or_none(due_at), "version": version}
            )
        checked.append(deadline_id)
        is_breach.append(breach)
        if due_at is None:
            next_checks.append(None)
            continue
        rule = rule_of.get((channel, kind))
        if rule is None:
            rule = rule_of[channel, kind] = rule_for(rules, channel, kind)
        seen = outlooks.get((due_at, rule))
        if seen is None:
            seen = outlooks[due_at, rule] = outlook(due_at, rule, calendar, now, hours)
        next_checks.append(seen.next_check_at)
        send = seen.send(starts_on)
        if send is None or (deadline_id, send.key, due_at) in sent_before:
            continue
        kind_of_note, title, body = reminder_text(
            send, number=number, label=label, subject=subject, due_at=due_at, calendar=calendar, now=now
        )
        people = people_of.get((send.audience, department_id, assignee_id))
        if people is None:
            people = people_of[send.audience, department_id, assignee_id] = directory.recipients(
                send.audience, department_id=department_id, assignee_id=assignee_id
            )
        department_of[ticket_id] = department_id
        link = f"/tickets/{ticket_id}"
        notes.extend(
            (user_id, ticket_id, kind_of_note, title, body, link, deadline_id, version, send.key, due_at)
            for user_id in people
        )

    result.breached = len(event_tickets)
    insert_columns(
        session,
        TicketEvent.__table__,
        {"ticket_id": event_tickets, "data": event_data},
        same={"kind": "deadline.breached", "actor_id": None, "actor_label": "系统", "occurred_at": now},
    )
    # The unique reminder key skips what another sweep (or an earlier run) has already made; only the
    # rows really inserted come back, and only they get deliveries.
    made = insert_columns(
        session,
        Notification.__table__,
        dict(zip(_NOTE_COLUMNS, map(list, zip(*notes, strict=True)), strict=True)) if notes else {},
        same={"created_at": now},
        ignore_conflicts=True,
        returning=("id", "user_id", "ticket_id", "kind", "title"),
    )
    result.notifications = [
        NewNotification(id_, user_id, kind, title, ticket_id, department_of[ticket_id], now)
        for id_, user_id, ticket_id, kind, title in made
    ]
    result.reminders = len(made)
    _move_on(session, checked, next_checks, is_breach, now)
    session.flush()
    return result


def _move_on(
    session: Session, ids: list[int], next_checks: list[datetime | None], is_breach: list[bool], now: datetime
) -> None:
    """Mark the breaches and move each visited deadline's next check on."""
    if session.get_bind().dialect.name == "postgresql":
        # One pass over the rows: breach and next check together (each update of an indexed column
        # rewrites the row's index entries, so two passes would cost twice).
        with binary_cursor(session) as cursor:
            cursor.execute(
                "UPDATE deadlines AS d SET next_check_at = v.next, "
                "state = CASE WHEN v.breach AND d.state = 'running' THEN 'breached' ELSE d.state END, "
                "version = d.version + CASE WHEN v.breach AND d.state = 'running' THEN 1 ELSE 0 END, "
                "breached_at = CASE WHEN v.breach AND d.state = 'running' THEN %b::timestamptz "
                "ELSE d.breached_at END "
                "FROM unnest(%b::integer[], %b::timestamptz[], %b::boolean[]) AS v(id, next, breach) "
                "WHERE d.id = v.id",
                [now, ids, next_checks, is_breach],
            )
        return
    breached_ids = [i for i, breach in zip(ids, is_breach, strict=True) if breach]
    if breached_ids:
        session.execute(
            update(Deadline.__table__)
            .where(Deadline.__table__.c.id.in_(breached_ids), Deadline.state == "running")
            .values(state="breached", breached_at=now, version=Deadline.version + 1)
        )
    update_by_id(session, Deadline.__table__, "next_check_at", list(zip(ids, next_checks, strict=True)))


# -- the supervisor's daily digest -----------------------------------------------------------------------


def week_end(now: datetime) -> datetime:
    """The end of this week (Sunday 24:00 Asia/Shanghai)."""
    today = now.astimezone(BUSINESS_TZ).date()
    sunday = today + timedelta(days=6 - today.weekday())
    return datetime.combine(sunday + timedelta(days=1), time(0), tzinfo=BUSINESS_TZ).astimezone(UTC)


def digest_lines(
    session: Session, department_ids: Sequence[int] | None, *, now: datetime
) -> dict[str, dict[str, list[str]]]:
    """Return {department name: {"overdue": [...], "due_this_week": [...]}} for open deadlines."""
    query = (
        select(
            Department.name, Ticket.number, Ticket.subject, Deadline.label, Deadline.due_at, Deadline.state
        )
        .join(Ticket, Ticket.id == Deadline.ticket_id)
        .join(Department, Department.id == Ticket.department_id)
        .where(text(OPEN_STATES_SQL), Deadline.due_at.is_not(None), Deadline.due_at < week_end(now))
        .order_by(Department.name, Deadline.due_at)
    )
    if department_ids is not None:
        query = query.where(Ticket.department_id.in_(department_ids))
    report: dict[str, dict[str, list[str]]] = {}
    for name, number, subject, label, due_at, state in session.execute(query):
        bucket = "overdue" if state == "breached" or due_at <= now else "due_this_week"
        report.setdefault(name, {"overdue": [], "due_this_week": []})[bucket].append(
            f"{number}「{label}」{_fmt(due_at)} — {subject[:40]}"
        )
    return report


def digest_text(report: dict[str, dict[str, list[str]]]) -> str:
    parts = []
    for department, buckets in report.items():
        parts.append(f"■ {department}")
        parts.append(f"  已超期（{len(buckets['overdue'])}件）：")
        parts.extend(f"    {line}" for line in buckets["overdue"][:50])
        parts.append(f"  本周到期（{len(buckets['due_this_week'])}件）：")
        parts.extend(f"    {line}" for line in buckets["due_this_week"][:50])
    return "\n".join(parts)


@dataclass
class SweepTotals:
    visited: int = 0
    breached: int = 0
    reminders: int = 0
    deliveries: int = 0


def sweep_all(
    transaction: Callable[[], AbstractContextManager[Session]],
    *,
    now: datetime,
    batch: int = 1000,
    hours: WorkingHours | None = None,
    media: Sequence[str] | None = None,
    max_batches: int = 1000,
    lanes: int = 1,
) -> SweepTotals:
    """Sweep every deadline due at ``now``, in batches of ``batch``, each inside ``transaction()``.

    The calendar, the directory, the rules and the thresholds of each due time are worked out once.
    With ``media`` (the per-user media that are configured), each batch's deliveries are planned in the
    batch's own transaction, so its breaches, reminders (the ledger) and deliveries commit together: a
    crash loses nothing and repeats nothing.
    ``max_batches`` bounds one run of each lane (1,000 × 1,000 due deadlines — never reached in practice).

    ``lanes`` > 1 (PostgreSQL only: it needs SKIP LOCKED, and a ``transaction`` that gives each thread
    its own connection): that many threads sweep side by side, each taking its own batches exactly as
    two sweeps started together would. Alone, a sweep's Python and its PostgreSQL backend take turns
    (its wall time is the sum of the two); in two lanes, one lane's Python works out its batch while
    PostgreSQL writes the other's, so the two halves overlap on two cores. Each lane runs until a batch
    comes back short, which happens only when every due row after its last one is done or held by the
    other lane; a failing lane stops the others after their current batch, and its error is raised.
    """
    hours = hours or default_working_hours()
    # Shared by the lanes: loaded once by whichever lane comes first (under the lock), and the outlook of
    # each due time (a dict: two lanes working out the same outlook at once only do it twice).
    reference_data: dict[str, object] = {}
    loading, failed, plans = threading.Lock(), threading.Event(), {}

    def lane() -> SweepTotals:
        totals, after = SweepTotals(), None
        for _ in range(max_batches):
            with transaction() as session:
                with loading:
                    if not reference_data:
                        reference_data.update(
                            calendar=load_calendar(session),
                            directory=Directory.load(session),
                            rules=active_rules(session),
                        )
                result = sweep_due(
                    session, now=now, limit=batch, after=after, hours=hours, plans=plans, **reference_data
                )
                if media is not None:
                    totals.deliveries += plan_for(session, result.notifications, now=now, media=media)
            after = result.last_key
            totals.visited += result.visited
            totals.breached += result.breached
            totals.reminders += result.reminders
            if result.visited < batch or failed.is_set():
                break
        return totals

    if lanes == 1:
        return lane()

    def guarded() -> SweepTotals:
        try:
            return lane()
        except BaseException:
            failed.set()
            raise

    with ThreadPoolExecutor(lanes, thread_name_prefix="sweep-lane") as pool:
        results = [future.result() for future in [pool.submit(guarded) for _ in range(lanes)]]
    return SweepTotals(*(sum(values) for values in zip(*(astuple(r) for r in results), strict=True)))


def catch_up(
    session: Session, *, now: datetime, batch: int = 1000, hours: WorkingHours | None = None
) -> SweepTotals:
    """Sweep as the running system would have at the latest working moment (for freshly loaded demo data).

    Demo tickets are loaded all at once with a year of history; this gives them the reminders and
    escalations a live system would show today. In-app only (no outside deliveries are planned).
    """
    hours = hours or default_working_hours()
    moment = last_working_moment(now, load_calendar(session), hours)
    return sweep_all(lambda: contextlib.nullcontext(session), now=moment, batch=batch, hours=hours)
