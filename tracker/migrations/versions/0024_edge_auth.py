"""edge auth: API nonces, server-side sessions, server-side CAPTCHA challenges

* api_nonces: every signed API request names a nonce; (key_id, nonce) is the primary key, so a second
  use is refused by the database in every process, on SQLite and PostgreSQL alike. Rows are kept until
  the request's timestamp leaves the 5-minute window (expires_at), then purged.
* user_sessions: one row per signed-in browser (the SHA-256 of the cookie's random token). Sign-out,
  a password change and an administrator's "sign out everywhere" delete rows; the idle timeout and the
  absolute lifetime are checked against last_seen_at and created_at. Existing cookies carried no token,
  so everyone signs in again once after the upgrade.
* captcha_challenges: the portal CAPTCHA's answer (as an HMAC) lives here, not in the visitor's cookie,
  and the first answer deletes it.

Revision ID: 0024
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

import tracker.types

revision = "0024"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_nonces",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_id", "nonce", name=op.f("pk_api_nonces")),
    )
    op.create_index(op.f("ix_api_nonces_expires_at"), "api_nonces", ["expires_at"], unique=False)
    op.create_table(
        "captcha_challenges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("answer_digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captcha_challenges")),
    )
    op.create_index(
        op.f("ix_captcha_challenges_expires_at"), "captcha_challenges", ["expires_at"], unique=False
    )
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", tracker.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index(op.f("ix_captcha_challenges_expires_at"), table_name="captcha_challenges")
    op.drop_table("captcha_challenges")
    op.drop_index(op.f("ix_api_nonces_expires_at"), table_name="api_nonces")
    op.drop_table("api_nonces")
