"""unread indexes: two indexes no query reads, each written by every deadline change and every event

Every deadline the sweep visits is updated (its next check, and for a breach its state and version), and
the update is not HOT (``next_check_at`` is indexed), so it adds an entry to each index of ``deadlines``;
every breach appends an event, with an entry in each index of ``ticket_events``. Two of those indexes
serve no query:

* ix_deadlines_due_at (due_at): the queues find a ticket's deadlines through (ticket_id, kind) and sort
  by ix_deadlines_open_reply_due; "overdue by department" and the supervisors' digest ask for every
  open deadline due before a moment, which takes in nearly all deadlines ever due — PostgreSQL chose the
  index there (a bitmap over every past due time) and is as fast without it (a scan of the table).
* ix_ticket_events_kind_at (kind, occurred_at): the history is read per ticket (ix_ticket_events_ticket_at)
  and the 12345 callbacks read new events by id; nothing asks for events of a kind over time.

Measured on one sweep of 10,000 due deadlines among 1,000,000 open, back to back (with, without, with
again; six sweeps each, one and two lanes): the PostgreSQL CPU of a sweep falls by about a twentieth
(0.57–0.60 s → 0.53–0.57 s on a busy machine; 0.385 → 0.365 s on a quieter one).

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deadlines_due_at", table_name="deadlines")
    op.drop_index("ix_ticket_events_kind_at", table_name="ticket_events")


def downgrade() -> None:
    op.create_index("ix_ticket_events_kind_at", "ticket_events", ["kind", "occurred_at"], unique=False)
    op.create_index("ix_deadlines_due_at", "deadlines", ["due_at"], unique=False)
