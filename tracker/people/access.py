"""Who may see and do what: the one place every door, page, API call, import and task asks.

Two questions, answered here and nowhere else:
- *reach*: which tickets a caller may see or change — every ticket, one department's, and for an API key
  perhaps one channel's (`Reach`); the public portal may open tickets but change none (`NOTHING`);
- *role*: which actions a role may take on a ticket within its reach (`ACTION_ROLES`).
The doors (tracker.workflow.doors, tracker.intake.records.apply_record) call `require_action` /
`require_reach`; pages and the API call `can_*` only to decide what to show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, false, true

from tracker.errors import NotFound, PermissionDenied
from tracker.people.models import User
from tracker.tickets.models import Ticket

READ_ALL_ROLES = frozenset({"admin", "auditor"})
WRITE_ROLES = frozenset({"staff", "supervisor", "admin"})
APPROVER_ROLES = frozenset({"supervisor", "admin"})

# The roles allowed to take each door's action, on a ticket within their reach. An action not listed
# is open to every WRITE_ROLES role. "assign_other" is assigning someone else (a 承办人 may only take a
# ticket for themselves); "approve" is deciding an extension or a reply's sign-off.
ACTION_ROLES: dict[str, frozenset[str]] = {
    "reopen": APPROVER_ROLES,
    "assign_other": APPROVER_ROLES,
    "approve": APPROVER_ROLES,
    # 重办 ordered by hand (tracker/workorders/redo.py); a 回访's redo follows the city's rule instead.
    "redo": APPROVER_ROLES,
    # 督办/催办 is the office's (administrators'); the platform issues its own through intake.
    "supervise": frozenset({"admin"}),
    # Entering the 12345 platform's decision on a 退单 request is the bureau office's (an administrator's),
    # never the requesting unit's own (tracker.workorders.sendbacks).
    "decide_send_back": frozenset({"admin"}),
}


@dataclass(frozen=True)
class Reach:
    """The tickets a caller may see or change: all (no department, no channel), one department's, and
    for an API key limited to a channel, that channel's. `is_nothing`: none at all (the public portal,
    a user without a writing role) — such a caller may still open new tickets."""

    department_id: int | None = None
    channel: str | None = None
    is_nothing: bool = False

    @property
    def is_everything(self) -> bool:
        return not self.is_nothing and self.department_id is None and self.channel is None

    def allows(self, department_id: int | None, channel: str | None) -> bool:
        if self.is_nothing:
            return False
        return (self.department_id is None or department_id == self.department_id) and (
            self.channel is None or channel == self.channel
        )

    def allows_ticket(self, ticket: Ticket) -> bool:
        return self.allows(ticket.department_id, ticket.channel)

    def condition(self) -> ColumnElement[bool]:
        """The same rule as SQL, for listings."""
        if self.is_nothing:
            return false()
        clauses = []
        if self.department_id is not None:
            clauses.append(Ticket.department_id == self.department_id)
        if self.channel is not None:
            clauses.append(Ticket.channel == self.channel)
        if not clauses:
            return true()
        return clauses[0] if len(clauses) == 1 else clauses[0] & clauses[1]


EVERYTHING = Reach()
NOTHING = Reach(is_nothing=True)


def reach_of(user: User | None) -> Reach:
    """The tickets a user may change: an administrator every one, staff and supervisors their department's."""
    if user is None or not user.is_active or user.role not in WRITE_ROLES:
        return NOTHING
    return EVERYTHING if user.role == "admin" else Reach(department_id=user.department_id)


def view_reach_of(user: User) -> Reach:
    """The tickets a user may see: administrators and auditors every one, others their department's."""
    return EVERYTHING if user.role in READ_ALL_ROLES else Reach(department_id=user.department_id)


def reach_of_client(client: Any) -> Reach:
    """An API key's reach (tracker.intake.apikeys.Client): its department and channel, if it names them.
    It reads and changes the same tickets."""
    return Reach(department_id=client.department_id, channel=client.channel)


def can_view_ticket(user: User, ticket: Ticket) -> bool:
    return view_reach_of(user).allows_ticket(ticket)


def can_act_on_ticket(user: User, ticket: Ticket) -> bool:
    return reach_of(user).allows_ticket(ticket)


def can_take(user: User, action: str, ticket: Ticket) -> bool:
    """May this user take `action` on this ticket (reach and role; the transition is the door's check)."""
    return can_act_on_ticket(user, ticket) and user.role in ACTION_ROLES.get(action, WRITE_ROLES)


def sees_personal_data(user: User) -> bool:
    """Auditors read everything but see personal data only masked (nor may they search by it)."""
    return user.role != "auditor"


def can_reveal_personal_data(user: User, ticket: Ticket) -> bool:
    return sees_personal_data(user) and can_view_ticket(user, ticket)


def visible_tickets(user: User) -> ColumnElement[bool]:
    """The SQL condition for the tickets this user may see."""
    return view_reach_of(user).condition()


def require_view(user: User, ticket: Ticket) -> None:
    if not can_view_ticket(user, ticket):
        # Same answer as a missing ticket: an id in the URL must not reveal that the ticket exists.
        raise NotFound("工单不存在或无权查看")


def require_act(user: User, ticket: Ticket) -> None:
    require_view(user, ticket)
    if not can_act_on_ticket(user, ticket):
        raise PermissionDenied("无权办理该工单")


def require_action(user: User, action: str, ticket: Ticket) -> None:
    """The check every door makes first: the ticket is within the user's reach and the role may act."""
    require_act(user, ticket)
    if user.role not in ACTION_ROLES.get(action, WRITE_ROLES):
        raise PermissionDenied("您的角色不能执行此操作")


def require_reach(reach: Reach, ticket: Ticket, *, what: str = "工单") -> None:
    """A machine caller (API key, import, portal) may change only the tickets within its reach."""
    if not reach.allows_ticket(ticket):
        raise PermissionDenied(
            f"{what}属于本密钥或本部门权限以外的工单，无权更新", fields={"external_ref": "无权更新"}
        )


def require_channel(reach: Reach, channel: str) -> None:
    """An API key limited to a channel opens tickets of that channel only."""
    if reach.channel is not None and reach.channel != channel:
        raise PermissionDenied(f"该 API 密钥仅限 {reach.channel} 渠道")


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles:
        raise PermissionDenied("无权执行此操作")
