"""Departments, users and the audit log of who did and saw what."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.orm import Base, int_pk

ROLES = {
    "staff": "承办人",
    "supervisor": "科室负责人",
    "admin": "办公室/管理员",
    "auditor": "审计",
}


class Department(Base):
    """The bureau and its offices, a small tree."""

    __tablename__ = "departments"

    id: Mapped[int_pk]
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # A disabled department receives no new tickets, routing or accounts; its history and figures stay
    # (tracker.people.service.update_department).
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())

    parent: Mapped[Department | None] = relationship(remote_side="Department.id")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int_pk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    # Which notification channels this user wants: {"email": true, "inapp": true, ...}
    preferences: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    # The password policy (tracker.people.passwords): when the password was last set, whether its holder must
    # choose a new one at the next sign-in (set by an administrator), and the hashes of earlier ones.
    password_changed_at: Mapped[datetime | None]
    must_change_password: Mapped[bool] = mapped_column(default=False)
    password_history: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The second factor (tracker.people.totp): the secret encrypted with the secret key, the last time step
    # accepted (a code is good once), and the argon2 hashes of the unused recovery codes.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(500))
    totp_enrolled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    totp_recovery_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Single sign-on (web/views/oidc.py): the identity provider's `sub` once this account has used it.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)

    department: Mapped[Department] = relationship()

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)


class UserSession(Base):
    """A signed-in browser: the cookie carries a random token, the row its SHA-256. Sign-out deletes the
    row, so a copied cookie opens nothing afterwards (tracker.people.sessions)."""

    __tablename__ = "user_sessions"

    id: Mapped[int_pk]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class AuditEntry(Base):
    """Who did or saw what outside a ticket's own history: reveals, sign-ins, admin changes, exports.

    Each entry carries the hash of its predecessor (`prev_hash`) and its own (`entry_hash`, over every
    column and `prev_hash`): `seq`, `prev_hash`, `entry_hash` and `hash_algorithm` are filled in as the
    row is inserted (tracker.audit.models), never by the code that writes the entry.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),)

    id: Mapped[int_pk]
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(64))
    object_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))
    # The chain (tracker.audit): position, link to the predecessor, this entry's digest, and its algorithm.
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))
    hash_algorithm: Mapped[str] = mapped_column(String(8))
