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


def assessment_department(user: User, requested_code: str | None) -> str | None:
    """The unit the user may see in the 12345 assessment (docs/assessment.md, "Who sees what").

    The office (administrators) and auditors see every unit, the bureau's totals and anyone's figures;
    a 科室负责人 sees their own unit's row (ranked among all units), the bureau's totals and their own
    unit's people; a 承办人 sees nothing (the assessment judges units and is the office's instrument).
    None means every unit.
    """
    if user.role in READ_ANY_ROLES:
        return requested_code or None
    if user.role == "supervisor":
        own = user.department.code
        if requested_code and requested_code != own:
            raise PermissionDenied("只能查看本部门的考核结果")
        return own
    raise PermissionDenied("无权查看考核结果")
