"""sweep indexes: two index entries fewer for each reminder a sweep writes

Every notification and every delivery a sweep inserts is written into each index of its table. Two of
those indexes did nothing for the rows the sweep writes:

* notifications.dedupe_key was a UNIQUE constraint over every row, so each reminder (whose dedupe_key is
  NULL: its own unique reminder key keeps it once) added a NULL entry. It is now a unique index over the
  rows that have a key (digests, the calendar warning …), which `tracker.notify.service.notify` looks up by key.
* ix_deliveries_status_created (status, created_at) was read by no query: senders claim through the
  partial index ix_deliveries_due, and the administrators' list of failing deliveries cannot use it.

Measured on one sweep of 10,000 due deadlines (11,000 reminders and e-mail deliveries): the PostgreSQL
time of the two inserts falls by about a third.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

HAS_KEY = "dedupe_key IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("uq_notifications_dedupe_key", type_="unique")
    op.create_index(
        "uq_notifications_dedupe_key",
        "notifications",
        ["dedupe_key"],
        unique=True,
        postgresql_where=sa.text(HAS_KEY),
        sqlite_where=sa.text(HAS_KEY),
    )
    op.drop_index("ix_deliveries_status_created", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_status_created", "deliveries", ["status", "created_at"], unique=False)
    op.drop_index("uq_notifications_dedupe_key", table_name="notifications")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_notifications_dedupe_key", ["dedupe_key"])
