"""主办 / 协办: co-handling units of a 12345 order, their child orders, and the one rule on the lead.

- 加派 (`add_co_units` for the lead unit on the ticket page, `add_co_units_from_platform` for the push
  and imports): each co-handling unit gets a CHILD order — a real hotline ticket of its department, opened
  through the one ticket writer (`tracker.workflow.opening.open_ticket`) — whose reply deadline is the
  协办 period (`policies.COHANDLING`, 5 working days by default, or the platform's 协办时限), linked by a
  `CoHandling` row. `cohandling.added` is recorded on the parent and on the child.
- The lead may not 办结, nor send its final reply, while a child is open, unless it says why
  (`check_lead_may_finish`): the one rule, called by the close and reply doors (tracker.workflow.doors),
  so the ticket page, bulk 办结 and every other caller meet it; the reason is recorded
  (`cohandling.overridden` on the parent, beside the status change).
- A child's reply rolls up: `roll_up_reply` (called by the reply door after the reply is written) records
  `cohandling.replied` on the parent with the public reply; `co_handling_panel` is what the lead's page shows.

Who sees what is tracker.people.access's ordinary rule: the child is the co-unit's department's ticket,
the parent the lead's; neither reaches the other's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tracker.deadlines import policies
from tracker.errors import Conflict, ValidationError
from tracker.people.access import Reach, require_action, require_reach
from tracker.people.models import Department, User
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.history import Actor, record_event
from tracker.tickets.models import Ticket
from tracker.tickets.status import OPEN_STATUSES, STATUS_LABELS
from tracker.workflow.opening import open_ticket
from tracker.workorders.models import CoHandling
from tracker.workorders.periods import aware_due, period_due

MAX_CO_UNITS = 20  # a platform row naming more is a mistake, not a work order
MAX_REASON_CHARS = 2000
CHILD_MARK = "【协办】"


def _department(session: Session, key: str) -> Department | None:
    """A co-unit named by the platform: its department code, or its full name."""
    key = key.strip()
    return session.scalar(
        select(Department).where(or_(Department.code == key, Department.name == key)).order_by(Department.id)
    )


def split_units(text: str | None) -> list[str]:
    """A 协办单位 cell: codes or names separated by commas, 、 or semicolons (duplicates once)."""
    if not text:
        return []
    for sep in ("，", "、", ";", "；", "\n"):
        text = text.replace(sep, ",")
    return list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def add_co_units(
    session: Session,
    parent: Ticket,
    departments: list[Department],
    *,
    user: User,
    now: datetime,
    due_at: datetime | None = None,
) -> list[CoHandling]:
    """加派 by the lead unit (its handlers or an administrator): a child order for each department.
    Adding a unit already co-handling is refused (the page says so)."""
    require_action(user, "add_co_unit", parent)
    if not departments:
        raise ValidationError("请选择协办单位", fields={"department_ids": "必填"})
    return _add(session, parent, departments, actor=user, now=now, due_at=due_at, replayed_ok=False)


def add_co_units_from_platform(
    session: Session,
    parent: Ticket,
    units: list[str],
    *,
    actor: Actor,
    reach: Reach,
    now: datetime,
    due_at: datetime | None = None,
) -> list[CoHandling]:
    """加派 by the 12345 platform (push or import): `units` are department codes or names. A unit already
    co-handling is skipped, so a re-sent order adds nothing; an unknown unit names itself (400)."""
    require_reach(reach, parent)
    if len(units) > MAX_CO_UNITS:
        raise ValidationError(f"协办单位最多{MAX_CO_UNITS}个", fields={"co_units": "过多"})
    departments = []
    for unit in units:
        department = _department(session, unit)
        if department is None:
            raise ValidationError(f"协办单位 {unit[:40]!r} 不存在", fields={"co_units": "未知单位"})
        departments.append(department)
    return _add(session, parent, departments, actor=actor, now=now, due_at=due_at, replayed_ok=True)


def _add(
    session: Session,
    parent: Ticket,
    departments: list[Department],
    *,
    actor: Actor,
    now: datetime,
    due_at: datetime | None,
    replayed_ok: bool,
) -> list[CoHandling]:
    if parent.channel != "hotline":
        raise ValidationError("只有12345热线工单可以加派协办单位", fields={"action": "渠道不符"})
    if child_link(session, parent) is not None:
        raise Conflict(f"{parent.number}本身是协办工单，不能再加派协办单位")
    due_at = aware_due(due_at, field="co_due_at")
    existing = {c.department_id: c for c in co_handlings(session, parent)}
    added: list[CoHandling] = []
    for department in dict.fromkeys(departments):
        if department.id in existing:
            if replayed_ok:
                continue
            raise Conflict(f"{department.name}已是本工单的协办单位")
        if department.id == parent.department_id:
            raise ValidationError(
                f"{department.name}是主办单位，不能同时协办", fields={"department_ids": "主办单位"}
            )
        if not department.is_active:
            raise ValidationError(f"{department.name}已停用", fields={"department_ids": "已停用"})
        if parent.status not in OPEN_STATUSES:
            raise Conflict(
                f"{parent.number}当前状态为「{STATUS_LABELS.get(parent.status, parent.status)}」，不能加派协办单位"
            )
        added.append(_open_child(session, parent, department, actor=actor, now=now, due_at=due_at))
    return added


def _open_child(
    session: Session,
    parent: Ticket,
    department: Department,
    *,
    actor: Actor,
    now: datetime,
    due_at: datetime | None,
) -> CoHandling:
    if due_at is None:
        period = period_due(session, parent, policies.COHANDLING, starts_at=now)
        due, explanation, policy = period.due_at, period.explanation, period.policy
    else:
        due, explanation, policy = due_at, "12345平台给定的协办时限", ""
    contact = parent.contact
    extra = {"co_handling_of": parent.number}
    if due is not None:
        # The child's reply deadline is the 协办 period: the planner reads the order's own 办结时限.
        extra["办结时限"] = due.isoformat()
    parent_ref = parent.external_ref or parent.number
    draft = TicketDraft(
        channel="hotline",
        request_type=parent.request_type,
        subject=(CHILD_MARK + parent.subject)[:500],
        body=parent.body,
        arrived_at=now,
        received_at=now,
        # Unique per parent and unit: opening it again finds this child (the one writer is idempotent).
        external_ref=f"{parent_ref}-XB-{department.code}"[:128],
        department_code=department.code,
        category=parent.category,
        urgency=parent.urgency,
        incident_address=parent.incident_address,
        received_via="协办",
        contact=ContactDraft(
            name=contact.name if contact else None,
            phone=contact.phone if contact else None,
            is_confidential=bool(contact and contact.is_confidential),
        ),
        extra=extra,
    )
    child, created = open_ticket(session, draft, actor=actor, now=now)
    if not created:
        raise Conflict(f"协办工单{child.number}已存在")
    link = CoHandling(
        parent_ticket_id=parent.id,
        child_ticket_id=child.id,
        department_id=department.id,
        added_at=now,
        added_by_label=actor.display_name if isinstance(actor, User) else str(actor),
    )
    session.add(link)
    session.flush()
    data = {
        "co_handling_id": link.id,
        "department": department.code,
        "department_name": department.name,
        "due_at": due.isoformat() if due else None,
        "policy": policy,
        "explanation": explanation,
    }
    record_event(
        session,
        parent,
        "cohandling.added",
        actor=actor,
        now=now,
        data={**data, "child_id": child.id, "child_number": child.number},
        publish=True,
    )
    record_event(
        session,
        child,
        "cohandling.added",
        actor=actor,
        now=now,
        data={**data, "parent_number": parent.number, "lead_department": parent.department.code},
        publish=True,
    )
    return link


def co_handlings(session: Session, parent: Ticket) -> list[CoHandling]:
    return list(
        session.scalars(
            select(CoHandling).where(CoHandling.parent_ticket_id == parent.id).order_by(CoHandling.id)
        )
    )


def child_link(session: Session, ticket: Ticket) -> CoHandling | None:
    """The co-handling row whose child order `ticket` is, if it is one."""
    return session.scalar(select(CoHandling).where(CoHandling.child_ticket_id == ticket.id))


def open_children(session: Session, parent: Ticket) -> list[Ticket]:
    """The parent's child orders still being handled (not answered, closed, returned or merged)."""
    return list(
        session.scalars(
            select(Ticket)
            .join(CoHandling, CoHandling.child_ticket_id == Ticket.id)
            .where(CoHandling.parent_ticket_id == parent.id, Ticket.status.in_(OPEN_STATUSES))
            .order_by(Ticket.id)
        )
    )


def check_lead_may_finish(
    session: Session, ticket: Ticket, action: str, *, reason: str | None, actor: Actor, now: datetime
) -> None:
    """The rule on the lead unit: no 办结 (`action` "办结") and no final reply ("答复") while a co-handling
    unit's child order is open — unless the lead says why, which is recorded (`cohandling.overridden`).
    Called by the close and reply doors before they change anything, whoever calls them."""
    if ticket.channel != "hotline":
        return
    waiting = open_children(session, ticket)
    if not waiting:
        return
    numbers = "、".join(f"{c.number}（{c.department.name}）" for c in waiting)
    reason = (reason or "").strip()
    if not reason:
        raise Conflict(
            f"{ticket.number}尚有协办工单未办结：{numbers}；须等待协办单位答复，或说明理由后{action}",
            fields={"cohandling_reason": "有协办工单未办结时必填"},
        )
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(f"理由超过{MAX_REASON_CHARS}字", fields={"cohandling_reason": "过长"})
    record_event(
        session,
        ticket,
        "cohandling.overridden",
        actor=actor,
        now=now,
        data={"action": action, "reason": reason, "open_children": [c.number for c in waiting]},
    )


def roll_up_reply(session: Session, ticket: Ticket, *, actor: Actor, now: datetime) -> None:
    """A child order was answered: its public reply goes up to the lead's order (`cohandling.replied`)."""
    link = child_link(session, ticket)
    if link is None:
        return
    record_event(
        session,
        link.parent,
        "cohandling.replied",
        actor=actor,
        now=now,
        data={
            "co_handling_id": link.id,
            "child_id": ticket.id,
            "child_number": ticket.number,
            "department": link.department.code,
            "department_name": link.department.name,
            "reply_text": ticket.reply_text or "",
        },
        publish=True,
    )


@dataclass(frozen=True)
class ChildView:
    """One row of the lead's 协办 panel: the unit, its order's status, deadline and public reply."""

    department: str
    number: str
    status: str
    is_open: bool
    due_at: datetime | None
    replied_at: datetime | None
    reply_text: str
    added_at: datetime
    added_by: str


def co_handling_panel(session: Session, parent: Ticket) -> list[ChildView]:
    """What the lead's page shows of its co-handling units (the children themselves stay out of reach)."""
    rows = []
    for link in co_handlings(session, parent):
        child = link.child
        rows.append(
            ChildView(
                department=link.department.name,
                number=child.number,
                status=STATUS_LABELS.get(child.status, child.status),
                is_open=child.status in OPEN_STATUSES,
                due_at=child.reply_due_at,
                replied_at=child.replied_at,
                reply_text=child.reply_text or "",
                added_at=link.added_at,
                added_by=link.added_by_label,
            )
        )
    return rows


def co_unit_names(session: Session, ticket_ids: list[int]) -> dict[int, list[str]]:
    """The co-handling units of each lead order (for the hotline export's 协办单位 column)."""
    found: dict[int, list[str]] = {}
    if not ticket_ids:
        return found
    rows = session.execute(
        select(CoHandling.parent_ticket_id, Department.name)
        .join(Department, Department.id == CoHandling.department_id)
        .where(CoHandling.parent_ticket_id.in_(ticket_ids))
        .order_by(CoHandling.id)
    )
    for parent_id, name in rows:
        found.setdefault(parent_id, []).append(name)
    return found
