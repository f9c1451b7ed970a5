"""Every number of the report links to the tickets behind it: a cell reference → the query of those tickets.

References (`Cell.ref` in tracker.reports.formats and the interaction table):

* ``i:<channel>:<measure>`` — an interaction figure (received, replied, on_time, rated, satisfied …);
* ``d:<row>:<applicant>`` — a cell of section 三 (row: new, carried_in, an outcome code, a （六） group label
  in the 2019 format, finished, carried_out; applicant: one of the six, or ``all`` for 总计);
* ``r:<kind>:<result>`` — a cell of section 四 (the cases, and the tickets they are linked to);
* ``g:<item>:<measure>`` — a register figure (no tickets: the register page).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.people.access import visible_tickets
from tracker.people.models import User
from tracker.reports.disclosure import disclosure_ticket_ids
from tracker.reports.interactions import interaction_ticket_ids
from tracker.reports.models import ReviewCase
from tracker.reports.register_figures import review_case_query
from tracker.reports.registers_spec import ITEMS, MEASURES, REVIEW_KINDS, REVIEW_RESULTS
from tracker.reports.rows import row_label
from tracker.reports.scope import CHANNEL_REPORT_LABELS, REPORT_CHANNELS, Scope
from tracker.tickets.channels import APPLICANT_TYPES
from tracker.tickets.models import Ticket

MEASURE_LABELS = {
    "received": "收到",
    "replied": "已答复",
    "unreplied": "未答复",
    "on_time": "按期答复",
    "late": "未按期答复",
    "rated": "参与评价",
    "satisfied": "满意（含基本满意）",
}


@dataclass
class Drill:
    title: str
    tickets: list[Ticket]
    cases: list[ReviewCase]
    hidden: int  # tickets behind the figure that this user may not see


def describe(ref: str) -> str:
    kind, _, rest = ref.partition(":")
    first, _, second = rest.partition(":")
    if kind == "i":
        return f"{CHANNEL_REPORT_LABELS.get(first, first)} · {MEASURE_LABELS.get(second, second)}"
    if kind == "d":
        row = row_label(first)
        return f"依申请公开 · {row} · {'总计' if second == 'all' else second}"
    if kind == "r":
        return f"{REVIEW_KINDS.get(first, first)} · {REVIEW_RESULTS.get(second, '总计')}"
    if kind == "g":
        return f"{ITEMS.get(first, first)} · {MEASURES.get(second, second)}"
    return ref


def ticket_query(session: Session, scope: Scope, ref: str) -> Select | None:
    """The Select of Ticket.id behind a reference (None for register figures, which have no tickets)."""
    kind, _, rest = ref.partition(":")
    first, _, second = rest.partition(":")
    if kind == "i":
        if first not in REPORT_CHANNELS:
            raise ValidationError(f"未知渠道 {first!r}", fields={"ref": ref})
        return interaction_ticket_ids(session, scope, first, second)
    if kind == "d":
        if second not in (*APPLICANT_TYPES, "all", ""):
            raise ValidationError(f"未知申请人类型 {second!r}", fields={"ref": ref})
        return disclosure_ticket_ids(session, scope, first, None if second == "all" else second)
    if kind == "r":
        cases = review_case_query(scope, first or None, None if second in ("", "all") else second).subquery()
        return select(cases.c.ticket_id).where(cases.c.ticket_id.is_not(None))
    if kind == "g":
        return None
    raise ValidationError(f"无法识别的数字来源 {ref!r}", fields={"ref": ref})


def drill(session: Session, scope: Scope, ref: str, user: User, *, limit: int = 500) -> Drill:
    """The tickets (and cases) behind a figure, restricted to what `user` may see."""
    ids = ticket_query(session, scope, ref)
    tickets: list[Ticket] = []
    hidden = 0
    if ids is not None:
        ids_sq = ids.subquery()
        base = select(Ticket).where(Ticket.id.in_(select(ids_sq.c[0])))
        tickets = list(
            session.scalars(base.where(visible_tickets(user)).order_by(Ticket.received_at).limit(limit))
        )

        total = session.scalar(select(func.count()).select_from(ids_sq)) or 0
        visible = session.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.id.in_(select(ids_sq.c[0])), visible_tickets(user))
        )
        hidden = total - (visible or 0)
    cases: list[ReviewCase] = []
    if ref.startswith("r:"):
        _kind, first, second = [*ref.split(":"), "", ""][:3]
        cases = list(
            session.scalars(
                review_case_query(scope, first or None, None if second in ("", "all") else second)
            )
        )
    return Drill(describe(ref), tickets, cases, hidden)
