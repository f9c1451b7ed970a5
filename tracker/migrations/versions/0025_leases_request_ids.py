"""leases and request ids: one beat at a time, and the request that wrote an outbox row

* ``leases``: a role only one process may hold while it renews it. Beat takes the ``beat`` lease before
  it schedules anything, so a second beat (``--scale beat=2``, a forgotten one on another host) waits
  idle and takes over only when the first stops renewing (tracker/ops/leases.py, workers/beat.py).
* ``outbox.request_id``: the id of the request or task that wrote the row; the relay sends it in the
  task message's headers, so a consumer's log lines name the request that caused them.

Revision ID: 0025
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0025"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("expires_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_leases")),
    )
    # A nullable column without a default: no table rewrite, on PostgreSQL or SQLite.
    op.add_column("outbox", sa.Column("request_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "request_id")
    op.drop_table("leases")
