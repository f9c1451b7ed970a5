"""import foreign keys: the rows a new ticket brings with it carry none

Every new ticket — an import row, a 12345 push, a portal form — writes a contact, the ticket, its events,
an outbox row and its deadlines. Five of those references were checked by a foreign key, each a lookup
and a row lock (FOR KEY SHARE) in the new ticket's transaction; profiling the import of 20,000 work orders
showed the checks, with the planning of their lookups, as half of PostgreSQL's time. Dropped:

* tickets.contact_id → contacts and tickets.department_id → departments: contacts are anonymised in
  place, departments renamed or moved, neither is ever deleted (tests/tickets/test_never_deleted.py); a
  writer takes the contact id from the row it has just inserted, the department id from the departments
  it has just read (tracker.reference).
* deadlines.ticket_id → tickets (ON DELETE CASCADE), outbox.ticket_id → tickets and
  outbox.event_id → ticket_events: tickets and their history are never deleted, and every writer has
  the ticket and event rows in hand (it has just inserted or read them).

And an index on tickets.contact_id: the phone duplicate look-up (a new ticket's number among the
contacts of the last 30 days' tickets) went from the contacts found by number to every ticket of the
window, for want of it — a scan of thousands of rows per 12345 push, and per imported batch.

tests/intake/test_import.py checks that no reference dangles after an import.

Revision ID: 0018
Revises: 0017
"""

from alembic import op


revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _sqlite_foreign_keys(enabled: bool) -> None:
    """Switch SQLite's foreign-key enforcement (between transactions: inside one the pragma does nothing).

    Batch mode rebuilds tickets, deadlines and outbox (copy, drop, rename); other tables refer to them,
    and with enforcement on, the DROP counts as deleting every row they point at. The copy keeps the ids.
    """
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def upgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_constraint("fk_outbox_event_id_ticket_events", type_="foreignkey")
        batch_op.drop_constraint("fk_outbox_ticket_id_tickets", type_="foreignkey")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deadlines_ticket_id_tickets", type_="foreignkey")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_constraint("fk_tickets_contact_id_contacts", type_="foreignkey")
        batch_op.drop_constraint("fk_tickets_department_id_departments", type_="foreignkey")
        batch_op.create_index("ix_tickets_contact_id", ["contact_id"], unique=False)
    _sqlite_foreign_keys(True)


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_contact_id")
        batch_op.create_foreign_key(
            "fk_tickets_department_id_departments", "departments", ["department_id"], ["id"]
        )
        batch_op.create_foreign_key("fk_tickets_contact_id_contacts", "contacts", ["contact_id"], ["id"])
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_deadlines_ticket_id_tickets", "tickets", ["ticket_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_outbox_ticket_id_tickets", "tickets", ["ticket_id"], ["id"])
        batch_op.create_foreign_key("fk_outbox_event_id_ticket_events", "ticket_events", ["event_id"], ["id"])
    _sqlite_foreign_keys(True)
