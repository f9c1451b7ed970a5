"""The sweep on real databases (SQLite and PostgreSQL): thresholds, escalation, ledger, versions."""

import contextlib
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests import factories
from tracker.clock import BUSINESS_TZ
from tracker.deadlines import service as deadlines
from tracker.notify.models import Delivery, Notification
from tracker.notify.service import mark_read, notify, unread_count
from tracker.people.models import User
from tracker.reminders.rules import save_reminder_rule
from tracker.reminders.sweep import sweep_all, sweep_due
from tracker.sql.bulk import id_in, insert_rows, read_rows
from tracker.tickets.models import Deadline, Ticket, TicketEvent
from tracker.workflow.transitions import assign_ticket


def at(day: str, hhmm: str = "09:00") -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(date.fromisoformat(day), time(h, m), tzinfo=BUSINESS_TZ).astimezone(UTC)


def end_of(day: str) -> datetime:
    return at(day, "00:00") + timedelta(days=1)


def _bureau(session, now):
    dept = factories.department(session)
    office = factories.department(session, "office", "办公室")
    people = {
        "staff": factories.user(session, role="staff", dept=dept, now=now),
        "supervisor": factories.user(session, role="supervisor", dept=dept, now=now),
        "admin": factories.user(session, role="admin", dept=office, now=now),
    }
    return dept, people


def _ticket_due(session, dept, people, due_at, now):
    ticket = factories.ticket(session, now=now, dept=dept)
    assign_ticket(session, ticket, people["staff"], actor="测试", now=now)
    deadlines.override_deadline(
        session, ticket, "reply", due_at=due_at, reason="测试期限", now=now, actor="测试"
    )
    session.flush()
    return ticket, deadlines.get_deadline(ticket, "reply")


def _inbox(session, user):
    return [
        n.title
        for n in session.scalars(
            select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)
        )
    ]


def test_reminders_follow_thresholds_escalate_and_repeat(session):
    start = at("2026-02-25", "10:00")
    dept, people = _bureau(session, start)
    ticket, deadline = _ticket_due(session, dept, people, end_of("2026-03-09"), start)
    # The flush hook moved next_check_at from the due time to the first threshold.
    assert deadline.next_check_at == at("2026-03-04")

    assert sweep_due(session, now=at("2026-03-04", "08:59")).visited == 0
    first = sweep_due(session, now=at("2026-03-04", "09:01"))
    assert (first.visited, first.reminders) == (1, 1)
    assert _inbox(session, people["staff"]) == [f"【期限提醒】{ticket.number}「答复」还有3个工作日到期"]
    # The same moment again, or a minute later: nothing is due, nothing is sent twice.
    assert sweep_due(session, now=at("2026-03-04", "09:02")).visited == 0

    sweep_due(session, now=at("2026-03-06", "09:30"))  # 1 working day before (Friday)
    sweep_due(session, now=at("2026-03-07", "12:00"))  # Saturday: nothing
    sweep_due(session, now=at("2026-03-09", "09:00"))  # due day
    assert len(_inbox(session, people["staff"])) == 3
    assert _inbox(session, people["supervisor"]) == []

    # Midnight: breached, but the escalation waits for the morning.
    night = sweep_due(session, now=at("2026-03-10", "00:01"))
    assert night.breached == 1 and night.reminders == 0
    session.expire_all()
    assert session.get(Deadline, deadline.id).state == "breached"
    morning = sweep_due(session, now=at("2026-03-10", "09:00"))
    assert morning.reminders == 2  # the handler and the supervisor
    assert _inbox(session, people["supervisor"])[-1].startswith("【已超期】")
    # Next working day: supervisor and office, once.
    sweep_due(session, now=at("2026-03-11", "09:00"))
    sweep_due(session, now=at("2026-03-11", "09:05"))
    assert _inbox(session, people["admin"]) == [f"【超期督办】{ticket.number}「答复」已超期2个工作日"]
    assert len(_inbox(session, people["supervisor"])) == 2
    breaches = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "deadline.breached")
    ).all()
    assert len(breaches) == 1
    assert (breaches[0].actor_label, breaches[0].occurred_at) == ("系统", at("2026-03-10", "00:01"))
    assert breaches[0].data == {
        "deadline": "reply",
        "label": "答复",
        "due_at": end_of("2026-03-09").isoformat(),
        "version": deadline.version,
    }


def test_extension_gives_a_new_version_and_reminders_follow_the_new_due_time(session):
    start = at("2026-02-25", "10:00")
    dept, people = _bureau(session, start)
    ticket, deadline = _ticket_due(session, dept, people, end_of("2026-03-09"), start)
    sweep_due(session, now=at("2026-03-06", "10:00"))
    assert len(_inbox(session, people["staff"])) == 1
    old_version = deadline.version
    deadlines.override_deadline(
        session,
        ticket,
        "reply",
        due_at=end_of("2026-03-20"),
        reason="延期",
        now=at("2026-03-06", "11:00"),
        actor="测试",
    )
    session.flush()
    assert deadline.version > old_version
    assert deadline.next_check_at == at("2026-03-17")  # 3 working days before 20 March
    assert sweep_due(session, now=at("2026-03-09", "10:00")).reminders == 0  # old thresholds are gone
    sweep_due(session, now=at("2026-03-17", "10:00"))
    titles = _inbox(session, people["staff"])
    assert len(titles) == 2 and "还有3个工作日" in titles[-1]
    versions = set(
        session.scalars(select(Notification.deadline_version).where(Notification.ticket_id == ticket.id))
    )
    assert versions == {old_version, deadline.version}


def test_read_rows_gives_the_rows_sqlalchemy_gives(session):
    """The sweep reads its rows with `read_rows` (a binary cursor on PostgreSQL): the same values, as tuples."""
    start = at("2026-02-25", "10:00")
    dept, people = _bureau(session, start)
    ids = [
        _ticket_due(session, dept, people, end_of(day), start)[1].id for day in ("2026-03-09", "2026-03-10")
    ]
    query = (
        select(Deadline.id, Deadline.label, Deadline.due_at, Deadline.next_check_at, Ticket.number)
        .join(Ticket, Ticket.id == Deadline.ticket_id)
        .where(Deadline.due_at >= at("2026-03-09", "00:00"), id_in(session, Deadline.id, [*ids, ids[-1] + 1]))
        .order_by(Deadline.id)
    )
    rows = read_rows(session, query)
    assert rows == [tuple(row) for row in session.execute(query)] and len(rows) == 2
    assert all(isinstance(row, tuple) and row[2].utcoffset() == timedelta(0) for row in rows)
    assert {row[2] for row in rows} == {end_of("2026-03-09"), end_of("2026-03-10")}


def test_the_ledger_refuses_a_second_notification_for_the_same_key(session):
    start = at("2026-02-25", "10:00")
    dept, people = _bureau(session, start)
    _ticket, deadline = _ticket_due(session, dept, people, end_of("2026-03-09"), start)
    sweep_due(session, now=at("2026-03-04", "10:00"))
    # A second sweep that read the row before the first moved it on (as two sweeps at once would).
    session.execute(
        Deadline.__table__.update()
        .where(Deadline.__table__.c.id == deadline.id)
        .values(next_check_at=at("2026-03-04"))
    )
    again = sweep_due(session, now=at("2026-03-04", "10:00"))
    assert again.visited == 1 and again.reminders == 0
    assert len(_inbox(session, people["staff"])) == 1


def test_unassigned_ticket_reminds_the_supervisor_and_rules_are_configurable(session):
    start = at("2026-02-25", "10:00")
    dept, people = _bureau(session, start)
    save_reminder_rule(
        session,
        channel="hotline",
        deadline_kind=None,
        days_before=[2],
        is_escalating=True,
        is_repeating=False,
        now=start,
    )
    ticket = factories.ticket(session, now=start, dept=dept)
    deadlines.override_deadline(
        session, ticket, "reply", due_at=end_of("2026-03-09"), reason="测试", now=start, actor="测试"
    )
    session.flush()
    assert deadlines.get_deadline(ticket, "reply").next_check_at == at("2026-03-05")
    sweep_due(session, now=at("2026-03-05", "10:00"))
    replies = [t for t in _inbox(session, people["supervisor"]) if "「答复」" in t]
    assert replies == [f"【期限提醒】{ticket.number}「答复」还有2个工作日到期"]
    # The unsigned work order's 签收 deadline has passed too: that one escalates to the supervisor.
    assert any("「签收」已超过期限" in t for t in _inbox(session, people["supervisor"]))
    assert unread_count(session, people["supervisor"]) == 2
    assert mark_read(session, people["supervisor"], now=at("2026-03-05", "11:00")) == 2
    assert unread_count(session, people["supervisor"]) == 0


def test_a_reminder_is_its_own_ledger_entry(session):
    start = at("2026-02-25", "10:00")
    dept, people = _bureau(session, start)
    due = [_ticket_due(session, dept, people, end_of("2026-03-09"), start) for _ in range(3)]
    assert sweep_due(session, now=at("2026-03-04", "10:00")).reminders == 3
    reminders = session.execute(
        select(Notification, Deadline)
        .join(Deadline, Deadline.id == Notification.deadline_id)
        .where(Notification.deadline_id.is_not(None))
    ).all()
    # Each points at a deadline of its own ticket, under the version and due time it was decided for.
    assert sorted((n.ticket_id, n.deadline_id) for n, _ in reminders) == sorted(
        (ticket.id, deadline.id) for ticket, deadline in due
    )
    for note, deadline in reminders:
        assert note.ticket_id == deadline.ticket_id
        assert (note.deadline_version, note.due_at, note.threshold) == (
            deadline.version,
            deadline.due_at,
            "before:3",
        )
        assert note.dedupe_key is None and note.user_id == people["staff"].id

    # The unique key refuses the same reminder written again, by any path …
    note = reminders[0][0]
    again = {
        "user_id": note.user_id,
        "ticket_id": note.ticket_id,
        "kind": note.kind,
        "title": note.title,
        "body": note.body,
        "link": note.link,
        "created_at": note.created_at,
        "deadline_id": note.deadline_id,
        "deadline_version": note.deadline_version,
        "threshold": note.threshold,
        "due_at": note.due_at,
    }
    assert (
        insert_rows(session, Notification.__table__, [again], ignore_conflicts=True, returning=("id",)) == []
    )
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Notification(**again))
        session.flush()
    # … while other notifications, which leave the reminder key empty, may repeat.
    notify(session, [people["staff"].id], kind="status", title="状态变化", now=start)
    notify(session, [people["staff"].id], kind="status", title="状态变化", now=start)
    assert (
        session.scalar(select(func.count()).select_from(Notification).where(Notification.title == "状态变化"))
        == 2
    )
    # A message with a dedupe key is still made once per key (a unique index over the keyed rows only).
    keyed = {**again, "deadline_id": None, "deadline_version": None, "threshold": None, "dedupe_key": "k:1"}
    session.add(Notification(**keyed))
    session.flush()
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(Notification(**keyed))
        session.flush()


def test_no_reference_of_a_sweep_dangles(session):
    """Every id the sweep's events, reminders and deliveries hold exists (and belongs to the right ticket)."""
    start = at("2026-02-25", "10:00")
    dept, people = _bureau(session, start)
    due_times = [end_of(f"2026-03-{6 + n % 6:02d}") for n in range(12)]
    for due_at in due_times:
        _ticket_due(session, dept, people, due_at, start)
    moments = [at("2026-03-04", "10:00"), at("2026-03-10", "00:01"), at("2026-03-10", "09:30")]
    made = 0
    for moment in moments:
        made += sweep_all(
            lambda: contextlib.nullcontext(session), now=moment, batch=5, media=("email",)
        ).reminders
    assert made > 12  # handler reminders, then escalations to the handler and the supervisor

    def dangling(query) -> int:
        return session.scalar(select(func.count()).select_from(query.subquery()))

    reminder = Notification.deadline_id.is_not(None)
    breaches = select(TicketEvent.id).where(TicketEvent.kind == "deadline.breached")
    assert dangling(breaches) == sum(due_at <= moments[-1] for due_at in due_times)
    assert (
        dangling(breaches.outerjoin(Ticket, Ticket.id == TicketEvent.ticket_id).where(Ticket.id.is_(None)))
        == 0
    )
    assert (
        dangling(
            select(Notification.id).outerjoin(User, User.id == Notification.user_id).where(User.id.is_(None))
        )
        == 0
    )
    assert (
        dangling(
            select(Notification.id)
            .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
            .where(Notification.ticket_id.is_not(None), Ticket.id.is_(None))
        )
        == 0
    )
    # A reminder's deadline exists and belongs to the reminder's ticket.
    assert (
        dangling(
            select(Notification.id)
            .outerjoin(
                Deadline,
                (Deadline.id == Notification.deadline_id) & (Deadline.ticket_id == Notification.ticket_id),
            )
            .where(reminder, Deadline.id.is_(None))
        )
        == 0
    )
    # One e-mail delivery per reminder, each for its notification's user.
    deliveries = session.execute(
        select(Delivery.user_id, Notification.user_id, Delivery.medium).join(
            Notification, Notification.id == Delivery.notification_id
        )
    ).all()
    assert len(deliveries) == session.scalar(select(func.count()).select_from(Delivery)) == made
    assert all(mine == theirs and medium == "email" for mine, theirs, medium in deliveries)
