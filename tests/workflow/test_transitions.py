"""The ticket core: opening, idempotent re-delivery, numbers, transitions and their events."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests import factories
from tracker.errors import IllegalTransition, ValidationError
from tracker.intake.records import IntakeRecord, apply_record
from tracker.people.access import EVERYTHING
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow.opening import open_ticket
from tracker.workflow.transitions import (
    add_note,
    assign_ticket,
    close_ticket,
    merge_tickets,
    rate_ticket,
    reply_ticket,
    transfer_ticket,
    transition,
)


def _events(session, ticket, prefix="ticket."):
    """The ticket's own events (deadline events are checked separately)."""
    rows = session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
    )
    return [e for e in rows if e.kind.startswith(prefix)]


def test_open_ticket_writes_ticket_event_and_outbox_together(session, now):
    dept = factories.department(session)
    ticket = factories.ticket(session, now=now, dept=dept)
    assert ticket.status == "received"
    assert ticket.number.startswith("RX2026")
    events = _events(session, ticket)
    assert [e.kind for e in events] == ["ticket.created"]
    [created] = events
    assert created.kind == "ticket.created" and created.status_after == "received"
    outbox = session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == created.id))
    assert outbox.topic == "ticket.created" and outbox.published_at is None


def test_redelivered_order_updates_instead_of_duplicating(session, now):
    dept = factories.department(session)
    first, created = open_ticket(
        session,
        factories.draft(external_ref="12345-A1", arrived_at=now, department_code=dept.code),
        actor="12345平台",
        now=now,
    )
    assert created
    same, created_again = open_ticket(
        session,
        factories.draft(external_ref="12345-A1", arrived_at=now, department_code=dept.code),
        actor="12345平台",
        now=now + timedelta(minutes=5),
    )
    assert not created_again and same.id == first.id
    assert [e.kind for e in _events(session, first)] == [
        "ticket.created"
    ]  # nothing changed, nothing recorded
    # open_ticket leaves an existing ticket as it is; the update is the update-from-channel door's.
    apply_record(
        session,
        IntakeRecord(
            factories.draft(
                external_ref="12345-A1",
                arrived_at=now,
                department_code=dept.code,
                body="补充：噪音持续到凌晨两点。",
            )
        ),
        actor="12345平台",
        reach=EVERYTHING,
        now=now + timedelta(minutes=9),
    )
    update = _events(session, first)[-1]
    assert (
        update.kind == "ticket.updated" and update.data["changes"]["body"][1] == "补充：噪音持续到凌晨两点。"
    )
    assert (
        session.scalar(select(func.count()).select_from(Ticket).where(Ticket.external_ref == "12345-A1")) == 1
    )


def test_ticket_numbers_are_unique_and_increasing(session, now):
    dept = factories.department(session)
    numbers = [factories.ticket(session, now=now, dept=dept).number for _ in range(5)]
    assert len(set(numbers)) == 5
    assert numbers == sorted(numbers)


def test_citizen_text_is_stored_exactly_as_given(session, now):
    dept = factories.department(session)
    hostile = "<script>alert('x')</script>'; DROP TABLE tickets; --\u3000全角空格"
    ticket = factories.ticket(session, now=now, dept=dept, body=hostile, subject=hostile[:30])
    session.expire_all()
    assert session.get(Ticket, ticket.id).body == hostile


def test_full_lifecycle_records_every_step(session, now):
    dept = factories.department(session)
    staff = factories.user(session, dept=dept, now=now)
    ticket = factories.ticket(session, now=now, dept=dept)
    assign_ticket(session, ticket, staff, actor=staff, now=now)
    transition(session, ticket, "start", actor=staff, now=now)
    add_note(session, ticket, "已电话联系诉求人", actor=staff, now=now)
    reply_ticket(session, ticket, "已责令施工单位整改。", actor=staff, now=now)
    rate_ticket(session, ticket, "满意", actor="回访", now=now, is_resolved=True)
    close_ticket(session, ticket, actor=staff, now=now)
    kinds = [(e.kind, e.status_after) for e in _events(session, ticket)]
    assert kinds == [
        ("ticket.created", "received"),
        ("ticket.status_changed", "assigned"),
        ("ticket.status_changed", "in_progress"),
        ("ticket.note", None),
        ("ticket.status_changed", "replied"),
        ("ticket.rated", None),
        ("ticket.status_changed", "closed"),
    ]
    assert ticket.status == "closed" and ticket.satisfaction == "满意"


def test_illegal_transition_changes_nothing(session, now):
    dept = factories.department(session)
    ticket = factories.ticket(session, now=now, dept=dept)
    with pytest.raises(IllegalTransition):
        transition(session, ticket, "close", actor="测试", now=now)
    assert ticket.status == "received"
    assert len(_events(session, ticket)) == 1


def test_disclosure_reply_requires_an_outcome(session, now):
    dept = factories.department(session)
    ticket = factories.ticket(
        session,
        now=now,
        dept=dept,
        channel="disclosure",
        request_type="政府信息公开申请",
        applicant_type="自然人",
    )
    with pytest.raises(ValidationError, match="答复结果"):
        reply_ticket(session, ticket, "同意公开", actor="测试", now=now)


def test_transfer_needs_a_reason_and_moves_the_ticket(session, now):
    a, b = factories.department(session), factories.department(session)
    ticket = factories.ticket(session, now=now, dept=a)
    with pytest.raises(ValidationError):
        transfer_ticket(session, ticket, b, "  ", actor="测试", now=now)
    transfer_ticket(session, ticket, b, "属于b处职责", actor="测试", now=now)
    assert ticket.department_id == b.id and ticket.status == "transferred"


def test_merge_keeps_both_histories(session, now):
    dept = factories.department(session)
    one, two = factories.ticket(session, now=now, dept=dept), factories.ticket(session, now=now, dept=dept)
    merge_tickets(session, two, one, actor="测试", now=now)
    assert two.status == "merged" and two.merged_into_id == one.id
    assert _events(session, one)[-1].kind == "ticket.merged_in"


def test_unknown_channel_and_bad_type_are_refused(session, now):
    dept = factories.department(session)
    with pytest.raises(ValidationError, match="未知渠道"):
        factories.ticket(session, now=now, dept=dept, channel="fax")
    with pytest.raises(ValidationError) as info:
        factories.ticket(session, now=now, dept=dept, request_type="闲聊")
    assert "request_type" in info.value.fields


def test_timestamps_come_back_aware_utc(session, now):
    dept = factories.department(session)
    ticket = factories.ticket(session, now=now, dept=dept)
    session.expire_all()
    reloaded = session.get(Ticket, ticket.id)
    assert reloaded.received_at == now and reloaded.received_at.tzinfo is not None


def _deadline(ticket, kind):
    return next(d for d in ticket.deadlines if d.kind == kind)


def test_new_ticket_gets_its_channel_deadlines_with_explanations(session, now):
    dept = factories.department(session)
    hotline = factories.ticket(session, now=now, dept=dept)
    assert {d.kind for d in hotline.deadlines} == {"sign", "reply"}
    reply = _deadline(hotline, "reply")
    assert reply.state == "running" and reply.due_at > now and "工作日" in reply.explanation
    assert [e.kind for e in _events(session, hotline, "deadline.")] == ["deadline.opened", "deadline.opened"]


def test_reply_meets_and_close_cancels_deadlines(session, now):
    dept = factories.department(session)
    staff = factories.user(session, dept=dept, now=now)
    ticket = factories.ticket(session, now=now, dept=dept)
    assign_ticket(session, ticket, staff, actor=staff, now=now)
    assert _deadline(ticket, "sign").state == "met"
    reply_ticket(session, ticket, "已处理。", actor=staff, now=now)
    assert _deadline(ticket, "reply").state == "met"


def test_disclosure_correction_pauses_then_restarts_the_reply_clock(session, now):
    from datetime import timedelta

    from tracker.workflow.transitions import receive_correction, request_correction

    dept = factories.department(session)
    ticket = factories.ticket(
        session,
        now=now,
        dept=dept,
        channel="disclosure",
        request_type="政府信息公开申请",
        applicant_type="自然人",
    )
    first_due = _deadline(ticket, "reply").due_at
    request_correction(session, ticket, "请补充所需信息的文号", actor="测试", now=now + timedelta(days=1))
    assert ticket.status == "waiting_applicant"
    assert _deadline(ticket, "reply").state == "paused"
    assert _deadline(ticket, "correction_notice").state == "met"
    corrected = now + timedelta(days=14)
    receive_correction(session, ticket, corrected_received_at=corrected, actor="测试", now=corrected)
    reply = _deadline(ticket, "reply")
    assert ticket.status == "in_progress" and reply.state == "running"
    assert reply.due_at > first_due and "重新起算" in reply.explanation
