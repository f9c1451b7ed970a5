"""The foreign keys migrations 0010, 0013, 0014, 0018 and 0021 had left out are enforced by the database
again (migration 0023), on SQLite and PostgreSQL: a row pointing at nothing is refused, whoever writes it.

Each case copies a real row — written by the services — with one reference changed to an id that does
not exist, and inserts it as plain SQL (no ORM check in between); the same copy with the reference left as
it was goes in, so the refusal is the key's and nothing else's.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from tests import factories
from tracker.db import PREPARE_ONLY_WHEN_ASKED
from tracker.deadlines import service as deadlines
from tracker.migrate import alembic_config, current_heads, upgrade
from tracker.notify.models import Delivery, Notification
from tracker.orm import Base
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage

# (table, column, referred table): the keys migration 0023 restored.
RESTORED = [
    ("tickets", "contact_id", "contacts"),
    ("tickets", "department_id", "departments"),
    ("tickets", "topic_label_id", "topic_labels"),
    ("ticket_events", "ticket_id", "tickets"),
    ("deadlines", "ticket_id", "tickets"),
    ("outbox", "event_id", "ticket_events"),
    ("outbox", "ticket_id", "tickets"),
    ("notifications", "user_id", "users"),
    ("notifications", "ticket_id", "tickets"),
    ("notifications", "deadline_id", "deadlines"),
    ("deliveries", "notification_id", "notifications"),
    ("deliveries", "user_id", "users"),
]
# Columns a copy must change to keep clear of the table's unique keys.
UNIQUE_FREE = {
    "tickets": {"number": "FK-TEST-1", "external_ref": None, "query_code": None},
    "deadlines": {"kind": "fk-test"},
    "notifications": {"threshold": "fk-test", "dedupe_key": None},
    "deliveries": {"key": "fk-test"},
}


@pytest.fixture
def written(session, now):
    """One of each row the restored keys govern, every reference filled: table → the id of its row."""
    dept = factories.department(session)
    staff = factories.user(session, dept=dept, now=now)
    ticket = factories.ticket(session, now=now, dept=dept, category="工业技改")
    deadline = deadlines.get_deadline(ticket, "reply")
    note = Notification(
        user_id=staff.id,
        ticket_id=ticket.id,
        kind="reminder",
        title="期限提醒",
        created_at=now,
        deadline_id=deadline.id,
        deadline_version=deadline.version,
        threshold="due",
    )
    session.add(note)
    session.flush()
    delivery = Delivery(
        key=f"{note.id}:email:u",
        notification_id=note.id,
        medium="email",
        user_id=staff.id,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    session.flush()
    event_id = session.scalar(select(func.max(TicketEvent.id)).where(TicketEvent.ticket_id == ticket.id))
    outbox_id = session.scalar(select(func.max(OutboxMessage.id)).where(OutboxMessage.ticket_id == ticket.id))
    assert ticket.contact_id and ticket.topic_label_id and outbox_id
    return {
        "tickets": ticket.id,
        "ticket_events": event_id,
        "deadlines": deadline.id,
        "outbox": outbox_id,
        "notifications": note.id,
        "deliveries": delivery.id,
    }


def _copy(session, table_name: str, row_id: int, **changes):
    table = Base.metadata.tables[table_name]
    row = dict(session.execute(select(table).where(table.c.id == row_id)).mappings().one())
    del row["id"]
    return insert(table).values({**row, **UNIQUE_FREE.get(table_name, {}), **changes})


@pytest.mark.parametrize(("table", "column", "referred"), RESTORED, ids=lambda v: v)
def test_a_row_pointing_at_nothing_is_refused(session, written, table, column, referred):
    statement = _copy(session, table, written[table])
    with session.begin_nested() as savepoint:  # the same row with its reference intact goes in
        session.execute(statement)
        savepoint.rollback()
    referred_table = Base.metadata.tables[referred]
    missing = session.scalar(select(func.coalesce(func.max(referred_table.c.id), 0))) + 1000
    with pytest.raises(IntegrityError) as refused, session.begin_nested():
        session.execute(_copy(session, table, written[table], **{column: missing}))
    if session.get_bind().dialect.name == "postgresql":
        assert f"fk_{table}_{column}_{referred}" in str(refused.value)
    else:
        assert "FOREIGN KEY constraint failed" in str(refused.value)
    assert session.execute(text("SELECT 1")).scalar_one() == 1  # the transaction goes on


def test_every_restored_key_is_declared_by_the_models():
    declared = {
        (fk.parent.table.name, fk.parent.name, fk.column.table.name)
        for table in Base.metadata.tables.values()
        for fk in table.foreign_keys
    }
    assert set(RESTORED) <= declared


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_has_validated_every_key(session):
    """The keys were added NOT VALID and validated afterwards: none may be left unvalidated."""
    rows = session.execute(
        text("SELECT conname, convalidated FROM pg_constraint WHERE contype = 'f' AND conname LIKE 'fk_%'")
    ).all()
    keys = dict(rows)
    assert {f"fk_{t}_{c}_{r}" for t, c, r in RESTORED} <= set(keys)
    assert [name for name, valid in keys.items() if not valid] == []


# --- the migration ------------------------------------------------------------------------------------------


def _orphan_event_and_outbox(url: str) -> None:
    """What a bug could have written before 0023: an event of a ticket that does not exist, and an outbox
    row naming it."""
    from datetime import UTC, datetime

    from tracker.db import session_scope

    now = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)
    # Plain SQL naming the columns of revision 0022: the models of today have columns (and column
    # defaults) that later revisions add.
    with session_scope(url) as session:
        event_id = session.execute(
            text(
                "INSERT INTO ticket_events (ticket_id, kind, occurred_at, data)"
                " VALUES (424242, 'ticket.created', :now, '{}') RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        session.execute(
            text(
                "INSERT INTO outbox (topic, event_id, ticket_id, payload, created_at, attempts)"
                " VALUES ('ticket.created', :event_id, 424242, '{}', :now, 0)"
            ),
            {"event_id": event_id, "now": now},
        )


def _foreign_keys(url: str, table: str) -> set[str]:
    from tracker.db import make_engine

    engine = make_engine(url)
    try:
        return {fk["name"] for fk in inspect(engine).get_foreign_keys(table)}
    finally:
        engine.dispose()


def _revision(url: str) -> str:
    from tracker.db import session_scope

    with session_scope(url) as session:
        return session.scalar(text("SELECT version_num FROM alembic_version"))


def test_0023_refuses_rows_pointing_at_nothing_and_changes_nothing(blank_database_url):
    from alembic import command
    from alembic.script import ScriptDirectory

    upgrade(blank_database_url, "0022")
    _orphan_event_and_outbox(blank_database_url)
    with pytest.raises(Exception, match="Migration 0023 cannot restore the foreign keys") as refused:
        upgrade(blank_database_url)
    assert type(refused.value).__name__ == "DanglingReferences"
    message = str(refused.value)
    assert "ticket_events.ticket_id → tickets: 1 rows" in message
    assert "outbox.ticket_id → tickets: 1 rows" in message
    assert "ticket_id 424242" in message
    assert "outbox.event_id" not in message  # that reference is sound
    before_0023 = ScriptDirectory.from_config(alembic_config(blank_database_url)).get_revision("0023")
    # 0023 was not applied: on PostgreSQL the whole upgrade rolled back to where it started; SQLite (no
    # transactional DDL here) keeps the revisions before 0023.
    assert _revision(blank_database_url) in {"0022", before_0023.down_revision}
    assert "fk_ticket_events_ticket_id_tickets" not in _foreign_keys(blank_database_url, "ticket_events")

    # Once someone has dealt with the rows, the upgrade goes through; down and up again keep working.
    from tracker.db import session_scope

    with session_scope(blank_database_url) as session:
        session.execute(text("DELETE FROM outbox WHERE ticket_id = 424242"))
        session.execute(text("DELETE FROM ticket_events WHERE ticket_id = 424242"))
    upgrade(blank_database_url)
    assert "fk_ticket_events_ticket_id_tickets" in _foreign_keys(blank_database_url, "ticket_events")
    command.downgrade(alembic_config(blank_database_url), "0022")
    assert _foreign_keys(blank_database_url, "outbox") == set()
    upgrade(blank_database_url)
    assert _foreign_keys(blank_database_url, "outbox") == {
        "fk_outbox_event_id_ticket_events",
        "fk_outbox_ticket_id_tickets",
    }


@pytest.mark.parametrize("blank_database_url", ["postgresql"], indirect=True)
def test_0023_on_postgresql_validates_a_key_left_not_valid_by_a_failed_upgrade(blank_database_url):
    """A VALIDATE that failed leaves its key added NOT VALID and the revision unapplied: the next upgrade
    does not add it twice, and validates it."""
    from tracker.db import session_scope

    upgrade(blank_database_url, "0022")
    with session_scope(blank_database_url) as session:
        session.execute(
            text(
                "ALTER TABLE ticket_events ADD CONSTRAINT fk_ticket_events_ticket_id_tickets "
                "FOREIGN KEY (ticket_id) REFERENCES tickets (id) NOT VALID"
            )
        )
    upgrade(blank_database_url)
    with session_scope(blank_database_url) as session:
        assert session.scalar(
            text(
                "SELECT convalidated FROM pg_constraint WHERE conname = 'fk_ticket_events_ticket_id_tickets'"
            )
        )
    assert {_revision(blank_database_url)} == current_heads(blank_database_url)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_foreign_key_checks_keep_their_plans_and_our_statements_are_planned_with_their_values(session):
    """plan_cache_mode=force_custom_plan would re-plan each key's check for every inserted row; our own
    statements get custom plans because the driver prepares none by itself, only the one asked for
    (tracker/db.py; the push's, tests/intake/test_push_path.py)."""
    assert session.scalar(text("SHOW plan_cache_mode")) == "auto"
    driver_connection = session.connection().connection.driver_connection
    assert driver_connection.prepare_threshold == PREPARE_ONLY_WHEN_ASKED
    for _ in range(100):  # a hundred runs of one statement: still unprepared
        session.execute(select(Ticket.id).where(Ticket.number == "X")).all()
    assert session.scalar(text("SELECT count(*) FROM pg_prepared_statements")) == 0
