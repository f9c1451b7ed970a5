"""Models and migrations never drift, on SQLite and on PostgreSQL."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text

from tracker.migrate import alembic_config, current_heads, modelled, upgrade
from tracker.schema import metadata

# SQLite's FTS5 search table and its shadow tables are created by the migration, not modelled: the same
# rule migrations/env.py gives `alembic check`.
_modelled = modelled


def test_models_match_migrations(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _modelled})
        diff = compare_metadata(context, metadata)
    assert diff == [], f"models and migrations differ; write a migration: {diff}"


def test_alembic_check_is_clean(database_url):
    # What an operator runs after an upgrade: env.py must carry the FTS filter, or on SQLite `alembic
    # check` wants to drop ticket_search_fts*.
    command.check(alembic_config(database_url))


def test_database_is_at_every_head(engine, database_url):
    with engine.connect() as conn:
        applied = set(MigrationContext.configure(conn).get_current_heads())
    assert applied == current_heads(database_url)


def test_upgrade_is_idempotent(database_url):
    upgrade(database_url)  # a second run changes nothing and does not fail


def test_history_is_one_line(database_url):
    # Two changes developed side by side can both follow the same revision; `upgrade heads` would then apply
    # them in an order nobody chose. Re-chain the later one onto the other (down_revision) instead.
    assert len(current_heads(database_url)) == 1, f"several migration heads: {current_heads(database_url)}"


def test_0013_moves_the_reminder_ledger_into_its_notifications(blank_database_url):
    """Each ledger row's key goes to its notification, so the sweep does not send that reminder again."""
    from datetime import UTC, datetime, timedelta

    from tests import factories
    from tracker.bootstrap import load_reference_data
    from tracker.db import session_scope
    from tracker.deadlines import service as deadlines
    from tracker.notify.models import Notification
    from tracker.reminders.sweep import sweep_due
    from tracker.tickets.models import Deadline
    from tracker.workflow.transitions import assign_ticket

    # The ticket and its deadline are made by today's services on today's schema; the database then goes
    # down to 0012, where the sweep's ledger was a table of its own.
    upgrade(blank_database_url)
    start = datetime(2026, 2, 25, 2, 0, tzinfo=UTC)
    sent_at = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 3 working days before the due day
    with session_scope(blank_database_url) as session:
        load_reference_data(session)
        dept = factories.department(session)
        staff = factories.user(session, role="staff", dept=dept, now=start)
        ticket = factories.ticket(session, now=start, dept=dept)
        assign_ticket(session, ticket, staff, actor="测试", now=start)
        deadlines.override_deadline(
            session,
            ticket,
            "reply",
            due_at=datetime(2026, 3, 9, 16, 0, tzinfo=UTC),
            reason="测试",
            now=start,
            actor="测试",
        )
        session.flush()
        deadline = deadlines.get_deadline(ticket, "reply")
        key = {"t": ticket.id, "d": deadline.id, "v": deadline.version, "u": staff.id, "due": deadline.due_at}
    command.downgrade(alembic_config(blank_database_url), "0012")
    # What the sweep wrote before 0013: a ledger row and its notification, next to an unrelated notification.
    with session_scope(blank_database_url) as session:
        session.execute(
            text(
                "INSERT INTO reminder_ledger (id, ticket_id, deadline_id, deadline_version, threshold, "
                "recipient_id, due_at, created_at) VALUES (7, :t, :d, :v, 'before:3', :u, :due, :now)"
            ),
            {**key, "now": sent_at},
        )
        session.execute(
            text(
                "INSERT INTO notifications (user_id, ticket_id, kind, title, body, dedupe_key, created_at) "
                "VALUES (:u, :t, 'reminder', '期限提醒', '', 'ledger:7', :now), "
                "(:u, NULL, 'digest', '每日汇总', '', 'digest:x', :now)"
            ),
            {**key, "now": sent_at},
        )
    upgrade(blank_database_url)
    with session_scope(blank_database_url) as session:
        rows = {n.kind: n for n in session.scalars(select(Notification))}
        reminder, digest = rows["reminder"], rows["digest"]
        assert (reminder.deadline_id, reminder.deadline_version, reminder.threshold, reminder.due_at) == (
            key["d"],
            key["v"],
            "before:3",
            key["due"],
        )
        assert reminder.dedupe_key is None
        assert (digest.deadline_id, digest.dedupe_key) == (None, "digest:x")
        # The sweep looks again at the same moment: the reminder is known as sent.
        session.get(Deadline, key["d"]).next_check_at = sent_at - timedelta(minutes=1)
        session.flush()
        again = sweep_due(session, now=sent_at)
        assert (again.visited, again.reminders) == (1, 0)

    # Down and up again: the ledger is rebuilt from the notifications, the foreign keys come back.
    command.downgrade(alembic_config(blank_database_url), "0012")
    with session_scope(blank_database_url) as session:
        ledger = session.execute(
            text("SELECT deadline_id, deadline_version, threshold, recipient_id FROM reminder_ledger")
        ).all()
        assert ledger == [(key["d"], key["v"], "before:3", key["u"])]
        assert (
            session.scalar(text("SELECT count(*) FROM notifications WHERE dedupe_key LIKE 'ledger:%'")) == 1
        )
    upgrade(blank_database_url)


def test_0040_the_queues_index_covers_the_state_and_goes_back_down(blank_database_url):
    """The queues' partial index carries the state (PostgreSQL: INCLUDE), so it is the one their sort by
    due time reads rather than the assessment's index of every reply deadline (docs/benchmarks.md,
    bench:queues); a downgrade puts the index of 0039 back, and the upgrade again."""
    from tracker.db import dispose_engines, engine_for

    def definition() -> str:
        with engine_for(blank_database_url).connect() as conn:
            if conn.dialect.name == "postgresql":
                sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_deadlines_open_reply_due'"
            else:
                sql = "SELECT sql FROM sqlite_master WHERE name = 'ix_deadlines_open_reply_due'"
            found = conn.execute(text(sql)).scalar_one()
        dispose_engines()
        return found

    upgrade(blank_database_url)
    is_postgresql = blank_database_url.startswith("postgresql")
    covering = definition()
    assert "state <> 'met'" in covering.replace("::text", "").replace("(", "").replace(")", "")
    assert ("INCLUDE (state)" in covering) is is_postgresql
    command.downgrade(alembic_config(blank_database_url), "0039")
    assert "INCLUDE" not in definition()
    upgrade(blank_database_url)
    assert definition() == covering
