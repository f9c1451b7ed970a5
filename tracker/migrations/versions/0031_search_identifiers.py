"""search by identifier and by single character

* tickets.external_ref gets its own index (ix_tickets_external_ref): the search finds a ticket by the
  platform's reference (the 12345 work-order number) without the channel, which the unique constraint
  (channel, external_ref) needs first;
* contacts.name gets an index (ix_contacts_name): the search finds a ticket by its contact's exact name;
* the search index is rewritten: tracker.search now indexes every CJK character besides jieba's words, so
  a single character (企) is found. Batches of 1000 tickets, read by id range (an upgrade of a large
  database takes about a minute per 100,000 tickets, the time jieba needs).

Revision ID: 0031
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0029"
branch_labels = None
depends_on = None

BATCH = 1000


def _rewrite_search_index() -> None:
    # The segmentation of the version that runs the upgrade; tables named here, not through the models,
    # so later model changes do not change what this revision does.
    from tracker.search import segment_for_index

    bind = op.get_bind()
    tickets = sa.table("tickets", sa.column("id"), sa.column("subject"), sa.column("body"))
    search = sa.table("ticket_search", sa.column("ticket_id"), sa.column("terms"), sa.column("search_vector"))
    is_postgresql = bind.dialect.name == "postgresql"
    last = 0
    while True:
        rows = bind.execute(
            sa.select(tickets.c.id, tickets.c.subject, tickets.c.body)
            .where(tickets.c.id > last)
            .order_by(tickets.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        bind.execute(sa.delete(search).where(search.c.ticket_id.in_(ids)))
        values = [{"tid": row.id, "terms_": segment_for_index(row.subject, row.body)} for row in rows]
        vector = (
            sa.func.to_tsvector(sa.text("'simple'::regconfig"), sa.bindparam("terms_")) if is_postgresql else None
        )
        bind.execute(
            sa.insert(search).values(
                ticket_id=sa.bindparam("tid"), terms=sa.bindparam("terms_"), search_vector=vector
            ),
            values,
        )
        last = ids[-1]


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.create_index("ix_tickets_external_ref", ["external_ref"], unique=False)
    with op.batch_alter_table("contacts") as batch:
        batch.create_index(batch.f("ix_contacts_name"), ["name"], unique=False)
    _rewrite_search_index()


def downgrade() -> None:
    # The index keeps its single characters: the earlier search simply never asks for them.
    with op.batch_alter_table("contacts") as batch:
        batch.drop_index(batch.f("ix_contacts_name"))
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_external_ref")
