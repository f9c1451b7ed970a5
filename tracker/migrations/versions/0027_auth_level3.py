"""auth level 3: password policy and second factor on users; the audit log becomes a hash chain

users: when the password was set, whether it must be changed at the next sign-in, the hashes of earlier
passwords, the TOTP secret (encrypted), the last accepted time step, the recovery codes' hashes, and the
OpenID Connect subject. Existing accounts count their password as set now (no one is expired by the
upgrade itself).

audit_log: `seq`, `prev_hash`, `entry_hash`, `hash_algorithm` (tracker.audit). Existing entries are
chained here in id order with SHA-256, one pass; `audit_chain` holds the head, `audit_syslog_cursor`
how far syslog has been sent (existing entries count as sent: a newly configured syslog receives what
is written from then on).

Revision ID: 0027
Revises: 0023
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from tracker.audit.hashing import DEFAULT_ALGORITHM, GENESIS_HASH, entry_hash
from tracker.types import UTCDateTime

revision = "0027"
down_revision = "0023"
branch_labels = None
depends_on = None


def _sqlite_foreign_keys(enabled: bool) -> None:
    """Switch SQLite's foreign-key enforcement (between transactions: inside one the pragma does nothing).

    Batch mode rebuilds `users` (copy, drop, rename); many tables refer to it, and with enforcement on the
    DROP counts as deleting every row they point at. The copy keeps the ids.
    """
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.get_context().autocommit_block():
        op.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")


def upgrade() -> None:
    _sqlite_foreign_keys(False)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("password_changed_at", UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("password_history", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("totp_secret_encrypted", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("totp_enrolled_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("totp_recovery_hashes", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("oidc_subject", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_users_oidc_subject"), ["oidc_subject"])
    users = sa.table(
        "users",
        sa.column("password_changed_at", UTCDateTime()),
        sa.column("password_history", sa.JSON()),
        sa.column("totp_recovery_hashes", sa.JSON()),
    )
    op.execute(
        users.update().values(password_changed_at=datetime.now(UTC), password_history=[], totp_recovery_hashes=[])
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_history", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("totp_recovery_hashes", existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash_algorithm", sa.String(length=8), nullable=True))

    last_seq, last_hash = _chain_existing_entries()

    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        for name in ("prev_hash", "entry_hash"):
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("hash_algorithm", existing_type=sa.String(length=8), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_seq"), ["seq"])

    chain = op.create_table(
        "audit_chain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("algorithm", sa.String(length=8), nullable=False),
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain")),
    )
    op.bulk_insert(
        chain,
        [
            {
                "id": 1,
                "last_seq": last_seq,
                "last_hash": last_hash,
                "algorithm": DEFAULT_ALGORITHM,
                "anchor_seq": 0,
                "anchor_hash": GENESIS_HASH,
            }
        ],
    )
    cursor = op.create_table(
        "audit_syslog_cursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("forwarded_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_syslog_cursor")),
    )
    op.bulk_insert(cursor, [{"id": 1, "forwarded_seq": last_seq}])
    _sqlite_foreign_keys(True)


def _chain_existing_entries() -> tuple[int, str]:
    audit = sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("at", UTCDateTime()),
        sa.column("user_id", sa.Integer()),
        sa.column("action", sa.String()),
        sa.column("object_type", sa.String()),
        sa.column("object_id", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("ip", sa.String()),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("entry_hash", sa.String()),
        sa.column("hash_algorithm", sa.String()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(audit).order_by(audit.c.id)).all()
    seq, prev = 0, GENESIS_HASH
    for row in rows:
        seq += 1
        digest = entry_hash(
            DEFAULT_ALGORITHM,
            seq=seq,
            at=row.at,
            user_id=row.user_id,
            action=row.action,
            object_type=row.object_type,
            object_id=row.object_id,
            detail=row.detail,
            ip=row.ip,
            prev_hash=prev,
        )
        bind.execute(
            audit.update()
            .where(audit.c.id == row.id)
            .values(seq=seq, prev_hash=prev, entry_hash=digest, hash_algorithm=DEFAULT_ALGORITHM, detail=row.detail or {})
        )
        prev = digest
    return seq, prev


def downgrade() -> None:
    _sqlite_foreign_keys(False)
    op.drop_table("audit_syslog_cursor")
    op.drop_table("audit_chain")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_seq"), type_="unique")
        for name in ("hash_algorithm", "entry_hash", "prev_hash", "seq"):
            batch_op.drop_column(name)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_oidc_subject"), type_="unique")
        for name in (
            "oidc_subject",
            "totp_recovery_hashes",
            "totp_last_step",
            "totp_enrolled_at",
            "totp_secret_encrypted",
            "password_history",
            "must_change_password",
            "password_changed_at",
        ):
            batch_op.drop_column(name)
    _sqlite_foreign_keys(True)
