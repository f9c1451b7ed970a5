"""reference stamp: one row whose value changes whenever the data administrators edit changes

The holiday calendar, deadline-policy overrides, reminder rules and departments are read by every ticket
opened (the 12345 push: three to four statements a request). Each process now keeps them and reads
only `reference_stamp.value`; a trigger on each of those tables gives the stamp a new value on every
INSERT, UPDATE or DELETE, whoever writes (the dashboard, the CLI, a migration, plain SQL).

A new value is never a value seen before — a sequence on PostgreSQL (nextval is not rolled back), a
random 64-bit number on SQLite — so a change that was rolled back cannot leave its value behind for a
different change to reuse while a process still holds what the rolled-back one built.

SQLite keeps triggers with their table: a later migration that rebuilds one of these tables in batch
mode must create its triggers again (`create_stamp_triggers`).

Revision ID: 0015
Revises: 0014
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

STAMPED_TABLES = (
    "calendar_years",
    "holiday_days",
    "deadline_policy_overrides",
    "reminder_rules",
    "departments",
)


def create_stamp_triggers(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER reference_stamp_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_reference_stamp()"
        )
        return
    for operation in ("INSERT", "UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER reference_stamp_{table}_{operation.lower()} AFTER {operation} ON {table} "
            "BEGIN UPDATE reference_stamp SET value = random(); END"
        )


def upgrade() -> None:
    op.create_table(
        "reference_stamp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_stamp")),
    )
    # A random start: two databases (tests, a re-created benchmark database) never share a value.
    start = secrets.randbelow(2**62)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE reference_stamp_seq START WITH {start}")
        op.execute(
            "CREATE FUNCTION bump_reference_stamp() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE reference_stamp SET value = nextval('reference_stamp_seq'); RETURN NULL; END $$"
        )
    op.execute(f"INSERT INTO reference_stamp (id, value) VALUES (1, {start})")
    for table in STAMPED_TABLES:
        create_stamp_triggers(table)


def downgrade() -> None:
    is_postgresql = op.get_bind().dialect.name == "postgresql"
    for table in STAMPED_TABLES:
        if is_postgresql:
            op.execute(f"DROP TRIGGER reference_stamp_{table} ON {table}")
        else:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER reference_stamp_{table}_{operation}")
    if is_postgresql:
        op.execute("DROP FUNCTION bump_reference_stamp()")
        op.execute("DROP SEQUENCE reference_stamp_seq")
    op.drop_table("reference_stamp")
