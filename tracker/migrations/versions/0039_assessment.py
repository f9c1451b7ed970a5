"""assessment: the prepared monthly 12345 assessment (issue 19, item 8; tracker/reports/assessment_prepare.py)

New table ``assessment_snapshots``: one row per prepared period, UNIQUE on ``period`` — the beat task's
"prepared once" is this constraint, not a look before it writes.

Three partial indexes for the assessment's month (tracker/reports/models.py says why):
``ix_deadlines_reply_due_met`` (reply deadlines by due time, covering ticket, met time and state on
PostgreSQL), ``ix_deadlines_sign_ticket`` (the sign-for deadline by ticket, covering due time, met time
and state) and ``ix_tickets_closed_at`` (orders by 办结 time). No constraint changes.

Revision ID: 0039
Revises: 0038
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_snapshots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("prepared_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rules_source", sa.String(length=500), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_snapshots")),
        sa.UniqueConstraint("period", name=op.f("uq_assessment_snapshots_period")),
    )
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deadlines_reply_due_met",
            ["due_at"],
            unique=False,
            postgresql_include=["ticket_id", "met_at", "state"],
            postgresql_where=sa.text("kind = 'reply'"),
            sqlite_where=sa.text("kind = 'reply'"),
        )
        batch_op.create_index(
            "ix_deadlines_sign_ticket",
            ["ticket_id"],
            unique=False,
            postgresql_include=["due_at", "met_at", "state"],
            postgresql_where=sa.text("kind = 'sign'"),
            sqlite_where=sa.text("kind = 'sign'"),
        )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tickets_closed_at",
            ["closed_at"],
            unique=False,
            postgresql_where=sa.text("closed_at IS NOT NULL"),
            sqlite_where=sa.text("closed_at IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_closed_at")
    with op.batch_alter_table("deadlines", schema=None) as batch_op:
        batch_op.drop_index("ix_deadlines_sign_ticket")
        batch_op.drop_index("ix_deadlines_reply_due_met")
    op.drop_table("assessment_snapshots")
