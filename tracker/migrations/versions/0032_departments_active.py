"""departments.is_active: a department can be disabled (issue 18, item 3)

A disabled department receives no new tickets (intake, routing rules, 转办) and no new accounts, but keeps
its tickets, history and report figures. Existing departments are active.

Revision ID: 0032
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no batch rebuild): SQLite and PostgreSQL both add a column with a constant default
    # in place, and rebuilding `departments` would touch every table that refers to it.
    op.add_column(
        "departments", sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    # ALTER TABLE … DROP COLUMN in place (SQLite 3.35+; the image's is 3.40): a batch rebuild would DROP
    # `departments`, which SQLite's foreign-key enforcement refuses while users and tickets point at it.
    op.drop_column("departments", "is_active")
