"""citizen messages: telling the citizen (SMS, e-mail), the office's templates, opt-out, portal ratings

* ``citizen_messages``: one message to a ticket's citizen (受理, 补正, 延期, 答复, 回访, 查询码找回) per
  medium, its text as sent; UNIQUE ``key`` makes "sent once" a fact.
* ``deliveries.citizen_message_id``: such a message goes out through the same delivery rows as staff
  notifications (lease, backoff, failure); ``notification_id`` becomes nullable (one of the two is set).
* ``message_templates``: the office's wording per kind and medium, and the gateway's template code.
* ``notification_channels.options``: the SMS gateway's provider (generic, Aliyun, Tencent) and settings.
* ``contacts.notify_opt_out_at``: the citizen asked for no more messages.
* ``tickets.satisfaction_source``: where a rating came from (revisit, portal, platform); existing
  ratings came from 回访 or an import — unknown, so left NULL and reported as "来源未记录".
* ``recovery_codes``: SMS codes to recover a lost 查询码 (HMACs only).

Revision ID: 0029
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

from tracker.types import UTCDateTime

revision = "0029"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "citizen_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("medium", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=255), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_citizen_messages_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_messages")),
        sa.UniqueConstraint("key", name=op.f("uq_citizen_messages_key")),
    )
    op.create_index(op.f("ix_citizen_messages_ticket_id"), "citizen_messages", ["ticket_id"])
    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("medium", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("gateway_template", sa.String(length=64), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_message_templates_updated_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint("kind", "medium", name=op.f("uq_message_templates_kind_medium")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("phone_digest", sa.String(length=64), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(op.f("ix_recovery_codes_expires_at"), "recovery_codes", ["expires_at"])
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("notification_id", existing_type=sa.Integer(), nullable=True)
        batch.add_column(sa.Column("citizen_message_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_deliveries_citizen_message_id_citizen_messages"),
            "citizen_messages",
            ["citizen_message_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(op.f("ix_deliveries_citizen_message_id"), ["citizen_message_id"])
    # Nullable columns without defaults: no table rewrite on PostgreSQL.
    op.add_column("notification_channels", sa.Column("options", sa.JSON(), nullable=True))
    op.add_column("contacts", sa.Column("notify_opt_out_at", UTCDateTime(timezone=True), nullable=True))
    op.add_column("tickets", sa.Column("satisfaction_source", sa.String(length=16), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite ≥ 3.35 has it): a batch copy of `tickets` would have to drop a table
    # that other tables' rows refer to.
    op.drop_column("tickets", "satisfaction_source")
    op.drop_column("contacts", "notify_opt_out_at")
    op.drop_column("notification_channels", "options")
    op.execute("DELETE FROM deliveries WHERE citizen_message_id IS NOT NULL")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index(op.f("ix_deliveries_citizen_message_id"))
        batch.drop_constraint(op.f("fk_deliveries_citizen_message_id_citizen_messages"), type_="foreignkey")
        batch.drop_column("citizen_message_id")
        batch.alter_column("notification_id", existing_type=sa.Integer(), nullable=False)
    op.drop_index(op.f("ix_recovery_codes_expires_at"), table_name="recovery_codes")
    op.drop_table("recovery_codes")
    op.drop_table("message_templates")
    op.drop_index(op.f("ix_citizen_messages_ticket_id"), table_name="citizen_messages")
    op.drop_table("citizen_messages")
