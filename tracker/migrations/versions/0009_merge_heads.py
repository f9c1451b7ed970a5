"""merge the intake, workers, dashboard, registers and privacy branches

They were written side by side on top of 0003; from here on the history is one line again.

Revision ID: 0009
Revises: 0004, 0005, 0006, 0007, 0008
"""

revision = "0009"
down_revision = ("0004", "0005", "0006", "0007", "0008")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
