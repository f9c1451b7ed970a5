"""Each process keeps the calendar, deadline policies, reminder rules and departments (tracker.reference)
and reads them again only when the database's reference stamp changed: a change made in the dashboard,
the CLI or plain SQL applies to the very next push, and a rolled-back change leaves nothing behind."""

import uuid
from datetime import date

import pytest
from sqlalchemy import event, text

from tests import factories
from tests.intake.helpers import post_signed
from tests.web.test_dashboard import post, sign_in
from tracker import reference
from tracker.deadlines.policies import policies_for
from tracker.reminders.rules import active_rules
from tracker.tickets.models import Deadline, Ticket


def order() -> dict:
    """A complaint without the work order's own due times: the reply deadline follows the policy."""
    return {
        "order_no": f"HL{uuid.uuid4().hex[:12]}",
        "accepted_at": "2026-03-04 09:30:00",
        "request_type": "投诉",
        "content": "小区旁工厂夜间噪音扰民，请处理。",
    }


def reply_deadline(session, response) -> Deadline:
    assert response.status_code == 201, response.get_json()
    ticket = session.get(Ticket, response.get_json()["ticket"]["id"])
    return next(d for d in ticket.deadlines if d.kind == "reply")


def test_a_policy_changed_in_the_dashboard_applies_to_the_next_push(client, session, key, dept, now):
    before = reply_deadline(session, post_signed(client, "/api/v1/intake/hotline", order(), *key))
    assert (before.policy_code, before.policy_version) == ("hotline.reply.complaint", "gd-2020")

    sign_in(client, factories.user(session, role="admin", dept=dept, now=now))
    session.commit()
    saved = post(
        client,
        "/admin/policies",
        code="hotline.reply.complaint",
        unit="working_days",
        length="5",
        effective_from="2026-01-01",
        request_type="投诉",
        reason="本局承诺投诉5个工作日内办结",
    )
    assert saved.status_code == 302

    after = reply_deadline(session, post_signed(client, "/api/v1/intake/hotline", order(), *key))
    assert after.policy_code == "hotline.reply.complaint" and after.policy_version.startswith("admin-")
    assert after.due_at < before.due_at  # 5 working days instead of 15 from the same receipt time


def test_a_reminder_rule_changed_by_plain_sql_is_read_again(session, now):
    before = active_rules(session)
    assert active_rules(session) is before  # kept: the stamp did not change
    session.execute(
        text(
            "INSERT INTO reminder_rules (channel, deadline_kind, days_before, is_escalating, is_repeating,"
            " is_active, updated_at) VALUES ('hotline', 'reply', '[3]', true, false, true, :now)"
        ),
        {"now": now},
    )
    after = active_rules(session)
    assert len(after) == len(before) + 1
    assert any(r.channel == "hotline" and r.days_before == (3,) for r in after)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO departments (code, name) VALUES ('stamp-test', '测试处')",
        "UPDATE departments SET name = name || '（改）'",
        "DELETE FROM holiday_days WHERE day = (SELECT min(day) FROM holiday_days)",
        "UPDATE calendar_years SET source = source",
    ],
)
def test_every_write_to_a_stamped_table_changes_the_stamp(session, dept, statement):
    """(Policy overrides and reminder rules: the two tests above.)"""
    before = reference.current_stamp(session)
    session.execute(text(statement))
    assert reference.current_stamp(session) != before


def test_a_rolled_back_change_leaves_no_stamp_for_another_change_to_reuse(session, dept):
    committed = reference.current_stamp(session)
    savepoint = session.begin_nested()
    session.execute(text("INSERT INTO departments (code, name) VALUES ('gone', '回滚处')"))
    rolled_back = reference.current_stamp(session)
    savepoint.rollback()
    assert reference.current_stamp(session) == committed
    session.execute(text("INSERT INTO departments (code, name) VALUES ('kept', '保留处')"))
    assert reference.current_stamp(session) not in (committed, rolled_back)


def test_policies_seen_inside_the_changing_transaction_and_kept_per_stamp(session, now):
    from tracker.deadlines.service import add_policy_override

    before = policies_for(session)
    assert policies_for(session) is before
    add_policy_override(
        session,
        code="hotline.reply.consult",
        unit="working_days",
        length=1,
        effective_from=date(2026, 1, 1),
        reason="咨询当日答复",
        now=now,
    )
    after = policies_for(session)
    assert len(after) == len(before) + 1 and after[-1].is_override


def test_a_value_is_built_once_per_stamp_and_never_shared_between_databases():
    builds = []

    def build():
        builds.append(1)
        return object()

    first = reference.cached(reference.Stamp("db-a", 1), "test value", build)
    assert reference.cached(reference.Stamp("db-a", 1), "test value", build) is first
    assert reference.cached(reference.Stamp("db-b", 1), "test value", build) is not first
    assert reference.cached(reference.Stamp("db-a", 2), "test value", build) is not first
    assert len(builds) == 3


def test_a_new_order_is_opened_in_a_bounded_number_of_statements(client, session, key, engine):
    """The push's round trips: a regression that reads the reference data (or the ticket) again per
    request shows here. Counted on the second push (the first reads the key and the reference data)."""
    post_signed(client, "/api/v1/intake/hotline", order(), *key)
    statements = []

    def count(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        response = post_signed(client, "/api/v1/intake/hotline", order(), *key)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert reply_deadline(session, response).policy_code == "hotline.reply.complaint"
    # look-up, stamp, contact, number, ticket, its events (created + deadlines opened), outbox, deadlines,
    # phone duplicates. SQLite returns the ids of a multi-row INSERT in no promised order, so SQLAlchemy
    # inserts the three events one by one there (in-process calls, not round trips).
    limit = 9 if engine.dialect.name == "postgresql" else 11
    assert len(statements) <= limit, "\n".join(statements)
