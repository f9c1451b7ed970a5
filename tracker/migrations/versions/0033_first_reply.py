"""first reply: the time of a ticket's first 答复, which the report's on-time rate judges

`tickets.replied_at` is the time of the latest reply (a reopened ticket answered again moves it). The
report judged timeliness by it, so an application answered in time, reopened and answered again later
counted as late. `first_replied_at` is written once, at the first reply (tracker.workflow.transitions.
reply_ticket), and never moves; the interaction figures (replied, on time, working days to reply) read it.

Backfill: the earliest status event into 已答复, else `replied_at` (a ticket replied before events were
kept). One UPDATE over the replied tickets; then the working days to reply of the few tickets answered
more than once are recounted to their first answer.

Revision ID: 0033
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0033"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: no table rewrite, on PostgreSQL or SQLite.
    op.add_column(
        "tickets", sa.Column("first_replied_at", tracker.types.UTCDateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE tickets SET first_replied_at = COALESCE("
        "(SELECT MIN(e.occurred_at) FROM ticket_events e WHERE e.ticket_id = tickets.id"
        " AND e.status_after = 'replied' AND e.kind = 'ticket.status_changed'), replied_at)"
        " WHERE replied_at IS NOT NULL"
    )
    # The working days to reply now count to the first reply: recount where it differs from the last.
    from sqlalchemy.orm import Session

    from tracker.tickets.models import Ticket
    from tracker.reports.facts import refresh_facts

    session = Session(bind=op.get_bind())
    refresh_facts(session, Ticket.first_replied_at != Ticket.replied_at)
    session.flush()


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite ≥ 3.35 has it): a batch copy of `tickets` would trip its foreign keys.
    op.drop_column("tickets", "first_replied_at")
