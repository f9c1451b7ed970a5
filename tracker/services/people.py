"""Departments and users: creation, sign-in with lockout, password change."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import PermissionDenied, ValidationError
from tracker.models import ROLES, AuditEntry, Department, User
from tracker.security import hash_password, verify_password, verify_password_of_nobody
from tracker.sessions import end_user_sessions

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
# One answer for every failed sign-in — unknown user, wrong password, deactivated or locked account — so
# the answer tells an attacker nothing about which usernames exist or which accounts are locked.
SIGN_IN_FAILED = "用户名或密码错误，或账户因多次失败已临时锁定，请稍后再试"


def create_department(
    session: Session, *, code: str, name: str, parent_code: str | None = None
) -> Department:
    parent = None
    if parent_code:
        parent = session.scalar(select(Department).where(Department.code == parent_code))
        if parent is None:
            raise ValidationError(f"上级部门 {parent_code!r} 不存在", fields={"parent": "不存在"})
    department = Department(code=code, name=name, parent=parent)
    session.add(department)
    session.flush()
    return department


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(f"密码至少 {MIN_PASSWORD_LENGTH} 位", fields={"password": "太短"})


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    department_code: str,
    display_name: str,
    now: datetime,
    email: str | None = None,
) -> User:
    if role not in ROLES:
        raise ValidationError(f"角色应为 {'/'.join(ROLES)} 之一", fields={"role": "取值无效"})
    _check_password(password)
    department = session.scalar(select(Department).where(Department.code == department_code))
    if department is None:
        raise ValidationError(f"部门 {department_code!r} 不存在", fields={"department": "不存在"})
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationError(f"用户名 {username!r} 已存在", fields={"username": "已存在"})
    user = User(
        username=username,
        display_name=display_name,
        department=department,
        role=role,
        password_hash=hash_password(password),
        email=email,
        created_at=now,
        preferences={},
    )
    session.add(user)
    session.flush()
    return user


def authenticate(
    session: Session, username: str, password: str, *, now: datetime, ip: str | None = None
) -> User:
    """Return the user for valid credentials; count failures and lock the account for a while after
    too many. Every failure raises the same message after the same work: exactly one argon2
    verification whether the user exists, is deactivated or is locked (a dummy hash for nobody), so
    neither the answer nor its timing tells which usernames exist."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        verify_password_of_nobody(password)
        raise PermissionDenied(SIGN_IN_FAILED)
    is_right = verify_password(user.password_hash, password)
    if user.locked_until is not None and user.locked_until > now:
        session.add(AuditEntry(at=now, user_id=user.id, action="login.locked", ip=ip, detail={}))
        raise PermissionDenied(SIGN_IN_FAILED)
    if not is_right or not user.is_active:
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
        session.add(AuditEntry(at=now, user_id=user.id, action="login.failed", ip=ip, detail={}))
        raise PermissionDenied(SIGN_IN_FAILED)
    user.failed_logins = 0
    user.locked_until = None
    session.add(AuditEntry(at=now, user_id=user.id, action="login.ok", ip=ip, detail={}))
    return user


def change_password(session: Session, user: User, old: str, new: str, *, now: datetime) -> None:
    if not verify_password(user.password_hash, old):
        raise ValidationError("原密码不正确", fields={"old_password": "不正确"})
    _check_password(new)
    user.password_hash = hash_password(new)
    # Every signed-in copy ends, this browser's too (the web layer opens it a new session).
    end_user_sessions(session, user.id)
    session.add(AuditEntry(at=now, user_id=user.id, action="password.changed", detail={}))
