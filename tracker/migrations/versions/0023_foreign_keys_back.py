"""foreign keys back: every reference between the ticket tables is checked by the database again

Migrations 0010, 0013, 0014 and 0018 dropped foreign keys to save their lookups on inserts, and 0021 added
`tickets.topic_label_id` without one; the writers were trusted to take every id from a row they had just
read or written. Integrity comes before speed (issue 16): a bug in one writer, a hand-written SQL fix or a
restore of a partial dump must be refused by the database, not found later by a report that does not add
up. Restored (with the ON DELETE they had; `tickets.topic_label_id` and `notifications.deadline_id` get a
plain key — labels and deadlines are never deleted):

* 0010: deliveries.user_id → users
* 0013: notifications.deadline_id → deadlines (the reminder ledger's key, dropped with the ledger)
* 0014: ticket_events.ticket_id → tickets, notifications.user_id → users, notifications.ticket_id →
  tickets, deliveries.notification_id → notifications (ON DELETE CASCADE)
* 0018: tickets.contact_id → contacts, tickets.department_id → departments, deadlines.ticket_id →
  tickets (ON DELETE CASCADE), outbox.ticket_id → tickets, outbox.event_id → ticket_events
* 0021: tickets.topic_label_id → topic_labels

Rows that already point nowhere are not repaired: each is a history record or a message whose meaning
depends on what it pointed at, and no rule says which replacement (or deletion) is right. The migration
first looks for them and, if it finds any, stops before changing anything, naming each key, how many rows
and the first ids (`DanglingReferences`); docs/operations.md says how to look at them.

PostgreSQL: each key is added NOT VALID (a catalogue change: new rows are checked from then on, no scan,
a brief lock of both tables) in the migration's transaction, then validated after a commit, each in a
transaction of its own — VALIDATE scans the table under a lock that lets reads and writes go on, so an
upgrade of a big database does not stop the service while it checks millions of rows. A VALIDATE that
fails (a dangling row written between the look-up and the key) leaves the key NOT VALID but enforced for
new rows, and the revision unapplied: the next upgrade skips the keys that exist and validates again.

SQLite: Alembic's batch mode rebuilds each table with its keys (enforcement is switched off meanwhile, as
in 0014 and 0018: the DROP of a rebuilt table would count as deleting every row pointing at it — and
cascade), then `PRAGMA foreign_key_check` confirms every row. None of the rebuilt tables has a trigger.

Revision ID: 0023
Revises: 0026
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0026"
branch_labels = None
depends_on = None

# (table, column, referred table, ON DELETE), grouped by table for SQLite's rebuilds.
FOREIGN_KEYS = (
    ("tickets", "contact_id", "contacts", None),
    ("tickets", "department_id", "departments", None),
    ("tickets", "topic_label_id", "topic_labels", None),
    ("ticket_events", "ticket_id", "tickets", None),
    ("deadlines", "ticket_id", "tickets", "CASCADE"),
    ("outbox", "event_id", "ticket_events", None),
    ("outbox", "ticket_id", "tickets", None),
    ("notifications", "user_id", "users", None),
    ("notifications", "ticket_id", "tickets", None),
    ("notifications", "deadline_id", "deadlines", None),
    ("deliveries", "notification_id", "notifications", "CASCADE"),
    ("deliveries", "user_id", "users", None),
)
SAMPLE = 5


class DanglingReferences(RuntimeError):
    """Rows point at rows that do not exist: the keys cannot be restored until someone decides about them."""


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"  # the metadata's naming convention (tracker/orm.py)


def _dangling(bind: sa.Connection) -> list[str]:
    """One line per key that rows would violate: the key, how many rows, the first ids."""
    found = []
    for table, column, referred, _on_delete in FOREIGN_KEYS:
        where = (
            f"FROM {table} c WHERE c.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {referred} p WHERE p.id = c.{column})"
        )
        sample = bind.execute(sa.text(f"SELECT c.id, c.{column} {where} ORDER BY c.id LIMIT {SAMPLE}")).all()
        if not sample:
            continue
        count = bind.execute(sa.text(f"SELECT count(*) {where}")).scalar_one()
        rows = ", ".join(f"id {row_id} → {column} {missing}" for row_id, missing in sample)
        more = " …" if count > len(sample) else ""
        found.append(f"  {table}.{column} → {referred}: {count} rows ({rows}{more})")
    return found


def _check_nothing_dangles() -> None:
    found = _dangling(op.get_bind())
    if found:
        raise DanglingReferences(
            "迁移 0023 无法恢复外键：以下记录指向不存在的记录，本次升级未作任何修改。\n"
            "Migration 0023 cannot restore the foreign keys: these rows point at rows that do not exist. "
            "Nothing was changed; see docs/operations.md (foreign keys) before upgrading again.\n"
            + "\n".join(found)
        )


def _sqlite_foreign_keys(enabled: bool) -> None:
    """Switch SQLite's foreign-key enforcement (between transactions: inside one the pragma does nothing)."""
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def _tables() -> list[str]:
    return list(dict.fromkeys(table for table, *_rest in FOREIGN_KEYS))


def upgrade() -> None:
    _check_nothing_dangles()
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    bind = op.get_bind()
    existing = set(bind.execute(sa.text("SELECT conname FROM pg_constraint WHERE contype = 'f'")).scalars())
    for table, column, referred, on_delete in FOREIGN_KEYS:
        name = _name(table, column, referred)
        if name in existing:  # added NOT VALID by an upgrade whose VALIDATE failed: validated below
            continue
        action = f" ON DELETE {on_delete}" if on_delete else ""
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({column}) "
            f"REFERENCES {referred} (id){action} NOT VALID"
        )
    with op.get_context().autocommit_block():
        for table, column, referred, _on_delete in FOREIGN_KEYS:
            op.execute(f"ALTER TABLE {table} VALIDATE CONSTRAINT {_name(table, column, referred)}")


def _upgrade_sqlite() -> None:
    _sqlite_foreign_keys(False)
    for table in _tables():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name_table, column, referred, on_delete in FOREIGN_KEYS:
                if name_table == table:
                    batch_op.create_foreign_key(
                        _name(table, column, referred), referred, [column], ["id"], ondelete=on_delete
                    )
    _sqlite_foreign_keys(True)
    # The rebuilt tables were copied with enforcement off: the look-up above found nothing dangling,
    # and this confirms it with SQLite's own check of every key.
    violations = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        raise DanglingReferences(f"PRAGMA foreign_key_check after the rebuild: {violations[:SAMPLE]}")


def downgrade() -> None:
    is_sqlite = op.get_bind().dialect.name == "sqlite"
    if is_sqlite:
        _sqlite_foreign_keys(False)
    for table in reversed(_tables()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name_table, column, referred, _on_delete in FOREIGN_KEYS:
                if name_table == table:
                    batch_op.drop_constraint(_name(table, column, referred), type_="foreignkey")
    if is_sqlite:
        _sqlite_foreign_keys(True)
