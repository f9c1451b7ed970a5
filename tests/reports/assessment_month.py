"""November 2026 built by hand for the assessment tests: every order, deadline, 回访, 退单, 重办, 督办 and
重复件 row written directly (the services that write them are other modules' work), so that the expected
numerators and denominators in tests/reports/test_assessment.py can be counted from this file by eye.

Unit A (code ``<p>A``), unit B, unit C (one order: below any minimum sample). Times are Asia/Shanghai.

| order | unit | received | sign (due / met) | reply (due / met) | closed | other rows |
|---|---|---|---|---|---|---|
| a1 | A | 11-03 10:00 | 11-03 12:00 / 11:00 on time | 11-10 / 11-09 | 11-09 | 回访 11-12 满意 联系 解决 |
| a2 | A | 11-04 10:00 | 11-04 12:00 / 15:00 late | 11-11 / 11-12 late | 11-12 | 回访 11-13 不满意 联系 未解决; 重办 11-14 |
| a3 | A | 11-05 10:00 | on time | 12-03 / – | – | 退单 refused |
| a4 | A | 11-06 10:00 | cancelled unmet | 11-20 cancelled unmet | – | 退单 accepted |
| a5 | A | 10-28 10:00 | 10-28 on time | 11-04 / 11-03 | 11-03 | 回访 11-05 基本满意 联系 解决 |
| a6 | A | 11-20 10:00 | on time | 12-20 / – | – | 重复件 of a1 |
| a7 | A | 11-25 10:00 | on time | 12-05 / – | – | 回访 11-27 不满意 未联系, 11-29 满意 联系 解决; 督办 11-26 due 11-28, answered 11-27 |
| a8 | A | 11-30 23:30 | 12-01 09:00 / – running | 12-10 / – | – | |
| a9 | A | 12-01 00:10 | on time | – | – | (December: not counted) |
| a10 | A | 11-08 website | – | – | – | (not a hotline order) |
| b1 | B | 11-10 10:00 | on time | 11-17 / 11-16 | 11-16 | 回访 满意 联系 解决 |
| b2 | B | 11-11 10:00 | on time | 11-18 / – running | – | 督办 11-19 due 11-21, unanswered |
| b3 | B | 11-12 10:00 | on time | 11-19 17:00 / 11-19 17:00 (at due) | 11-19 | 回访 基本满意 联系 未解决 |
| c1 | C | 11-15 10:00 | on time | 12-15 / – | – | |

a1 and a2 are assigned to the person `u1` of unit A.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from tests import factories
from tests.reports.builders import at
from tracker.people.models import Department, User
from tracker.tickets.models import Deadline, Ticket
from tracker.workorders.models import Redo, RepeatLink, Revisit, SendBack, Supervision

_seq = itertools.count(1)


@dataclass
class Month:
    a: Department
    b: Department
    c: Department
    u1: User
    orders: dict[str, Ticket] = field(default_factory=dict)

    def ids(self, *names: str) -> set[int]:
        return {self.orders[n].id for n in names}


def _deadline(
    session: Session, ticket: Ticket, kind: str, due: str | None, met: str | None, state=None
) -> None:
    row = next((d for d in ticket.deadlines if d.kind == kind), None)
    if row is None:
        row = Deadline(
            ticket=ticket,
            kind=kind,
            label=kind,
            policy_code="test",
            policy_version="test",
            starts_on=ticket.received_at,
            explanation="测试",
        )
        session.add(row)
    row.due_at = at(due) if due else None
    row.met_at = at(met) if met else None
    row.state = state or ("met" if met else "running")


def _order(
    session: Session,
    month: Month,
    name: str,
    dept: Department,
    received: str,
    *,
    sign: tuple[str | None, str | None, str | None] | None = None,
    reply: tuple[str | None, str | None, str | None] | None = None,
    closed: str | None = None,
    channel: str = "hotline",
    assignee: User | None = None,
) -> Ticket:
    ticket = factories.ticket(session, now=at(received), dept=dept, channel=channel, arrived_at=at(received))
    if sign is None:  # on time by default: due two hours after receipt, met after one
        start = at(received)
        sign = (
            (start + timedelta(hours=2)).strftime("%Y-%m-%d %H:%M"),
            (start + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M"),
            None,
        )
    if channel == "hotline":
        _deadline(session, ticket, "sign", *sign)
        if reply is not None:
            _deadline(session, ticket, "reply", *reply)
        else:  # far after the month: counted nowhere in November
            _deadline(session, ticket, "reply", "2027-03-01 17:00", None)
    if closed:
        ticket.closed_at = at(closed)
        ticket.status = "closed"
    if assignee is not None:
        ticket.assignee_id = assignee.id
    session.flush()
    month.orders[name] = ticket
    return ticket


def _revisit(session, ticket, when, result, contacted, resolved) -> Revisit:
    row = Revisit(
        ticket_id=ticket.id,
        visited_at=at(when),
        result=result,
        was_contacted=contacted,
        is_resolved=resolved,
        citizen_words="",
        source="platform",
        external_ref=f"rv-{next(_seq)}",
        created_at=at(when),
    )
    session.add(row)
    session.flush()
    return row


def build_november(session: Session) -> Month:
    n = next(_seq)
    a = factories.department(session, f"as{n}A", "城管执法局")
    b = factories.department(session, f"as{n}B", "住建局")
    c = factories.department(session, f"as{n}C", "档案馆")
    u1 = factories.user(session, role="staff", dept=a, now=at("2026-10-01 09:00"))
    m = Month(a, b, c, u1)
    on = None
    _order(
        session,
        m,
        "a1",
        a,
        "2026-11-03 10:00",
        sign=("2026-11-03 12:00", "2026-11-03 11:00", on),
        reply=("2026-11-10 17:00", "2026-11-09 10:00", on),
        closed="2026-11-09 10:00",
        assignee=u1,
    )
    _order(
        session,
        m,
        "a2",
        a,
        "2026-11-04 10:00",
        sign=("2026-11-04 12:00", "2026-11-04 15:00", on),
        reply=("2026-11-11 17:00", "2026-11-12 10:00", on),
        closed="2026-11-12 10:00",
        assignee=u1,
    )
    _order(session, m, "a3", a, "2026-11-05 10:00", reply=("2026-12-03 17:00", None, on))
    _order(
        session,
        m,
        "a4",
        a,
        "2026-11-06 10:00",
        sign=("2026-11-06 12:00", None, "cancelled"),
        reply=("2026-11-20 17:00", None, "cancelled"),
    )
    _order(
        session,
        m,
        "a5",
        a,
        "2026-10-28 10:00",
        reply=("2026-11-04 17:00", "2026-11-03 10:00", on),
        closed="2026-11-03 10:00",
    )
    _order(session, m, "a6", a, "2026-11-20 10:00", reply=("2026-12-20 17:00", None, on))
    _order(session, m, "a7", a, "2026-11-25 10:00", reply=("2026-12-05 17:00", None, on))
    _order(
        session,
        m,
        "a8",
        a,
        "2026-11-30 23:30",
        sign=("2026-12-01 09:00", None, on),
        reply=("2026-12-10 17:00", None, on),
    )
    _order(session, m, "a9", a, "2026-12-01 00:10")
    _order(session, m, "a10", a, "2026-11-08 10:00", channel="website")
    _order(
        session,
        m,
        "b1",
        b,
        "2026-11-10 10:00",
        reply=("2026-11-17 17:00", "2026-11-16 10:00", on),
        closed="2026-11-16 10:00",
    )
    _order(session, m, "b2", b, "2026-11-11 10:00", reply=("2026-11-18 17:00", None, "breached"))
    _order(
        session,
        m,
        "b3",
        b,
        "2026-11-12 10:00",
        reply=("2026-11-19 17:00", "2026-11-19 17:00", on),
        closed="2026-11-19 17:00",
    )
    _order(session, m, "c1", c, "2026-11-15 10:00", reply=("2026-12-15 17:00", None, on))
    o = m.orders

    for ticket, state in ((o["a3"], "refused"), (o["a4"], "accepted")):
        session.add(
            SendBack(
                ticket_id=ticket.id,
                department_id=a.id,
                reason_code="not_our_duty",
                requested_at=ticket.received_at + timedelta(minutes=30),
                state=state,
                decided_at=ticket.received_at + timedelta(hours=3),
                decided_by_label="12345平台",
            )
        )
    _revisit(session, o["a1"], "2026-11-12 10:00", "satisfied", True, True)
    unsatisfied = _revisit(session, o["a2"], "2026-11-13 10:00", "unsatisfied", True, False)
    session.add(
        Redo(
            ticket_id=o["a2"].id,
            revisit_id=unsatisfied.id,
            reason="不满意",
            redone_at=at("2026-11-14 10:00"),
            due_at=at("2026-11-21 17:00"),
            ordered_by_label="12345平台",
        )
    )
    _revisit(session, o["a5"], "2026-11-05 10:00", "basically_satisfied", True, True)
    _revisit(session, o["a7"], "2026-11-27 10:00", "unsatisfied", False, False)
    _revisit(session, o["a7"], "2026-11-29 10:00", "satisfied", True, True)
    _revisit(session, o["b1"], "2026-11-18 10:00", "satisfied", True, True)
    _revisit(session, o["b3"], "2026-11-20 10:00", "basically_satisfied", True, False)
    session.add(
        RepeatLink(
            ticket_id=o["a6"].id,
            repeat_of_id=o["a1"].id,
            basis="same_citizen",
            linked_at=at("2026-11-20 10:05"),
            linked_by_label="系统",
        )
    )
    session.add(
        Supervision(
            ticket_id=o["a7"].id,
            department_id=a.id,
            kind="supervise",
            text="请加快办理",
            issued_by_label="12345平台",
            issued_at=at("2026-11-26 10:00"),
            due_at=at("2026-11-28 17:00"),
            state="answered",
            answer="已处理",
            answered_at=at("2026-11-27 10:00"),
        )
    )
    session.add(
        Supervision(
            ticket_id=o["b2"].id,
            department_id=b.id,
            kind="urge",
            text="请尽快答复",
            issued_by_label="12345平台",
            issued_at=at("2026-11-19 10:00"),
            due_at=at("2026-11-21 17:00"),
            state="open",
        )
    )
    session.flush()
    return m


def local_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")
