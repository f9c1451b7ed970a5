"""assessment: the prepared monthly 12345 assessment (issue 19, item 8; tracker/reports/assessment_prepare.py)

New table ``assessment_snapshots``: one row per prepared period, UNIQUE on ``period`` — the beat task's
"prepared once" is this constraint, not a look before it writes.

Revision ID: 0039
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0039"
down_revision = "0034"
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


def downgrade() -> None:
    op.drop_table("assessment_snapshots")
