"""reminder ledger in notifications: a reminder's notification is its own "sent once" entry

Every reminder_ledger row had exactly one notification (dedupe_key 'ledger:<id>'), written in the same
statement batch and transaction: two rows, with two primary keys, two unique keys, a deadline index and four
foreign-key checks, for one fact. The notification now carries the ledger's key columns (deadline, deadline
version, threshold; the recipient is its user) under the unique index uq_notifications_reminder, and the
sweep inserts it with ON CONFLICT DO NOTHING directly. The ticket is no longer part of the key: a deadline
belongs to one ticket. Notifications of other kinds leave the columns NULL, which never conflicts.

deadline_id has no foreign key (the ledger's had one, a lookup and a row lock per reminder): the sweep
writes the id of the deadline row it has just read and holds FOR UPDATE, and deadlines are never deleted
(tests/tickets/test_never_deleted.py); tests/workers/test_sweep.py checks that every reminder points at a
deadline of its own ticket.

Backfill: each notification made from a ledger row takes that row's key and loses its 'ledger:<id>'
dedupe key; the table is then dropped. Downgrade rebuilds the ledger from the notifications.

Revision ID: 0013
Revises: 0012
"""

from alembic import op
import sqlalchemy as sa

import tracker.types


revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("deadline_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("threshold", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("due_at", tracker.types.UTCDateTime(timezone=True), nullable=True))
    # UPDATE … FROM: PostgreSQL, and SQLite since 3.33.
    op.execute(
        "UPDATE notifications SET deadline_id = l.deadline_id, deadline_version = l.deadline_version, "
        "threshold = l.threshold, due_at = l.due_at, dedupe_key = NULL "
        "FROM reminder_ledger AS l WHERE notifications.dedupe_key = 'ledger:' || CAST(l.id AS VARCHAR)"
    )
    op.create_index(
        "uq_notifications_reminder",
        "notifications",
        ["deadline_id", "deadline_version", "threshold", "user_id"],
        unique=True,
    )
    op.drop_table("reminder_ledger")


def downgrade() -> None:
    op.create_table(
        "reminder_ledger",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("deadline_id", sa.Integer(), nullable=False),
        sa.Column("deadline_version", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.String(length=40), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("due_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deadline_id"],
            ["deadlines.id"],
            name=op.f("fk_reminder_ledger_deadline_id_deadlines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_reminder_ledger_recipient_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_ledger")),
        sa.UniqueConstraint(
            "ticket_id",
            "deadline_id",
            "deadline_version",
            "threshold",
            "recipient_id",
            name="uq_reminder_ledger_key",
        ),
    )
    with op.batch_alter_table("reminder_ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminder_ledger_deadline_id"), ["deadline_id"], unique=False)
    # The ledger row takes its notification's id, so the old 'ledger:<id>' dedupe key can point at it.
    op.execute(
        "INSERT INTO reminder_ledger (id, ticket_id, deadline_id, deadline_version, threshold, recipient_id, "
        "due_at, created_at) SELECT id, ticket_id, deadline_id, deadline_version, threshold, user_id, due_at, "
        "created_at FROM notifications WHERE deadline_id IS NOT NULL"
    )
    op.execute(
        "UPDATE notifications SET dedupe_key = 'ledger:' || CAST(id AS VARCHAR) WHERE deadline_id IS NOT NULL"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('reminder_ledger', 'id'), "
            "(SELECT COALESCE(max(id), 0) + 1 FROM reminder_ledger), false)"
        )
    op.drop_index("uq_notifications_reminder", table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("due_at")
        batch_op.drop_column("threshold")
        batch_op.drop_column("deadline_version")
        batch_op.drop_column("deadline_id")
