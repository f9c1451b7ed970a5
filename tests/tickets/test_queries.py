"""The read side on SQLite and PostgreSQL: queues, keyset pages, Chinese search, the home page figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests import factories
from tracker.clock import BUSINESS_TZ
from tracker.errors import ValidationError
from tracker.search import query_words, reindex
from tracker.tickets.queries import TicketFilter, queue_count, queue_page, tickets_per_week
from tracker.workflow import doors as ds
from tracker.workflow.transitions import update_from_draft


@pytest.fixture
def dept(session):
    return factories.department(session, "sme", "中小企业服务处")


def _walk(session, user, code, *, now, sort="due", limit=3, filters=None):
    seen, cursor = [], None
    while True:
        page = queue_page(session, user, code, filters, now=now, sort=sort, cursor=cursor, limit=limit)
        seen += [r.ticket.id for r in page.rows]
        if not page.next_cursor:
            return seen
        cursor = page.next_cursor


def test_keyset_walk_covers_every_ticket_once_in_due_order(session, now, dept):
    user = factories.user(session, dept=dept, now=now)
    tickets = [
        factories.ticket(
            session, now=now - timedelta(days=n), dept=dept, channel="website", request_type="咨询"
        )
        for n in range(7)
    ]
    # One replied and closed (its reply deadline met): it sorts after every running deadline.
    ds.reply(session, tickets[6], "已答复", user=user, now=now, confirm_warnings=True)  # a short test reply
    session.flush()
    order = _walk(session, user, "all", now=now)
    assert sorted(order) == sorted(t.id for t in tickets) and len(order) == len(set(order))
    assert order[-1] == tickets[6].id
    dues = [t.deadlines[0].due_at for t in sorted(tickets[:6], key=lambda t: order.index(t.id))]
    assert dues == sorted(dues)
    by_receipt = _walk(session, user, "all", now=now, sort="received")
    assert by_receipt == [t.id for t in tickets]  # newest first


def test_queues_are_restricted_to_what_the_user_may_see(session, now, dept):
    other = factories.department(session, "it", "信息化推进处")
    staff = factories.user(session, dept=dept, now=now)
    admin = factories.user(session, role="admin", dept=other, now=now)
    factories.ticket(session, now=now, dept=dept)
    factories.ticket(session, now=now, dept=other)
    assert queue_count(session, staff, "all", now=now) == 1
    assert queue_count(session, admin, "all", now=now) == 2
    assert queue_count(session, staff, "approvals", now=now) == 0  # staff approve nothing


def test_overdue_and_due_soon(session, now, dept):
    user = factories.user(session, dept=dept, now=now)
    old = factories.ticket(
        session, now=now - timedelta(days=40), dept=dept, channel="website", request_type="咨询"
    )
    fresh = factories.ticket(session, now=now, dept=dept, channel="website", request_type="咨询")
    overdue = _walk(session, user, "overdue", now=now)
    assert old.id in overdue and fresh.id not in overdue
    due_soon = _walk(session, user, "due_soon", now=now + timedelta(days=5))
    assert fresh.id in due_soon


def test_bad_filters_and_cursors_are_refused_with_the_field_named():
    with pytest.raises(ValidationError) as error:
        TicketFilter.from_args({"received_from": "2026-02-30", "channel": "fax"})
    assert "收到日期起" in error.value.message and "渠道" in error.value.message


def test_chinese_search_on_both_databases(session, now, dept):
    user = factories.user(session, dept=dept, now=now)
    hit = factories.ticket(
        session,
        now=now,
        dept=dept,
        subject="改制企业职工",
        body="原市第三纺织厂职工办理养老保险补缴需要改制批复文件",
    )
    factories.ticket(session, now=now, dept=dept, subject="路灯", body="小区门口路灯坏了")
    for query in ("养老保险", "纺织厂 补缴", "改制批复"):
        ids = _walk(session, user, "all", now=now, filters=TicketFilter(q=query))
        assert ids == [hit.id], query
    assert _walk(session, user, "all", now=now, filters=TicketFilter(q="路灯 养老保险")) == []
    # A new text from the channel re-indexes it (the update door writes the index row).
    update_from_draft(
        session,
        hit,
        factories.draft(external_ref=hit.external_ref, subject=hit.subject, body="咨询专精特新企业认定"),
        actor="测试",
        now=now,
    )
    assert _walk(session, user, "all", now=now, filters=TicketFilter(q="专精特新")) == [hit.id]
    # …and forgets the old words (anonymisation redacts the body the same way).
    assert _walk(session, user, "all", now=now, filters=TicketFilter(q="纺织厂")) == []
    assert reindex(session) >= 2


def test_query_words_drop_punctuation_and_stop_words():
    words = query_words("请问，养老保险的补缴！")
    assert "养老保险" in words and "补缴" in words
    assert not {"，", "！", "的"} & set(words)


def test_tickets_per_week_counts_in_shanghai_weeks(session, now, dept):
    user = factories.user(session, dept=dept, now=now)
    sunday_night = datetime(2026, 3, 1, 23, 30, tzinfo=BUSINESS_TZ).astimezone(UTC)
    monday_morning = datetime(2026, 3, 2, 0, 30, tzinfo=BUSINESS_TZ).astimezone(UTC)
    factories.ticket(session, now=sunday_night, dept=dept)
    factories.ticket(session, now=monday_morning, dept=dept)
    factories.ticket(session, now=monday_morning, dept=dept, channel="website", request_type="咨询")
    weeks = dict(tickets_per_week(session, user, now=now, weeks=3))
    assert weeks[datetime(2026, 2, 23).date()] == {"hotline": 1}
    assert weeks[datetime(2026, 3, 2).date()] == {"hotline": 1, "website": 1}
