"""Issue 18 item 7: asking for an extension or a reply's sign-off tells the deciders; the decision tells the
person who asked — through the outbox (after commit), once however often the message is delivered."""

from __future__ import annotations

from sqlalchemy import select

from tests import factories
from tests.workers.conftest import at, worker_settings
from tracker.db import session_scope
from tracker.notify.models import Notification
from tracker.people.models import User
from tracker.tickets.models import Ticket
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow import doors as ds
from workers.tasks.events import process_message


def _bureau(url, now):
    with session_scope(url) as s:
        sme = factories.department(s, "sme", "中小企业服务处")
        it = factories.department(s, "it", "信息化推进处")
        office = factories.department(s, "office", "办公室")
        people = {
            "staff": factories.user(s, role="staff", dept=sme, now=now, username="zhang"),
            "boss": factories.user(s, role="supervisor", dept=sme, now=now, username="liu"),
            "boss2": factories.user(s, role="supervisor", dept=sme, now=now, username="chen"),
            "other_boss": factories.user(s, role="supervisor", dept=it, now=now, username="zhao"),
            "admin": factories.user(s, role="admin", dept=office, now=now, username="wang"),
        }
        s.flush()
        return {k: u.id for k, u in people.items()}


def _run_all(settings, url, now, topic_prefix="approval."):
    with session_scope(url) as s:
        ids = s.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.topic.like(f"{topic_prefix}%"))
            .order_by(OutboxMessage.id)
        ).all()
    ran = [process_message(settings, i, now=now) for i in ids]
    again = [process_message(settings, i, now=now) for i in ids]  # redelivered: nothing twice
    assert all(r == [] for r in again)
    return ran


def _notes(url, user_id):
    with session_scope(url) as s:
        return [
            (n.kind, n.title)
            for n in s.scalars(
                select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
            )
        ]


def test_extension_request_tells_the_deciders_and_the_decision_tells_the_requester(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    ids = _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        ticket = factories.ticket(s, now=now, dept=s.get(User, ids["staff"]).department)
        staff = s.get(User, ids["staff"])
        approval = ds.request_extension(s, ticket, user=staff, length=3, reason="需要现场核查", now=now)
        number, approval_id = ticket.number, approval.id
    # Nothing is told before the outbox is relayed (after the commit).
    assert _notes(scratch_url, ids["boss"]) == []
    _run_all(settings, scratch_url, now)
    wanted = ("approval", f"待您审批：{number}的延期申请")
    assert _notes(scratch_url, ids["boss"]) == [wanted] and _notes(scratch_url, ids["boss2"]) == [wanted]
    assert _notes(scratch_url, ids["other_boss"]) == []  # another department's supervisor: nothing
    assert _notes(scratch_url, ids["staff"]) == []  # never the person who asked
    with session_scope(scratch_url) as s:
        ds.decide_approval(
            s,
            ds.get_approval(s, approval_id),
            user=s.get(User, ids["boss"]),
            approve=False,
            now=now,
            note="理由不足",
        )
    _run_all(settings, scratch_url, now)
    assert _notes(scratch_url, ids["staff"]) == [("approval", f"您提交的延期申请未同意：{number}")]
    assert len(_notes(scratch_url, ids["boss"])) == 1  # the decider is not told of their own decision


def test_reply_sign_off_request_and_approval(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    ids = _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        ticket = factories.ticket(
            s,
            now=now,
            dept=s.get(User, ids["staff"]).department,
            channel="disclosure",
            request_type="政府信息公开申请",
        )
        approval = ds.reply(
            s, ticket, "经查，予以公开。", user=s.get(User, ids["staff"]), now=now, outcome="public"
        )
        number, approval_id, ticket_id = ticket.number, approval.id, ticket.id
    _run_all(settings, scratch_url, now)
    assert _notes(scratch_url, ids["boss"]) == [("approval", f"待您审批：{number}的答复签发")]
    with session_scope(scratch_url) as s:
        ds.decide_approval(
            s, ds.get_approval(s, approval_id), user=s.get(User, ids["boss2"]), approve=True, now=now
        )
    _run_all(settings, scratch_url, now)
    assert _notes(scratch_url, ids["staff"]) == [("approval", f"您提交的答复签发已同意：{number}")]
    with session_scope(scratch_url) as s:
        assert s.get(Ticket, ticket_id).status == "replied"


def test_a_supervisors_own_extension_granted_at_once_tells_nobody_it_waits(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    ids = _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        ticket = factories.ticket(s, now=now, dept=s.get(User, ids["boss"]).department)
        approval = ds.extend(s, ticket, user=s.get(User, ids["boss"]), length=2, reason="节前", now=now)
        assert approval.state == "approved"
    _run_all(settings, scratch_url, now)
    for who in ("boss", "boss2", "staff", "admin"):
        assert _notes(scratch_url, ids[who]) == [], who


def test_a_department_without_supervisors_asks_the_administrators(scratch_url, tmp_path):
    now = at("2026-03-04", "10:00")
    ids = _bureau(scratch_url, now)
    settings, _ = worker_settings(tmp_path, scratch_url, "memory://")
    with session_scope(scratch_url) as s:
        lone = factories.department(s, "lone", "无负责人处室")
        staff = factories.user(s, role="staff", dept=lone, now=now, username="solo")
        ticket = factories.ticket(s, now=now, dept=lone)
        ds.request_extension(s, ticket, user=staff, length=3, reason="需要核查", now=now)
        number = ticket.number
    _run_all(settings, scratch_url, now)
    assert _notes(scratch_url, ids["admin"]) == [("approval", f"待您审批：{number}的延期申请")]
