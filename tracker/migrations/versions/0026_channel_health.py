"""channel health: what the operator needs to act on a channel, and the robots' pacing

* intake_adapter_states.last_error_code — the service's own code of the last failure (Weibo 21327,
  SMTP 535, HTTP 403 …), which `tracker channel status`, the admin page and /healthz explain in Chinese;
  token_expires_at — when the Weibo access token runs out (oauth2/get_token_info), so the office is warned
  before the poll starts failing; token_checked_at — when that was last asked.
* notification_channels: last_success_at / last_error_at / last_error_code / last_error — the same for
  each group robot, webhook and SMS gateway; next_send_at — the earliest moment the next message may go
  (a robot accepts 20 a minute); paused_until — a robot that answered with its throttle code
  (DingTalk 130101, WeCom 45009) is not called again before this.

Revision ID: 0026
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

from tracker.types import UTCDateTime

revision = "0026"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intake_adapter_states") as batch:
        batch.add_column(sa.Column("last_error_code", sa.String(32), nullable=True))
        batch.add_column(sa.Column("token_expires_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("token_checked_at", UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("notification_channels") as batch:
        batch.add_column(sa.Column("last_success_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error_code", sa.String(32), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(500), nullable=True))
        batch.add_column(sa.Column("next_send_at", UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("paused_until", UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification_channels") as batch:
        for name in ("paused_until", "next_send_at", "last_error", "last_error_code", "last_error_at"):
            batch.drop_column(name)
        batch.drop_column("last_success_at")
    with op.batch_alter_table("intake_adapter_states") as batch:
        batch.drop_column("token_checked_at")
        batch.drop_column("token_expires_at")
        batch.drop_column("last_error_code")
