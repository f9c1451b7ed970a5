"""letters: statutory letters of a disclosure application, their numbers and the office's templates

* ``letters``: one issued letter (kind, 文号, the inputs it was issued with, its file among the ticket's
  attachments, 送达方式 and 送达日期); unique (year, kind, seq) and unique ``doc_number``.
* ``letter_counters``: the last 文号 per year and kind, incremented in one statement.
* ``letter_templates``: the DOCX templates the office uploaded; one active per kind (partial unique index).

Revision ID: 0030
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0030"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", "kind", name=op.f("pk_letter_counters")),
    )
    op.create_table(
        "letter_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["users.id"], name=op.f("fk_letter_templates_uploaded_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter_templates")),
    )
    op.create_index(
        "ix_letter_templates_active_kind",
        "letter_templates",
        ["kind"],
        unique=True,
        postgresql_where=sa.text("is_active"),
        sqlite_where=sa.text("is_active"),
    )
    op.create_table(
        "letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("doc_number", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("attachment_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=True),
        sa.Column("issued_by_id", sa.Integer(), nullable=True),
        sa.Column("issued_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("served_via", sa.String(length=32), nullable=True),
        sa.Column("served_on", sa.Date(), nullable=True),
        sa.Column("served_by_id", sa.Integer(), nullable=True),
        sa.Column("served_at", tracker.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["attachment_id"], ["attachments.id"], name=op.f("fk_letters_attachment_id_attachments")
        ),
        sa.ForeignKeyConstraint(["issued_by_id"], ["users.id"], name=op.f("fk_letters_issued_by_id_users")),
        sa.ForeignKeyConstraint(["served_by_id"], ["users.id"], name=op.f("fk_letters_served_by_id_users")),
        sa.ForeignKeyConstraint(
            ["template_id"], ["letter_templates.id"], name=op.f("fk_letters_template_id_letter_templates")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_letters_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letters")),
        sa.UniqueConstraint("doc_number", name=op.f("uq_letters_doc_number")),
        sa.UniqueConstraint("year", "kind", "seq", name=op.f("uq_letters_year_kind_seq")),
    )
    op.create_index(op.f("ix_letters_ticket_id"), "letters", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_letters_ticket_id"), table_name="letters")
    op.drop_table("letters")
    op.drop_index("ix_letter_templates_active_kind", table_name="letter_templates")
    op.drop_table("letter_templates")
    op.drop_table("letter_counters")
