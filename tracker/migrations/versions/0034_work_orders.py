"""work orders: the 12345 handling unit's cycle (issue 19, tracker/workorders/models.py)

New tables, nothing existing changes: ``send_backs`` (退单 requests and the platform's decision),
``revisits`` (回访), ``redos`` (重办), ``supervisions`` (督办 / 催办), ``co_handlings`` (主办 / 协办 child
orders), ``repeat_links`` (重复件) and ``handling_records`` (办理情况, the internal record). The phone numbers
in ``revisits`` and ``handling_records`` hold ciphertext only (tracker.pii, like ``contacts``).

Revision ID: 0034
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0034"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "co_handlings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_ticket_id", sa.Integer(), nullable=False),
        sa.Column("child_ticket_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("added_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by_label", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_ticket_id"], ["tickets.id"], name=op.f("fk_co_handlings_child_ticket_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_co_handlings_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["parent_ticket_id"], ["tickets.id"], name=op.f("fk_co_handlings_parent_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_co_handlings")),
        sa.UniqueConstraint("child_ticket_id", name=op.f("uq_co_handlings_child_ticket_id")),
        sa.UniqueConstraint(
            "parent_ticket_id", "department_id", name=op.f("uq_co_handlings_parent_ticket_id_department_id")
        ),
    )
    with op.batch_alter_table("co_handlings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_co_handlings_parent_ticket_id"), ["parent_ticket_id"], unique=False
        )

    op.create_table(
        "handling_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("contacted_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("contact_method", sa.String(length=32), nullable=True),
        sa.Column("contact_number_ct", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        sa.Column("recorded_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_handling_records_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_handling_records_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handling_records")),
    )
    with op.batch_alter_table("handling_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_handling_records_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "repeat_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("repeat_of_id", sa.Integer(), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("linked_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("linked_by_label", sa.String(length=200), nullable=False),
        sa.CheckConstraint(
            "basis IN ('same_citizen', 'same_place')", name=op.f("ck_repeat_links_basis_known")
        ),
        sa.CheckConstraint("ticket_id <> repeat_of_id", name=op.f("ck_repeat_links_not_itself")),
        sa.ForeignKeyConstraint(
            ["repeat_of_id"], ["tickets.id"], name=op.f("fk_repeat_links_repeat_of_id_tickets")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_repeat_links_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repeat_links")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_repeat_links_ticket_id")),
    )
    with op.batch_alter_table("repeat_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repeat_links_repeat_of_id"), ["repeat_of_id"], unique=False)

    op.create_table(
        "revisits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("visited_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("phone_ct", sa.Text(), nullable=True),
        sa.Column("result", sa.String(length=32), nullable=False),
        sa.Column("is_resolved", sa.Boolean(), nullable=True),
        sa.Column("was_contacted", sa.Boolean(), nullable=True),
        sa.Column("citizen_words", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_ref", sa.String(length=128), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "result IN ('satisfied', 'basically_satisfied', 'unsatisfied')",
            name=op.f("ck_revisits_result_known"),
        ),
        sa.CheckConstraint("source IN ('platform', 'staff')", name=op.f("ck_revisits_source_known")),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["users.id"], name=op.f("fk_revisits_recorded_by_id_users")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_revisits_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_revisits")),
        sa.UniqueConstraint("ticket_id", "external_ref", name=op.f("uq_revisits_ticket_id_external_ref")),
    )
    with op.batch_alter_table("revisits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_revisits_ticket_id"), ["ticket_id"], unique=False)
        batch_op.create_index("ix_revisits_visited", ["visited_at"], unique=False)

    op.create_table(
        "send_backs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("reason_text", sa.Text(), nullable=False),
        sa.Column("suggested_unit", sa.String(length=200), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_label", sa.String(length=200), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "reason_code IN ('not_our_duty', 'incomplete', 'duplicate', 'wrong_area', 'other')",
            name=op.f("ck_send_backs_reason_code_known"),
        ),
        sa.CheckConstraint(
            "state IN ('pending', 'accepted', 'refused', 'withdrawn')", name=op.f("ck_send_backs_state_known")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_send_backs_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_send_backs_requested_by_id_users")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_send_backs_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_backs")),
    )
    with op.batch_alter_table("send_backs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_send_backs_department_requested", ["department_id", "requested_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_send_backs_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "supervisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("issued_by_label", sa.String(length=200), nullable=False),
        sa.Column("issued_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("external_ref", sa.String(length=128), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("escalated_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("kind IN ('supervise', 'urge')", name=op.f("ck_supervisions_kind_known")),
        sa.CheckConstraint("state IN ('open', 'answered')", name=op.f("ck_supervisions_state_known")),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["users.id"], name=op.f("fk_supervisions_answered_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_supervisions_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_supervisions_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervisions")),
        sa.UniqueConstraint("ticket_id", "external_ref", name=op.f("uq_supervisions_ticket_id_external_ref")),
    )
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_supervisions_department_issued", ["department_id", "issued_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_supervisions_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "redos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("revisit_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("redone_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ordered_by_label", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["revisit_id"], ["revisits.id"], name=op.f("fk_redos_revisit_id_revisits")),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_redos_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_redos")),
        sa.UniqueConstraint("revisit_id", name=op.f("uq_redos_revisit_id")),
    )
    with op.batch_alter_table("redos", schema=None) as batch_op:
        batch_op.create_index("ix_redos_redone", ["redone_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_redos_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("redos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_redos_ticket_id"))
        batch_op.drop_index("ix_redos_redone")

    op.drop_table("redos")
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervisions_ticket_id"))
        batch_op.drop_index("ix_supervisions_department_issued")

    op.drop_table("supervisions")
    with op.batch_alter_table("send_backs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_send_backs_ticket_id"))
        batch_op.drop_index("ix_send_backs_department_requested")

    op.drop_table("send_backs")
    with op.batch_alter_table("revisits", schema=None) as batch_op:
        batch_op.drop_index("ix_revisits_visited")
        batch_op.drop_index(batch_op.f("ix_revisits_ticket_id"))

    op.drop_table("revisits")
    with op.batch_alter_table("repeat_links", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repeat_links_repeat_of_id"))

    op.drop_table("repeat_links")
    with op.batch_alter_table("handling_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_handling_records_ticket_id"))

    op.drop_table("handling_records")
    with op.batch_alter_table("co_handlings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_co_handlings_parent_ticket_id"))

    op.drop_table("co_handlings")
