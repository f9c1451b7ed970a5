"""重复件 (issue 19, item 7): an order from the same citizen, or about the same place, on the same matter
within N days of an earlier one of the same unit is linked to it (`RepeatLink`, event `repeat.linked`) —
automatically when it arrives (`link_at_intake`, called by tracker.intake.records.apply_record), or by
staff on the ticket page (`link_by_hand`). A link is never deleted: staff who find it is not a repeat
dismiss it (`dismiss`, event `repeat.dismissed`), and the assessment stops counting it.

The rule, explainable to staff:
- *same citizen*: the contact's phone, compared by its blind index (`Contact.phone_bidx`; the number is
  encrypted), as the possible-duplicate flag does (tracker.intake.duplicates);
- *same place*: the same 事发地址 (`Ticket.incident_address`, the text the platform sends from its address
  library, compared after trimming; indexed by ix_tickets_incident_address_received, migration 0038);
- *same matter*: the same 诉求分类, or at least one key word in common (`reply_check.key_words`);
- *within N days*: `ReplyCheckRules.repeat_window_days`, 30 by default — the window the duplicate flag
  uses, and the month most cities' 重复件 rules count (e.g. "30日内同一诉求人同一事项").
- *the same unit*: only orders of the new order's department are looked at. The city scores each unit on
  its own orders, so a repeat counts once in the unit's assessment; and no page shows a link to another
  department's citizen.

A repeat of a repeat is linked to the first order of the chain, so "counted once" is one condition:
`counted_once(Ticket.id)` (or the ids `repeat_ticket_ids` returns) leaves out every order that repeats
another — tracker.reports.assessment uses it where the city counts a repeated matter once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import Session

from tracker.errors import Conflict, ValidationError
from tracker.people.access import can_view_ticket, require_action, require_view
from tracker.people.models import User
from tracker.pii.cipher import blinds
from tracker.tickets.history import record_event
from tracker.tickets.models import Contact, Ticket
from tracker.workorders.models import REPEAT_BASES, RepeatLink
from tracker.workorders.reply_check import key_words, load_config

CANDIDATES = 20  # per basis: the most recent earlier orders looked at
SYSTEM = "系统"
NOT_CHECKED_CHANNELS = ("disclosure",)  # applications are proceedings of their own, never 重复件


def counted_once(ticket_id: ColumnElement) -> ColumnElement[bool]:
    """SQL: the order is not a repeat of another (no live link) — the condition under which a report
    counts a repeated matter once."""
    links = RepeatLink.__table__
    return ~exists().where(links.c.ticket_id == ticket_id, links.c.dismissed_at.is_(None))


def repeat_ticket_ids(session: Session, ticket_ids: list[int] | None = None) -> set[int]:
    """The ids of the orders that repeat another (live links), among `ticket_ids` when given."""
    links = RepeatLink.__table__
    query = select(links.c.ticket_id).where(links.c.dismissed_at.is_(None))
    if ticket_ids is not None:
        query = query.where(links.c.ticket_id.in_(ticket_ids))
    return set(session.scalars(query))


def _earlier(
    session: Session,
    condition,
    *,
    ticket_id: int,
    department_id: int,
    received_at: datetime,
    window: timedelta,
    join_contact: bool = False,
) -> list:
    tickets = Ticket.__table__
    query = select(tickets.c.id, tickets.c.category, tickets.c.subject, tickets.c.received_at)
    if join_contact:
        query = query.join(Contact.__table__, tickets.c.contact_id == Contact.__table__.c.id)
    query = query.where(
        condition,
        # `+ 0`: never through the department's index. SQLite has no statistics and would otherwise read
        # every ticket of the department rather than the few of one phone or address (the selective index).
        tickets.c.department_id + 0 == department_id,
        tickets.c.merged_into_id.is_(None),
        tickets.c.channel.not_in(NOT_CHECKED_CHANNELS),
        tickets.c.received_at >= received_at - window,
        # Strictly earlier in (received_at, id) order: two orders received in the same second (a batch)
        # must not each find the other, or the second would be linked to itself through the first.
        or_(
            tickets.c.received_at < received_at,
            and_(tickets.c.received_at == received_at, tickets.c.id < ticket_id),
        ),
    )
    return session.execute(query.order_by(tickets.c.received_at.desc()).limit(CANDIDATES)).all()


def same_matter(category: str | None, subject: str, other_category: str | None, other_subject: str) -> bool:
    """The same 诉求分类, or a key word in common."""
    if category and other_category and category.strip() == other_category.strip():
        return True
    mine = set(key_words(subject=subject, category=category))
    return bool(mine & set(key_words(subject=other_subject, category=other_category)))


@dataclass(frozen=True)
class RepeatMatch:
    repeat_of_id: int
    basis: str


def find_repeat_of(
    session: Session,
    *,
    ticket_id: int,
    department_id: int,
    received_at: datetime,
    subject: str,
    category: str | None,
    phone: str | None,
    address: str | None,
    window: timedelta,
) -> RepeatMatch | None:
    """The earliest earlier order of the same department that this one repeats (same citizen first, then
    same place), resolved to the first order of its chain. Two indexed look-ups at most."""
    for basis, condition, join_contact in (
        ("same_citizen", Contact.__table__.c.phone_bidx.in_(blinds("phone", phone)) if phone else None, True),
        (
            "same_place",
            Ticket.__table__.c.incident_address == address.strip() if address and address.strip() else None,
            False,
        ),
    ):
        if condition is None:
            continue
        rows = _earlier(
            session,
            condition,
            ticket_id=ticket_id,
            department_id=department_id,
            received_at=received_at,
            window=window,
            join_contact=join_contact,
        )
        matching = [r for r in rows if same_matter(category, subject, r.category, r.subject)]
        if matching:
            first = min(matching, key=lambda r: (r.received_at, r.id))
            root = session.scalar(
                select(RepeatLink.repeat_of_id).where(
                    RepeatLink.ticket_id == first.id, RepeatLink.dismissed_at.is_(None)
                )
            )
            if root == ticket_id:  # linked by hand the other way round: that link stands
                return None
            return RepeatMatch(root or first.id, basis)
    return None


def _record_link(session: Session, ticket: Ticket, match: RepeatMatch, *, actor, label: str, now: datetime):
    link = session.scalar(select(RepeatLink).where(RepeatLink.ticket_id == ticket.id))
    if link is None:
        link = RepeatLink(ticket_id=ticket.id)
        session.add(link)
    link.repeat_of_id = match.repeat_of_id
    link.basis = match.basis
    link.linked_at = now
    link.linked_by_label = label
    link.dismissed_at = None
    link.dismissed_by_label = None
    session.flush()
    of_number = session.scalar(select(Ticket.number).where(Ticket.id == match.repeat_of_id))
    record_event(
        session,
        ticket,
        "repeat.linked",
        actor=actor,
        now=now,
        data={"of": of_number, "of_id": match.repeat_of_id, "basis": match.basis, "by": label},
    )
    return link


def link_at_intake(
    session: Session, ticket_id: int, *, phone: str | None, now: datetime
) -> RepeatMatch | None:
    """Link a new order to the order it repeats, if any (the intake path, after opening). `phone` is the
    draft's (the push has not read the contact back). Costs one primary-key read of the rules and of the
    order, then the indexed look-ups; nothing when the order has neither a phone nor an address."""
    tickets = Ticket.__table__
    row = session.execute(
        select(
            tickets.c.department_id,
            tickets.c.channel,
            tickets.c.received_at,
            tickets.c.subject,
            tickets.c.category,
            tickets.c.incident_address,
        ).where(tickets.c.id == ticket_id)
    ).one()
    if row.channel in NOT_CHECKED_CHANNELS or not (phone or row.incident_address):
        return None
    match = find_repeat_of(
        session,
        ticket_id=ticket_id,
        department_id=row.department_id,
        received_at=row.received_at,
        subject=row.subject,
        category=row.category,
        phone=phone,
        address=row.incident_address,
        window=timedelta(days=load_config(session).repeat_window_days),
    )
    if match is not None:
        ticket = session.get(Ticket, ticket_id)
        _record_link(session, ticket, match, actor=SYSTEM, label=SYSTEM, now=now)
    return match


def link_by_hand(
    session: Session, ticket: Ticket, of_number: str, basis: str, *, user: User, now: datetime
) -> RepeatLink:
    """Staff of the order's department mark it a repeat of an earlier order of the same department."""
    require_action(user, "repeat", ticket)
    if basis not in REPEAT_BASES:
        raise ValidationError("重复依据取值无效", fields={"basis": "取值无效"})
    of_number = (of_number or "").strip()
    if not of_number:
        raise ValidationError("请填写原工单编号", fields={"repeat_of": "必填"})
    other = session.scalar(select(Ticket).where(Ticket.number == of_number))
    if other is None or not can_view_ticket(user, other):
        raise ValidationError("原工单不存在或无权查看", fields={"repeat_of": "不存在"})
    if other.id == ticket.id:
        raise ValidationError("不能关联工单自身", fields={"repeat_of": "不能是本工单"})
    if other.department_id != ticket.department_id:
        raise ValidationError("只能关联本部门的工单", fields={"repeat_of": "非本部门工单"})
    if other.received_at > ticket.received_at:
        raise ValidationError("原工单应早于本工单", fields={"repeat_of": "晚于本工单"})
    existing = session.scalar(select(RepeatLink).where(RepeatLink.ticket_id == ticket.id))
    if existing is not None and existing.dismissed_at is None:
        raise Conflict("本工单已关联为重复件")
    root = session.scalar(
        select(RepeatLink.repeat_of_id).where(
            RepeatLink.ticket_id == other.id, RepeatLink.dismissed_at.is_(None)
        )
    )
    if root == ticket.id:
        raise Conflict("原工单已是本工单的重复件")
    return _record_link(
        session, ticket, RepeatMatch(root or other.id, basis), actor=user, label=user.display_name, now=now
    )


def dismiss(session: Session, ticket: Ticket, reason: str, *, user: User, now: datetime) -> RepeatLink:
    """Staff mark the order "not a repeat": the link stays, dismissed, with the reason in the event."""
    require_action(user, "repeat", ticket)
    if not (reason or "").strip():
        raise ValidationError("请说明不是重复件的理由", fields={"reason": "必填"})
    link = session.scalar(select(RepeatLink).where(RepeatLink.ticket_id == ticket.id))
    if link is None or link.dismissed_at is not None:
        raise Conflict("本工单没有有效的重复件关联")
    link.dismissed_at = now
    link.dismissed_by_label = user.display_name
    session.flush()
    record_event(
        session,
        ticket,
        "repeat.dismissed",
        actor=user,
        now=now,
        data={"of_id": link.repeat_of_id, "reason": reason.strip()[:500]},
    )
    return link


@dataclass(frozen=True)
class ShownRepeat:
    number: str
    ticket_id: int
    subject: str
    basis: str
    linked_at: datetime
    linked_by: str


def repeats_for_page(session: Session, ticket: Ticket, user: User) -> dict:
    """What the ticket page shows: the order this one repeats and the orders repeating it — only those
    this user may see (an order another department now holds is left out, not named)."""
    require_view(user, ticket)
    link = session.scalar(select(RepeatLink).where(RepeatLink.ticket_id == ticket.id))
    shown_of = None
    if link is not None and link.dismissed_at is None:
        other = session.get(Ticket, link.repeat_of_id)
        if other is not None and can_view_ticket(user, other):
            shown_of = ShownRepeat(
                other.number, other.id, other.subject, link.basis, link.linked_at, link.linked_by_label
            )
    repeated_by = []
    rows = session.execute(
        select(RepeatLink, Ticket)
        .join(Ticket, Ticket.id == RepeatLink.ticket_id)
        .where(RepeatLink.repeat_of_id == ticket.id, RepeatLink.dismissed_at.is_(None))
        .order_by(Ticket.received_at)
    ).all()
    for row_link, other in rows:
        if can_view_ticket(user, other):
            repeated_by.append(
                ShownRepeat(
                    other.number,
                    other.id,
                    other.subject,
                    row_link.basis,
                    row_link.linked_at,
                    row_link.linked_by_label,
                )
            )
    return {
        "link": link,
        "repeat_of": shown_of,
        "repeated_by": repeated_by,
        "dismissed": link is not None and link.dismissed_at is not None,
    }
