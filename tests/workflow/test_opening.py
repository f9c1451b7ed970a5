"""Every writer of new tickets writes the same planned rows: a batch by COPY, a batch by INSERT and a batch of
one (`open_ticket`) agree field by field, and the planner computes what the deadline engine computes."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests import factories
from tracker.deadlines.planner import DeadlinePlanner
from tracker.reports.facts import FACTS, TOPIC_FACTS
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.models import Deadline, Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow import batch_writer
from tracker.workflow.opening import bulk_open, open_ticket

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
                    category="供暖" if i % 2 and channel != "disclosure" else None,
                    contact=ContactDraft(phone=None),
                )
            )
        # Issue 18: the count starts where `period_start` says on both paths — a 12345 order's 派单, an
        # application's legal receipt (a registered letter signed for a day after it arrived).
        result.append(
            TicketDraft(
                channel="hotline",
                request_type="咨询",
                subject="s",
                body="b",
                arrived_at=received,
                received_at=received,
                external_ref=f"{prefix}-dispatched-{i}",
                extra={"dispatched_at": (received + timedelta(hours=30)).isoformat()},
                contact=ContactDraft(phone=None),
            )
        )
        result.append(
            TicketDraft(
                channel="disclosure",
                request_type="政府信息公开申请",
                subject="s",
                body="b",
                arrived_at=received,
                signed_at=received + timedelta(days=1),
                received_via="挂号信",
                external_ref=f"{prefix}-signed-{i}",
                applicant_type="商业企业",
                contact=ContactDraft(phone=None),
            )
        )
    return result


# Every column of the table, not the writers' list: a column a writer forgets shows up as a difference.
DEADLINE_FIELDS = tuple(c.name for c in Deadline.__table__.columns if c.name not in ("id", "ticket_id"))


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


@pytest.fixture(params=["copy", "insert"])
def write_mode(request, monkeypatch):
    """On PostgreSQL, a batch of COPY_THRESHOLD rows or more goes through COPY: test both writers."""
    if request.param == "copy":
        monkeypatch.setattr(batch_writer, "COPY_THRESHOLD", 1)
    return request.param


def test_bulk_path_equals_open_ticket_path(session, now, dept, write_mode):
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
        # The report facts: the bulk path writes the reply due time and the topic label into the row itself.
        facts = (*FACTS, *TOPIC_FACTS)
        assert [getattr(engine_ticket, f) for f in facts] == [getattr(bulk_ticket, f) for f in facts]
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


def _deadlines(session, ticket_id):
    return {d.kind: d for d in session.scalars(select(Deadline).where(Deadline.ticket_id == ticket_id)).all()}


def test_same_day_different_types_get_their_own_deadlines(session, now, dept, write_mode):
    """The planner memoises per (policy, receipt day): types sharing a day must not share a due time."""
    base = drafts("T")[0]  # 2026-03-04 09:30 Asia/Shanghai
    batch = [
        replace(base, request_type=kind, external_ref=f"T-{i}")
        for i, kind in enumerate(("咨询", "投诉", "求助", "咨询", "投诉"))
    ]
    ids = bulk_open(session, batch, actor="导入", now=now)
    due = [_deadlines(session, tid)["reply"].due_at for tid in ids]
    # 2 / 15 / 10 working days counted from the next day, ending at 24:00 local (16:00 UTC).
    assert due == [
        datetime(2026, 3, 6, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 25, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 18, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 6, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 25, 16, 0, tzinfo=UTC),
    ]


def test_holiday_boundary_rows_across_batches_match_the_engine(session, now, dept, write_mode):
    """Receipts either side of local midnight and of the 2026 春节 holiday, in two batches sharing one
    planner (as an import does), each get exactly the deadlines open_ticket computes."""
    base = drafts("H")[0]
    moments = [
        datetime(2026, 2, 13, 15, 30, tzinfo=UTC),  # Fri 13 Feb 23:30 local, a working day
        datetime(2026, 2, 13, 16, 30, tzinfo=UTC),  # Sat 14 Feb 00:30 local, a 调休 working day
        datetime(2026, 2, 14, 16, 1, tzinfo=UTC),  # Sun 15 Feb 00:01 local, the holiday's first day
        datetime(2026, 2, 23, 15, 59, tzinfo=UTC),  # Mon 23 Feb 23:59 local, its last day
        datetime(2026, 2, 23, 16, 1, tzinfo=UTC),  # Tue 24 Feb 00:01 local, back at work
    ]
    batch = [
        replace(base, received_at=m, arrived_at=m, external_ref=f"{prefix}-{i}")
        for prefix in ("E", "B")
        for i, m in enumerate(moments)
    ]
    engine_ids = [open_ticket(session, d, actor="导入", now=now)[0].id for d in batch[: len(moments)]]
    planner = DeadlinePlanner(session, now=now)
    bulk = batch[len(moments) :]
    bulk_ids = [
        *bulk_open(session, bulk[:2], actor="导入", now=now, planner=planner),
        *bulk_open(session, bulk[2:], actor="导入", now=now, planner=planner),
    ]
    session.expire_all()
    for engine_id, bulk_id in zip(engine_ids, bulk_ids, strict=True):
        assert snapshot(session, engine_id) == snapshot(session, bulk_id)
    replies = [_deadlines(session, tid)["reply"].due_at for tid in bulk_ids]
    # 咨询, 2 working days: 14 Feb (调休) and 24 Feb; then 24, 25; the holiday days all count from 24 Feb.
    assert replies[:2] == [datetime(2026, 2, 24, 16, 0, tzinfo=UTC), datetime(2026, 2, 25, 16, 0, tzinfo=UTC)]
    assert replies[2] == replies[3] == replies[1]
    assert replies[4] == datetime(2026, 2, 26, 16, 0, tzinfo=UTC)


def test_planner_memo_stays_bounded(session, now, dept, monkeypatch):
    monkeypatch.setattr(DeadlinePlanner, "MAX_ENTRIES", 3)
    planner = DeadlinePlanner(session, now=now)
    base = drafts("M")[0]
    days = [datetime(2026, 3, d, 2, 0, tzinfo=UTC) for d in range(2, 13)]
    batch = [replace(base, received_at=m, arrived_at=m, external_ref=f"M-{i}") for i, m in enumerate(days)]
    ids = bulk_open(session, batch, actor="导入", now=now, planner=planner)
    assert len(planner._plan) <= 3 and len(planner._policy) <= 3
    engine_ids = [
        open_ticket(session, replace(d, external_ref=f"ME-{i}"), actor="导入", now=now)[0].id
        for i, d in enumerate(batch)
    ]
    session.expire_all()
    for engine_id, bulk_id in zip(engine_ids, ids, strict=True):
        assert snapshot(session, engine_id)[0] == snapshot(session, bulk_id)[0]


def test_planners_share_the_due_times_of_their_reference_data_but_not_their_state(
    session, now, dept, monkeypatch
):
    """The 12345 push makes a planner per request: the second request of a receipt day computes no
    deadline again, yet each planner judges running / breached at its own `now`; a change of the
    reference data (its stamp) starts afresh."""
    from tracker import reference
    from tracker.deadlines import engine
    from tracker.deadlines import policies as deadline_policies

    monkeypatch.setattr(reference, "_cache", {})  # nothing kept from earlier tests on this database
    calls = []
    real_compute_due = engine.compute_due

    def counted_compute_due(*args, **kwargs):
        calls.append(1)
        return real_compute_due(*args, **kwargs)

    monkeypatch.setattr(engine, "compute_due", counted_compute_due)
    order = drafts("S")[0]  # hotline 咨询, received 2026-03-04: sign and reply deadlines
    planned = DeadlinePlanner(session, now=now).plan_draft(order)
    assert len(calls) == len(planned) == 2
    after_due = DeadlinePlanner(session, now=max(d.plan[0] for d in planned) + timedelta(days=1))
    planned_later = after_due.plan_draft(order)
    assert len(calls) == 2
    assert [d.plan[0] for d in planned_later] == [d.plan[0] for d in planned]
    assert {d.plan[1] for d in planned} == {deadline_policies.RUNNING}
    assert {d.plan[1] for d in planned_later} == {deadline_policies.BREACHED}

    factories.department(session, "sme", "中小企业服务处")  # reference data: a new stamp
    DeadlinePlanner(session, now=now).plan_draft(order)
    assert len(calls) == 4
