"""Who may see and do what. One place, used by every page and API call."""

from __future__ import annotations

from sqlalchemy import ColumnElement, true

from tracker.errors import PermissionDenied
from tracker.models import Ticket, User

READ_ALL_ROLES = frozenset({"admin", "auditor"})
WRITE_ROLES = frozenset({"staff", "supervisor", "admin"})


def can_view_ticket(user: User, ticket: Ticket) -> bool:
    return user.role in READ_ALL_ROLES or ticket.department_id == user.department_id


def can_act_on_ticket(user: User, ticket: Ticket) -> bool:
    if user.role == "admin":
        return True
    return user.role in WRITE_ROLES and ticket.department_id == user.department_id


def can_reveal_personal_data(user: User, ticket: Ticket) -> bool:
    """Auditors read everything but see personal data only masked."""
    return user.role != "auditor" and can_view_ticket(user, ticket)


def visible_tickets(user: User) -> ColumnElement[bool]:
    """The SQL condition for the tickets this user may see."""
    if user.role in READ_ALL_ROLES:
        return true()
    return Ticket.department_id == user.department_id


def require_view(user: User, ticket: Ticket) -> None:
    if not can_view_ticket(user, ticket):
        # Same answer as a missing ticket: an id in the URL must not reveal that the ticket exists.
        from tracker.errors import NotFound

        raise NotFound("工单不存在或无权查看")


def require_act(user: User, ticket: Ticket) -> None:
    require_view(user, ticket)
    if not can_act_on_ticket(user, ticket):
        raise PermissionDenied("无权办理该工单")


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise PermissionDenied("无权执行此操作")
