"""Departments and users: creation, sign-in with lockout, password change."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import PermissionDenied, ValidationError
from tracker.people.models import ROLES, AuditEntry, Department, User
from tracker.people.passwords import PasswordPolicy, check_new_password, set_password
from tracker.security import hash_password, verify_password, verify_password_of_nobody

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
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


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    department_code: str,
    display_name: str,
    now: datetime,
    policy: PasswordPolicy,
    email: str | None = None,
    must_change_password: bool = True,
) -> User:
    """Create an account. Its password was chosen by someone else (an administrator, a script), so by
    default it must be changed at the first sign-in; demo data and tests say otherwise."""
    if role not in ROLES:
        raise ValidationError(f"角色应为 {'/'.join(ROLES)} 之一", fields={"role": "取值无效"})
    check_new_password(policy, password, username=username)
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
        password_changed_at=now,
        must_change_password=must_change_password,
        password_history=[],
        totp_recovery_hashes=[],
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


def change_password(
    session: Session,
    user: User,
    old: str,
    new: str,
    *,
    now: datetime,
    policy: PasswordPolicy,
    ip: str | None = None,
) -> None:
    """The holder changes their own password: the old one first, then the policy (tracker.people.passwords)."""
    if not verify_password(user.password_hash, old):
        session.add(
            AuditEntry(
                at=now,
                user_id=user.id,
                action="password.change_failed",
                ip=ip,
                detail={"reason": "原密码不正确"},
            )
        )
        raise ValidationError("原密码不正确", fields={"old_password": "不正确"})
    try:
        set_password(session, user, new, policy=policy, now=now, ip=ip)
    except ValidationError as exc:
        session.add(
            AuditEntry(
                at=now,
                user_id=user.id,
                action="password.change_failed",
                ip=ip,
                detail={"reason": exc.message},
            )
        )
        raise


def reset_password(
    session: Session,
    admin: User,
    user: User,
    new: str,
    *,
    now: datetime,
    policy: PasswordPolicy,
    ip: str | None,
) -> None:
    """An administrator sets someone's password: checked by the same policy, to be changed at their next
    sign-in."""
    if admin.role != "admin":
        raise PermissionDenied("只有管理员可以重置密码")
    set_password(session, user, new, policy=policy, now=now, by_admin=admin, ip=ip)
