"""merged tickets by receipt: a partial index for the annual report's merged applications

The interaction figures read the period's unmerged tickets in one scan whose only condition is the
period and "not merged" (`tracker.reports.aggregation.ticket_figures`); merged applications, which still
count in the disclosure channel, are read on their own. Merged tickets are few, so this index is small
and costs nothing on the inserts of unmerged tickets.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

WHERE = "merged_into_id IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_tickets_merged_received",
        "tickets",
        ["received_at"],
        postgresql_where=sa.text(WHERE),
        sqlite_where=sa.text(WHERE),
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_merged_received", table_name="tickets")
