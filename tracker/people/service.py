"""Departments and users: creation, sign-in with lockout, password change."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.errors import PermissionDenied, ValidationError
from tracker.people.access import require_role
from tracker.people.models import ROLES, AuditEntry, Department, User
from tracker.people.passwords import PasswordPolicy, check_new_password, set_password
from tracker.security import hash_password, verify_password, verify_password_of_nobody

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
# One answer for every failed sign-in — unknown user, wrong password, deactivated or locked account — so
# the answer tells an attacker nothing about which usernames exist or which accounts are locked.
SIGN_IN_FAILED = "用户名或密码错误，或账户因多次失败已临时锁定，请稍后再试"


DEPARTMENT_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
MAX_DEPARTMENT_NAME = 200


def _audit_department(
    session: Session,
    actor: User | None,
    action: str,
    department: Department,
    detail: dict,
    now: datetime,
    ip: str | None,
    via: str | None,
) -> None:
    if via:
        detail = {**detail, "via": via}
    session.add(
        AuditEntry(
            at=now,
            user_id=actor.id if actor else None,
            action=action,
            object_type="department",
            object_id=str(department.id),
            detail=detail,
            ip=ip,
        )
    )


def _department_by_code(session: Session, code: str, field: str, label: str) -> Department:
    department = session.scalar(select(Department).where(Department.code == code))
    if department is None:
        raise ValidationError(f"{label} {code!r} 不存在", fields={field: "不存在"})
    return department


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError("部门名称必填", fields={"name": "必填"})
    if len(name) > MAX_DEPARTMENT_NAME:
        raise ValidationError(f"部门名称最长 {MAX_DEPARTMENT_NAME} 字", fields={"name": "过长"})
    return name


def create_department(
    session: Session,
    *,
    code: str,
    name: str,
    parent_code: str | None = None,
    actor: User | None = None,
    now: datetime | None = None,
    ip: str | None = None,
    via: str | None = None,
) -> Department:
    """The one door that creates a department (admin page, `tracker department create`, demo data).

    With `now` it writes the `department.created` audit entry; with an `actor` only an administrator may.
    """
    if actor is not None:
        require_role(actor, "admin")
    code = (code or "").strip()
    if not DEPARTMENT_CODE.fullmatch(code):
        raise ValidationError("部门代码须为 1–64 个英文字母、数字或 . - _", fields={"code": "格式不符"})
    name = _clean_name(name)
    if session.scalar(select(Department.id).where(Department.code == code)) is not None:
        raise ValidationError(f"部门代码 {code!r} 已存在", fields={"code": "已存在"})
    parent = None
    if parent_code:
        parent = _department_by_code(session, parent_code, "parent", "上级部门")
        if not parent.is_active:
            raise ValidationError(f"上级部门 {parent.name} 已停用", fields={"parent": "已停用"})
    department = Department(code=code, name=name, parent=parent)
    session.add(department)
    session.flush()
    if now is not None:
        _audit_department(
            session,
            actor,
            "department.created",
            department,
            {"code": code, "name": name, "parent": parent.code if parent else None},
            now,
            ip,
            via,
        )
    return department


_UNCHANGED: Any = object()


def update_department(
    session: Session,
    department: Department,
    *,
    now: datetime,
    actor: User | None,
    name: str | None = None,
    parent_code: str | Any | None = _UNCHANGED,
    is_active: bool | None = None,
    ip: str | None = None,
    via: str | None = None,
) -> dict[str, list]:
    """Rename, move (a new parent, or `None` for a top-level department) or disable/enable a department:
    the one door for the admin page and `tracker department update`. Audited as `department.updated`
    with each change as [before, after]; returns the changes (empty: nothing to do).

    Refused: a parent chain that would loop back to the department itself; a disabled parent; disabling
    the last active top-level department (tickets without routing land there, tracker.workflow.transitions).
    A disabled department keeps its tickets, history and report figures; it only receives nothing new.
    """
    if actor is not None:
        require_role(actor, "admin")
    changes: dict[str, list] = {}
    if name is not None:
        name = _clean_name(name)
        if name != department.name:
            changes["name"] = [department.name, name]
            department.name = name
    if parent_code is not _UNCHANGED:
        parent = _department_by_code(session, parent_code, "parent", "上级部门") if parent_code else None
        if (parent.id if parent else None) != department.parent_id:
            ancestor = parent
            while ancestor is not None:  # the chain from the new parent up must not reach this department
                if ancestor.id == department.id:
                    raise ValidationError(
                        f"不能把 {department.name} 移到它自己或它的下级部门之下（上级部门不能成环）",
                        fields={"parent": "成环"},
                    )
                ancestor = ancestor.parent
            if parent is not None and not parent.is_active:
                raise ValidationError(f"上级部门 {parent.name} 已停用", fields={"parent": "已停用"})
            changes["parent"] = [department.parent.code if department.parent else None, parent_code or None]
            department.parent = parent
    if is_active is not None and is_active != department.is_active:
        if not is_active:
            _refuse_disabling_last_root(session, department)
        changes["is_active"] = [department.is_active, is_active]
        department.is_active = is_active
    if changes:
        session.flush()
        _audit_department(
            session,
            actor,
            "department.updated",
            department,
            {"code": department.code, "name": department.name, "changes": changes},
            now,
            ip,
            via,
        )
    return changes


def _refuse_disabling_last_root(session: Session, department: Department) -> None:
    if department.parent_id is not None:
        return
    other_roots = session.scalar(
        select(func.count(Department.id)).where(
            Department.parent_id.is_(None), Department.is_active, Department.id != department.id
        )
    )
    if not other_roots:
        raise ValidationError(
            f"{department.name} 是唯一启用的顶级部门（未分办的工单进入此处），不能停用",
            fields={"is_active": "唯一顶级部门"},
        )


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
        raise ValidationError(
            f"部门 {department_code!r} 不存在（先用 tracker department create 创建）",
            fields={"department": "不存在"},
        )
    if not department.is_active:
        raise ValidationError(f"部门 {department.name} 已停用", fields={"department": "已停用"})
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
