"""Who may see which report and keep the registers (the ticket-level checks stay in tracker.people.access)."""

from __future__ import annotations

from tracker.errors import PermissionDenied
from tracker.people.models import User

READ_ANY_ROLES = frozenset(
    {"admin", "auditor"}
)  # the office (admin) and auditors: any department, the bureau
REGISTER_WRITE_ROLES = frozenset({"admin"})


def report_department(user: User, requested_code: str | None) -> str | None:
    """The department code the user may report on: supervisors only their own (with its sub-offices)."""
    if user.role in READ_ANY_ROLES:
        return requested_code or None
    if user.role == "supervisor":
        own = user.department.code
        if requested_code and requested_code != own:
            raise PermissionDenied("只能查看本部门的年度报告")
        return own
    raise PermissionDenied("无权查看年度报告")


def can_force_export(user: User) -> bool:
    """Exporting a report whose cross-checks fail is the office's decision."""
    return user.role == "admin"


def require_register_read(user: User) -> None:
    if user.role not in READ_ANY_ROLES:
        raise PermissionDenied("无权查看年报登记簿")


def require_register_write(user: User) -> None:
    if user.role not in REGISTER_WRITE_ROLES:
        raise PermissionDenied("只有办公室管理员可以维护年报登记簿")
