"""The batched import path writes exactly what open_ticket + the deadline engine write."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests import factories
from tracker.intake.importer import bulk_open
from tracker.models import Deadline, OutboxMessage, Ticket, TicketEvent
from tracker.services.tickets import ContactDraft, TicketDraft, open_ticket

RECEIVED = [
    datetime(2026, 3, 4, 1, 30, tzinfo=UTC),  # a working day
    datetime(2026, 3, 4, 8, 45, tzinfo=UTC),  # the same day later: the batched path reuses the day
    datetime(2026, 2, 13, 9, 0, tzinfo=UTC),  # before the 春节 holiday
    datetime(2016, 3, 5, 1, 12, tzinfo=UTC),  # long past: breached at once
    datetime(2031, 1, 6, 1, 0, tzinfo=UTC),  # a year with no calendar yet: no due time, never guessed
]


def drafts(prefix: str) -> list[TicketDraft]:
    result = []
    for i, received in enumerate(RECEIVED):
        for channel, kind, extra, urgency in (
            # 咨询 only: the engine's find_policy looks policies up by (code, version), which the
            # request-type variants of hotline.reply share (reported); see the 投诉 test below.
            ("hotline", "咨询", {}, None),
            ("hotline", "咨询", {"reply_due_at": "2026-03-20T18:00:00+08:00"}, None),
            ("hotline", "求助", {}, "紧急"),
            ("website", "建议", {}, None),
            ("weibo", "咨询", {}, None),
            ("disclosure", "政府信息公开申请", {}, None),
        ):
            result.append(
                TicketDraft(
                    channel=channel,
                    request_type=kind,
                    subject="s",
                    body="b",
                    arrived_at=received,
                    received_at=received,
                    external_ref=f"{prefix}-{channel}-{kind}-{len(extra)}-{i}",
                    urgency=urgency,
                    extra=extra,
                    applicant_type="自然人" if channel == "disclosure" else None,
                    contact=ContactDraft(phone=None),
                )
            )
    return result


DEADLINE_FIELDS = (
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


@pytest.fixture
def dept(session):
    return factories.department(session, "bureau", "市工业和信息化局")


def snapshot(session, ticket_id):
    deadlines = session.scalars(
        select(Deadline).where(Deadline.ticket_id == ticket_id).order_by(Deadline.kind)
    ).all()
    events = session.scalars(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.kind, TicketEvent.id)
    ).all()
    return (
        [tuple(getattr(d, f) for f in DEADLINE_FIELDS) for d in deadlines],
        [
            (
                e.kind,
                e.status_after,
                {k: v for k, v in e.data.items() if k not in ("number", "external_ref")},
                e.actor_label,
            )
            for e in events
        ],
    )


def test_bulk_path_equals_open_ticket_path(session, now, dept):
    engine_ids = [open_ticket(session, d, actor="导入", now=now)[0].id for d in drafts("E")]
    bulk_ids = bulk_open(session, drafts("B"), actor="导入", now=now)
    session.expire_all()
    for engine_id, bulk_id in zip(engine_ids, bulk_ids, strict=True):
        a, b = snapshot(session, engine_id), snapshot(session, bulk_id)
        for x, y in zip(a[0], b[0], strict=True):
            assert x == y, [(f, p, q) for f, p, q in zip(DEADLINE_FIELDS, x, y, strict=True) if p != q]
        assert a[1] == b[1]
        engine_ticket, bulk_ticket = session.get(Ticket, engine_id), session.get(Ticket, bulk_id)
        assert engine_ticket.number[:6] == bulk_ticket.number[:6]
        assert (engine_ticket.status, engine_ticket.department_id) == (
            bulk_ticket.status,
            bulk_ticket.department_id,
        )
    outbox = session.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id.in_(bulk_ids))).all()
    assert sorted(m.ticket_id for m in outbox if m.topic == "ticket.created") == sorted(bulk_ids)


def test_bulk_path_refuses_what_open_ticket_refuses(session, now, dept):
    bad = replace(drafts("X")[0], request_type="吐槽")
    with pytest.raises(Exception, match="request_type"):
        open_ticket(session, bad, actor="x", now=now)
    with pytest.raises(Exception, match="request_type"):
        bulk_open(session, [bad], actor="x", now=now)


def test_bulk_complaint_gets_fifteen_working_days(session, now, dept):
    """rules.md §3 fallback: 投诉 15 working days (2026-03-04 + 15 working days = 2026-03-25)."""
    draft = replace(drafts("C")[0], request_type="投诉")
    (ticket_id,) = bulk_open(session, [draft], actor="导入", now=now)
    reply = session.scalar(select(Deadline).where(Deadline.ticket_id == ticket_id, Deadline.kind == "reply"))
    assert reply.due_at == datetime(2026, 3, 25, 16, 0, tzinfo=UTC)
    assert "15个工作日" in reply.explanation
