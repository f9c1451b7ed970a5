"""reply check and repeats (issue 19, items 6 and 7; tracker/workorders/reply_check.py, repeats.py)

``reply_check_rules``: the office's one row of rules for the check before a public reply leaves
(blocking or warning, minimum length, banned phrases, checked channels) and the repeat window.
``repeat_links.dismissed_at`` / ``dismissed_by_label``: a link staff marked "not a repeat" (never deleted).
``ix_tickets_incident_address_received``: the same-place look-up of a new order.

Revision ID: 0038
Revises: 0034
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0038"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_check_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("is_blocking", sa.Boolean(), nullable=False),
        sa.Column("min_length", sa.Integer(), nullable=False),
        sa.Column("banned_phrases", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("repeat_window_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_reply_check_rules_single_row")),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_reply_check_rules_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_check_rules")),
    )
    with op.batch_alter_table("repeat_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dismissed_at", tracker.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("dismissed_by_label", sa.String(length=200), nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tickets_incident_address_received",
            ["incident_address", "received_at"],
            unique=False,
            postgresql_where=sa.text("incident_address IS NOT NULL"),
            sqlite_where=sa.text("incident_address IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_incident_address_received")
    with op.batch_alter_table("repeat_links", schema=None) as batch_op:
        batch_op.drop_column("dismissed_by_label")
        batch_op.drop_column("dismissed_at")
    op.drop_table("reply_check_rules")
