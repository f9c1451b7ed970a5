"""sweep foreign keys: the append-only rows a sweep writes (events, notifications, deliveries) carry none

A foreign key costs PostgreSQL a lookup and a row lock (FOR KEY SHARE) per inserted row; the first lock of
a ticket row also dirties its page. Profiling one sweep of 10,000 due deadlines (11,000 reminders) showed
these checks as two thirds of the time of its event, notification and delivery inserts. Dropped:

* ticket_events.ticket_id → tickets: the history is only appended to, tickets are never deleted
  (tests/tickets/test_never_deleted.py), and every writer has the ticket row in hand (the services the ORM
  object, the sweep the deadline row it holds FOR UPDATE joined to its ticket, imports the rows they
  have just inserted). Its actor_id key stays (NULL for the system, nothing to look up).
* notifications.user_id → users and notifications.ticket_id → tickets: users are deactivated, never
  deleted, and tickets are never deleted (tests/tickets/test_never_deleted.py); every writer takes the ids
  from rows it has just read (the sweep from the deadline rows it holds FOR UPDATE and the active users).
* deliveries.notification_id → notifications (ON DELETE CASCADE): deliveries are planned from the
  notifications the same transaction has just inserted, and notifications are never deleted either.

tests/workers/test_sweep.py checks that no reference dangles after sweeps with breaches and deliveries.

Revision ID: 0014
Revises: 0013
"""

from alembic import op


revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _sqlite_foreign_keys(enabled: bool) -> None:
    """Switch SQLite's foreign-key enforcement (between transactions: inside one the pragma does nothing).

    Batch mode rebuilds ticket_events (copy, drop, rename); outbox and hotline_callbacks refer to it, and
    with enforcement on, the DROP counts as deleting every event they point at. The copy keeps the ids.
    """
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def upgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_constraint("fk_ticket_events_ticket_id_tickets", type_="foreignkey")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_notification_id_notifications", type_="foreignkey")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("fk_notifications_user_id_users", type_="foreignkey")
        batch_op.drop_constraint("fk_notifications_ticket_id_tickets", type_="foreignkey")
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_notifications_ticket_id_tickets", "tickets", ["ticket_id"], ["id"])
        batch_op.create_foreign_key("fk_notifications_user_id_users", "users", ["user_id"], ["id"])
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_deliveries_notification_id_notifications",
            "notifications",
            ["notification_id"],
            ["id"],
            ondelete="CASCADE",
        )
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_ticket_events_ticket_id_tickets", "tickets", ["ticket_id"], ["id"])
    _sqlite_foreign_keys(True)
