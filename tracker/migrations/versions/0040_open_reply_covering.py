"""open_reply_covering: the queues' index on open reply deadlines covers their state (PostgreSQL)

Migration 0039 added ``ix_deadlines_reply_due_met`` (every reply deadline by due time, covering its state)
for the 12345 assessment. PostgreSQL then sorted the queue pages by that index, as an index-only scan,
rather than by ``ix_deadlines_open_reply_due``, whose entries it had to fetch from the table. That meant
reading past every met deadline: at 1,000,000 tickets the first page of a queue took 60–95 ms of SQL
instead of 1–24 ms (docs/benchmarks.md, bench:queues). ``ix_deadlines_open_reply_due`` is rebuilt with
``INCLUDE (state)``. The queue's reply-deadline columns (due time, ticket, state) are then all in the
smaller, ordered index, and the queue reads 51 entries of it. SQLite has no INCLUDE: the index there is
unchanged. No constraint changes.

Revision ID: 0040
Revises: 0039
"""

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None

OPEN_REPLY = "kind = 'reply' AND state <> 'met' AND state <> 'cancelled'"


def _rebuild(include: list[str]) -> None:
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index("ix_deadlines_open_reply_due")
        batch_op.create_index(
            "ix_deadlines_open_reply_due",
            ["due_at", "ticket_id"],
            unique=False,
            postgresql_include=include,
            postgresql_where=sa.text(OPEN_REPLY),
            sqlite_where=sa.text(OPEN_REPLY),
        )


def upgrade() -> None:
    _rebuild(["state"])


def downgrade() -> None:
    _rebuild([])
