"""The password policy: one check for every way a password is set, and when a password must change.

The web form, an administrator's reset and `tracker user create` all set a password through
`set_password` (tracker.people.service.create_user for a new account), which checks it with
`check_new_password`: length, character classes, not the username, not one of the last N.
等保 2.0 level 3 (GB/T 22239-2019 8.1.4.1 a): identities are unique and passwords are complex and
changed periodically.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.people.models import AuditEntry, User
from tracker.people.sessions import end_user_sessions
from tracker.security import hash_password, verify_password

# Bound before hashing: argon2 takes any length, an attacker's megabyte password costs it real time.
MAX_PASSWORD_LENGTH = 256

CHARACTER_CLASSES = (
    ("小写字母", str.islower),
    ("大写字母", str.isupper),
    ("数字", str.isdigit),
    ("其他字符", lambda ch: not ch.isalnum()),
)

# Why a signed-in user must choose a new password before doing anything else.
CHANGE_REQUIRED = "required"  # first sign-in with a password an administrator set, or after a reset
CHANGE_EXPIRED = "expired"


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int = 12
    min_classes: int = 3
    max_age_days: int = 90
    history: int = 5

    @classmethod
    def from_settings(cls, settings) -> PasswordPolicy:
        return cls(
            min_length=settings.password_min_length,
            min_classes=settings.password_min_classes,
            max_age_days=settings.password_max_age_days,
            history=settings.password_history,
        )

    def describe(self) -> str:
        return (
            f"至少 {self.min_length} 位，包含小写字母、大写字母、数字、其他字符中的至少 {self.min_classes} 类"
        )


def check_new_password(
    policy: PasswordPolicy, password: str, *, username: str, user: User | None = None
) -> None:
    """Raise ValidationError naming the `password` field unless the policy allows this password."""

    def refuse(reason: str, message: str) -> None:
        raise ValidationError(message, fields={"password": reason})

    if len(password) > MAX_PASSWORD_LENGTH:
        refuse("太长", f"密码不能超过 {MAX_PASSWORD_LENGTH} 个字符")
    if len(password) < policy.min_length:
        refuse("太短", f"密码至少 {policy.min_length} 位")
    classes = sum(1 for _label, test in CHARACTER_CLASSES if any(test(ch) for ch in password))
    if classes < policy.min_classes:
        refuse(
            "字符种类不足", f"密码须包含小写字母、大写字母、数字、其他字符中的至少 {policy.min_classes} 类"
        )
    if username and username.casefold() in password.casefold():
        refuse("包含用户名", "密码不能包含用户名")
    if user is not None and policy.history:
        recent = [user.password_hash, *(user.password_history or [])][: policy.history]
        if any(verify_password(old, password) for old in recent if old):
            refuse("与近期密码相同", f"新密码不能与最近 {policy.history} 次使用的密码相同")


def set_password(
    session: Session,
    user: User,
    password: str,
    *,
    policy: PasswordPolicy,
    now: datetime,
    by_admin: User | None = None,
    ip: str | None = None,
) -> None:
    """Check and set a password. Set by an administrator (a reset), it must be changed at the holder's
    next sign-in; a reset also lifts a lockout. Audited, never with the password."""
    check_new_password(policy, password, username=user.username, user=user)
    if policy.history > 1:
        user.password_history = [user.password_hash, *(user.password_history or [])][: policy.history - 1]
    else:
        user.password_history = []
    user.password_hash = hash_password(password)
    # Whoever knew the old password is signed out everywhere (the web layer opens the holder a new session).
    end_user_sessions(session, user.id)
    user.password_changed_at = now
    user.must_change_password = by_admin is not None
    if by_admin is not None:
        user.failed_logins = 0
        user.locked_until = None
    session.add(
        AuditEntry(
            at=now,
            user_id=(by_admin or user).id,
            action="password.reset" if by_admin is not None else "password.changed",
            object_type="user",
            object_id=str(user.id),
            ip=ip,
            detail={"username": user.username},
        )
    )
    session.flush()


def password_change_reason(user: User, policy: PasswordPolicy, now: datetime) -> str | None:
    """Why this user must change their password now, or None."""
    if user.must_change_password:
        return CHANGE_REQUIRED
    changed_at = user.password_changed_at or user.created_at
    if policy.max_age_days and changed_at + timedelta(days=policy.max_age_days) <= now:
        return CHANGE_EXPIRED
    return None
