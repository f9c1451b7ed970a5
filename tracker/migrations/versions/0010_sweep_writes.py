"""sweep writes: drop an index and two foreign keys the sweep paid for on every row and nothing needed

* ix_deadlines_next_check_running (next_check_at WHERE state = 'running') was superseded by
  ix_deadlines_next_check_open (state IN ('running', 'breached')), which the sweep reads; no query used it,
  yet every sweep UPDATE of next_check_at (never HOT: the column is indexed) wrote an entry into it.
* reminder_ledger.ticket_id is a copy of its deadline's ticket (kept in the ledger's unique key); the
  deadline_id foreign key already guarantees the row and cascades when the ticket goes.
* deliveries.user_id is a copy of its notification's user (whose foreign key guarantees it); the
  notification_id foreign key cascades.
Each foreign key costs a lookup and a row lock per inserted row: ~20 % of a sweep's database time.

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deadlines_next_check_running",
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        )
    with op.batch_alter_table("reminder_ledger", schema=None) as batch_op:
        batch_op.drop_constraint("fk_reminder_ledger_ticket_id_tickets", type_="foreignkey")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("fk_deliveries_user_id_users", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_foreign_key("fk_deliveries_user_id_users", "users", ["user_id"], ["id"])
    with op.batch_alter_table("reminder_ledger", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_reminder_ledger_ticket_id_tickets", "tickets", ["ticket_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deadlines_next_check_running",
            ["next_check_at"],
            unique=False,
            postgresql_where=sa.text("state = 'running'"),
            sqlite_where=sa.text("state = 'running'"),
        )
