"""report speed (issue 7): the label a ticket counts as in the top topics; applications by last change

The annual report's top topics joined every ticket of the year with ticket_topics (a hash join of two
million rows with their topics, most of the report's time). A ticket now carries what it counts as: its
only topic, or its 诉求分类 when it has none (`topic_label`), and whether it has several
(`has_several_topics`, counted from ticket_topics through a small partial index). Existing rows are
backfilled with the SQL definition (then `tracker.reports.facts.refresh_topic_facts`).

Section 三 reads from their event history the applications changed after the end of the year: a partial
index on `status_changed_at` finds them, instead of a second pass over the year's applications.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("topic_label", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("has_several_topics", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # The definition of `tracker.reports.facts.refresh_topic_facts` as it stood at this revision (written
    # out: that function now writes migration 0021's label ids, a table this revision does not have).
    op.execute(
        "UPDATE tickets SET "
        "topic_label = CASE (SELECT count(*) FROM ticket_topics tt WHERE tt.ticket_id = tickets.id) "
        "WHEN 0 THEN category "
        "WHEN 1 THEN (SELECT min(tt.topic) FROM ticket_topics tt WHERE tt.ticket_id = tickets.id) END, "
        "has_several_topics = (SELECT count(*) FROM ticket_topics tt WHERE tt.ticket_id = tickets.id) > 1"
    )
    # Partial indexes: the tickets with several topics by receipt, the applications by last change.
    for name, column, where in (
        ("ix_tickets_several_topics_received", "received_at", "has_several_topics"),
        ("ix_tickets_applications_changed", "status_changed_at", "channel = 'disclosure'"),
    ):
        op.create_index(
            name, "tickets", [column], postgresql_where=sa.text(where), sqlite_where=sa.text(where)
        )


def downgrade() -> None:
    op.drop_index("ix_tickets_applications_changed", table_name="tickets")
    op.drop_index("ix_tickets_several_topics_received", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("has_several_topics")
        batch.drop_column("topic_label")
