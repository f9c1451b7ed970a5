"""topic labels: tickets store the id of their top-topic label, not its text

The annual report's one scan of a year's tickets groups them by channel × working days to reply × topic
label (tracker.reports.aggregation.ticket_figures). Hashing the label text for each of 2,000,000 rows cost
about a tenth of the scan; an integer costs next to nothing. The labels move into a dictionary,
`topic_labels`, a stamped reference table (migration 0015: a process keeps a copy, rebuilt when a label
is added), and `tickets.topic_label` becomes `tickets.topic_label_id`.

The backfill is two statements over the tickets that have a label; at two million tickets expect it to
take a minute or two, during which tickets are locked for writing.

Revision ID: 0021
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None


def _stamp_triggers(create: bool) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER reference_stamp_topic_labels AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
            "ON topic_labels FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_stamp()"
            if create
            else "DROP TRIGGER reference_stamp_topic_labels ON topic_labels"
        )
        return
    for operation in ("insert", "update", "delete"):
        op.execute(
            f"CREATE TRIGGER reference_stamp_topic_labels_{operation} AFTER {operation.upper()} ON topic_labels "
            "BEGIN UPDATE reference_stamp SET value = random(); END"
            if create
            else f"DROP TRIGGER reference_stamp_topic_labels_{operation}"
        )


def upgrade() -> None:
    op.create_table(
        "topic_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_topic_labels")),
        sa.UniqueConstraint("label", name=op.f("uq_topic_labels_label")),
    )
    op.add_column("tickets", sa.Column("topic_label_id", sa.Integer(), nullable=True))
    op.execute(
        "INSERT INTO topic_labels (label) SELECT DISTINCT topic_label FROM tickets "
        "WHERE topic_label IS NOT NULL ORDER BY topic_label"
    )
    op.execute(
        "UPDATE tickets SET topic_label_id = "
        "(SELECT l.id FROM topic_labels l WHERE l.label = tickets.topic_label) "
        "WHERE topic_label IS NOT NULL"
    )
    op.drop_column("tickets", "topic_label")
    _stamp_triggers(create=True)


def downgrade() -> None:
    _stamp_triggers(create=False)
    op.add_column("tickets", sa.Column("topic_label", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE tickets SET topic_label = "
        "(SELECT l.label FROM topic_labels l WHERE l.id = tickets.topic_label_id) "
        "WHERE topic_label_id IS NOT NULL"
    )
    op.drop_column("tickets", "topic_label_id")
    op.drop_table("topic_labels")
