"""report facts on the ticket row (issue 7): reply due time, working days to reply, application outcome

The annual report read them from joins over deadlines and the event history; they are now written on
the ticket when they happen. Existing rows are backfilled with the same function the services call
(`tracker.reports.facts.refresh_facts`), so an upgraded database reports the same figures.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

import tracker.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('reply_due_at', tracker.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('reply_workdays', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('status_changed_at', tracker.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('history_outcome', sa.String(length=64), nullable=True))
    op.create_index(
        'ix_tickets_applications_received',
        'tickets',
        ['received_at'],
        postgresql_include=[
            'id', 'channel', 'applicant_type', 'status', 'outcome', 'history_outcome', 'status_changed_at', 'updated_at',
            'department_id',
        ],
        postgresql_where=sa.text("channel = 'disclosure'"),
        sqlite_where=sa.text("channel = 'disclosure'"),
    )
    from sqlalchemy.orm import Session

    from tracker.tickets.models import Ticket
    from tracker.reports.facts import refresh_facts

    session = Session(bind=op.get_bind())
    # `first_replied_at` comes with 0033, which recounts the working days of the tickets it changes.
    refresh_facts(session, reply_at=Ticket.replied_at)
    session.flush()


def downgrade() -> None:
    op.drop_index('ix_tickets_applications_received', table_name='tickets')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('history_outcome')
        batch.drop_column('status_changed_at')
        batch.drop_column('reply_workdays')
        batch.drop_column('reply_due_at')
