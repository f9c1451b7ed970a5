"""重复件 (issue 19, item 7): linked at intake (the push's fast path included) by the same citizen or the
same place on the same matter within the window, within one department; by hand; dismissed, never
deleted; counted once; and never shown to a user of another department. SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select, text

from tests import factories
from tracker.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tracker.intake.records import IntakeRecord, apply_record
from tracker.people.access import EVERYTHING
from tracker.tickets.drafts import ContactDraft
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage
from tracker.workorders import repeats
from tracker.workorders.models import RepeatLink, ReplyCheckRules
from workers.tasks.events import on_created_repeats


@pytest.fixture
def office(session, now):
    mine = factories.department(session, "rep_city", "城市管理处")
    other = factories.department(session, "rep_water", "水务处")
    return {
        "mine": mine,
        "other": other,
        "staff": factories.user(session, role="staff", dept=mine, now=now),
        "neighbour": factories.user(session, role="staff", dept=other, now=now),
        "auditor": factories.user(session, role="auditor", dept=mine, now=now),
    }


def push(session, at, dept, *, path="push", phone="13900001111", **overrides):
    """One order through the intake door: as the 12345 push sends it (fast path, no search row; the
    repeat is linked by the `ticket.created` consumer), as an import (fast, in the request) or one by one."""
    draft = factories.draft(
        arrived_at=at,
        department_code=dept.code,
        contact=ContactDraft(name="王女士", phone=phone),
        **overrides,
    )
    result = apply_record(
        session,
        IntakeRecord(draft=draft),
        actor="12345平台",
        reach=EVERYTHING,
        now=at,
        fast=path != "single",
        index_search=path != "push",
    )
    if path == "push":
        message = session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.ticket_id == result.ticket_id, OutboxMessage.topic == "ticket.created"
            )
        )
        on_created_repeats(session, None, message, at)
    return session.get(Ticket, result.ticket_id)


def link_of(session, ticket):
    return session.scalar(select(RepeatLink).where(RepeatLink.ticket_id == ticket.id))


@pytest.mark.parametrize("path", ["push", "import", "single"])
def test_same_citizen_same_matter_is_linked_at_intake(session, now, office, path):
    first = push(session, now - timedelta(days=10), office["mine"], path=path)
    again = push(session, now, office["mine"], path=path, subject="夜间施工噪音仍未解决")
    link = link_of(session, again)
    assert link is not None and link.repeat_of_id == first.id and link.basis == "same_citizen"
    event = session.scalar(
        select(TicketEvent).where(TicketEvent.ticket_id == again.id, TicketEvent.kind == "repeat.linked")
    )
    assert event.data["of"] == first.number and event.data["by"] == "系统"
    assert link_of(session, first) is None


def test_two_orders_received_in_the_same_second_link_the_later_to_the_earlier(session, now, office):
    """A batch pushed in one second, linked afterwards by the consumer: the first order must not take the
    second (received at the same time) for its original, or the second would then be linked to itself."""
    opened = []
    for _ in range(2):
        draft = factories.draft(
            arrived_at=now,
            department_code=office["mine"].code,
            contact=ContactDraft(name="王女士", phone="13900001111"),
        )
        result = apply_record(
            session,
            IntakeRecord(draft=draft),
            actor="12345平台",
            reach=EVERYTHING,
            now=now,
            index_search=False,
        )
        opened.append(session.get(Ticket, result.ticket_id))
    first, second = sorted(opened, key=lambda t: t.id)
    for ticket in (first, second):
        message = session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.ticket_id == ticket.id, OutboxMessage.topic == "ticket.created"
            )
        )
        on_created_repeats(session, None, message, now)
    assert link_of(session, first) is None
    assert link_of(session, second).repeat_of_id == first.id


def test_a_repeat_of_a_repeat_links_to_the_first_order(session, now, office):
    first = push(session, now - timedelta(days=20), office["mine"])
    push(session, now - timedelta(days=10), office["mine"])
    third = push(session, now, office["mine"])
    assert link_of(session, third).repeat_of_id == first.id


def test_same_place_by_another_citizen_is_linked(session, now, office):
    address = "滨江区江南大道1000号"
    first = push(
        session, now - timedelta(days=3), office["mine"], incident_address=address, category="噪音污染"
    )
    again = push(
        session,
        now,
        office["mine"],
        phone="13700002222",
        incident_address=address,
        category="噪音污染",
        subject="工地扰民",
    )
    link = link_of(session, again)
    assert link.repeat_of_id == first.id and link.basis == "same_place"


@pytest.mark.parametrize(
    "change",
    [
        {"days": 31},  # outside the 30-day window
        {"subject": "路灯不亮", "body": "路口路灯坏了一周。"},  # another matter
        {"department": "other"},  # another unit's order: never linked
    ],
)
def test_not_linked(session, now, office, change):
    dept = office[change.get("department", "mine")]
    push(session, now - timedelta(days=change.get("days", 5)), office["mine"])
    overrides = {k: v for k, v in change.items() if k in ("subject", "body")}
    again = push(session, now, dept, **overrides)
    assert link_of(session, again) is None


def test_the_window_is_the_offices(session, now, office):
    session.add(
        ReplyCheckRules(
            id=1,
            is_blocking=False,
            min_length=15,
            banned_phrases=[],
            channels=["hotline"],
            repeat_window_days=60,
        )
    )
    session.flush()
    first = push(session, now - timedelta(days=45), office["mine"])
    assert link_of(session, push(session, now, office["mine"])).repeat_of_id == first.id


def test_by_hand_dismissed_never_deleted_and_counted_once(session, now, office):
    first = factories.ticket(session, now=now - timedelta(days=2), dept=office["mine"])
    second = factories.ticket(session, now=now, dept=office["mine"])
    staff = office["staff"]
    repeats.link_by_hand(session, second, first.number, "same_citizen", user=staff, now=now)
    assert repeats.repeat_ticket_ids(session, [first.id, second.id]) == {second.id}
    counted = session.scalar(
        select(func.count())
        .select_from(Ticket)
        .where(Ticket.id.in_([first.id, second.id]), repeats.counted_once(Ticket.id))
    )
    assert counted == 1
    with pytest.raises(Conflict):
        repeats.link_by_hand(session, second, first.number, "same_citizen", user=staff, now=now)
    with pytest.raises(ValidationError):
        repeats.dismiss(session, second, " ", user=staff, now=now)
    repeats.dismiss(session, second, "不同事项", user=staff, now=now)
    assert link_of(session, second).dismissed_at is not None  # kept, not deleted
    assert repeats.repeat_ticket_ids(session, [first.id, second.id]) == set()
    kinds = session.scalars(select(TicketEvent.kind).where(TicketEvent.ticket_id == second.id)).all()
    assert "repeat.linked" in kinds and "repeat.dismissed" in kinds
    # Linked again later: the same row, live again.
    repeats.link_by_hand(session, second, first.number, "same_place", user=staff, now=now)
    assert repeats.repeat_ticket_ids(session, [second.id]) == {second.id}
    assert (
        session.scalar(select(func.count()).select_from(RepeatLink).where(RepeatLink.ticket_id == second.id))
        == 1
    )


def test_by_hand_refused_across_departments_and_roles(session, now, office):
    mine = factories.ticket(session, now=now, dept=office["mine"])
    earlier_mine = factories.ticket(session, now=now - timedelta(days=1), dept=office["mine"])
    theirs = factories.ticket(session, now=now - timedelta(days=1), dept=office["other"])
    with pytest.raises(NotFound):  # the neighbour may not see my ticket
        repeats.link_by_hand(
            session, mine, earlier_mine.number, "same_citizen", user=office["neighbour"], now=now
        )
    with pytest.raises(PermissionDenied):  # auditors read, never change
        repeats.link_by_hand(
            session, mine, earlier_mine.number, "same_citizen", user=office["auditor"], now=now
        )
    with pytest.raises(ValidationError) as refused:  # another department's number is "not found" for me
        repeats.link_by_hand(session, mine, theirs.number, "same_citizen", user=office["staff"], now=now)
    assert "不存在或无权查看" in refused.value.message
    with pytest.raises(ValidationError):
        repeats.link_by_hand(session, mine, mine.number, "same_citizen", user=office["staff"], now=now)
    with pytest.raises(ValidationError):
        repeats.link_by_hand(
            session, earlier_mine, mine.number, "same_citizen", user=office["staff"], now=now
        )
    with pytest.raises(ValidationError):
        repeats.link_by_hand(session, mine, earlier_mine.number, "weather", user=office["staff"], now=now)


# -- the page ----------------------------------------------------------------------------------------------


@pytest.fixture
def client(app, now):
    app.config["CLOCK"] = lambda: now
    return app.test_client()


def test_the_page_shows_only_what_the_user_may_see(client, session, now, office):
    first = push(session, now - timedelta(days=10), office["mine"], subject="<b>小区夜间施工噪音</b>")
    again = push(session, now, office["mine"])
    # The first order moves to another department: its number is no longer shown on the repeat's page.
    session.commit()
    factories.signed_in(client, office["staff"], csrf_token="t0ken")
    page = client.get(f"/tickets/{again.id}").get_data(as_text=True)
    assert "data-repeats" in page and first.number in page and "<b>小区" not in page
    first.department_id = office["other"].id
    session.commit()
    page = client.get(f"/tickets/{again.id}").get_data(as_text=True)
    assert "data-repeats" in page and first.number not in page
    factories.signed_in(client, office["neighbour"], csrf_token="t0ken")
    page = client.get(f"/tickets/{first.id}").get_data(as_text=True)
    assert again.number not in page  # the repeat is in my department, not the neighbour's


def test_link_and_dismiss_on_the_page(client, session, now, office):
    first = factories.ticket(session, now=now - timedelta(days=1), dept=office["mine"])
    second = factories.ticket(session, now=now, dept=office["mine"])
    session.commit()
    factories.signed_in(client, office["neighbour"], csrf_token="t0ken")
    url = f"/tickets/{second.id}/repeats"
    assert (
        client.post(
            url, data={"csrf_token": "t0ken", "repeat_of": first.number, "basis": "same_citizen"}
        ).status_code
        == 404
    )
    factories.signed_in(client, office["staff"], csrf_token="t0ken")
    assert client.post(url, data={"repeat_of": first.number, "basis": "same_citizen"}).status_code in (
        400,
        403,
    )
    answer = client.post(
        url, data={"csrf_token": "t0ken", "repeat_of": first.number, "basis": "same_citizen"}
    )
    assert answer.status_code == 302
    session.expire_all()
    assert link_of(session, second).repeat_of_id == first.id
    answer = client.post(f"{url}/dismiss", data={"csrf_token": "t0ken", "reason": "另一事项"})
    assert answer.status_code == 302
    session.expire_all()
    assert link_of(session, second).dismissed_at is not None


def _capture_lookups(session, now, office):
    statements: list[tuple[str, object]] = []
    connection = session.connection()

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if "incident_address =" in statement or (
            "phone_bidx IN" in statement and "department_id" in statement
        ):
            statements.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        push(
            session,
            now,
            office["mine"],
            path="import",
            incident_address="西湖区文三路1号",
            phone="13500003333",
        )
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    assert len(statements) == 2
    return connection, statements


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_lookups_use_the_phone_and_address_indexes_on_sqlite(session, now, office):
    push(session, now - timedelta(days=1), office["mine"], incident_address="西湖区文三路1号")
    connection, statements = _capture_lookups(session, now, office)
    for statement, parameters in statements:
        plan = str(connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all())
        assert re.search(
            r"SEARCH (contacts USING (COVERING )?INDEX ix_contacts_phone_bidx"
            r"|tickets USING INDEX ix_tickets_incident_address_received)",
            plan,
        ), plan


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_lookups_use_the_phone_and_address_indexes_on_postgresql(session, now, office):
    # A department's years of orders from other people at other addresses: the planner chooses by cost, as
    # it would in production (the method of tests/privacy/test_encryption.py).
    template = push(session, now - timedelta(days=1), office["mine"], incident_address="西湖区文三路1号")
    session.execute(
        text(
            "INSERT INTO contacts (id, name, is_confidential, phone_bidx) "
            "SELECT 2000000 + g, 'x', false, left(md5(g::text), 32) FROM generate_series(1, 20000) g"
        )
    )
    copied = [
        c.name
        for c in Ticket.__table__.c
        if c.name
        not in ("id", "number", "external_ref", "contact_id", "query_code", "received_at", "incident_address")
    ]
    session.execute(
        text(
            "INSERT INTO tickets (number, external_ref, contact_id, received_at, incident_address, "
            f"{', '.join(copied)}) SELECT 'RP' || g, 'RP' || g, 2000000 + g, "
            "t.received_at - (g % 900) * interval '1 day', '某路' || g || '号', "
            f"{', '.join('t.' + name for name in copied)} "
            "FROM tickets t, generate_series(1, 20000) g WHERE t.id = :id"
        ),
        {"id": template.id},
    )
    session.execute(text("ANALYZE tickets"))
    session.execute(text("ANALYZE contacts"))
    connection, statements = _capture_lookups(session, now, office)
    for statement, parameters in statements:
        cursor = connection.connection.driver_connection.cursor()
        plan = "\n".join(r[0] for r in cursor.execute(f"EXPLAIN {statement}", parameters).fetchall())
        assert "ix_contacts_phone_bidx" in plan or "ix_tickets_incident_address_received" in plan, plan
        assert "Seq Scan on tickets" not in plan, plan
