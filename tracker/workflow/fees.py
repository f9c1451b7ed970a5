"""The doors of the 缴费 step of a disclosure application (条例第四十二条, 国办函〔2020〕109号): the fee notice
served opens the applicant's 20 working days to pay and stops the reply clock; the fee received restarts
it. Beside tracker.workflow.doors (which keeps its other doors in one file) and asked by it: 补正 and 缴费
both leave the ticket 「等待申请人」, and `waits_for` tells which one it waits for.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from tracker.deadlines import policies
from tracker.errors import Conflict, ValidationError
from tracker.people.access import require_action
from tracker.people.models import User
from tracker.tickets.models import Ticket
from tracker.workflow import transitions as svc


def waits_for(ticket: Ticket, kind: str) -> bool:
    """Whether the applicant's step of `kind` (补正 or 缴费) is what the ticket waits for: both leave the ticket
    「等待申请人」, and only the open deadline tells them apart."""
    return ticket.status == "waiting_applicant" and any(
        d.kind == kind and d.state in policies.OPEN_STATES for d in ticket.deadlines
    )


def request_fee(session: Session, ticket: Ticket, *, user: User, now: datetime, note: str = "") -> None:
    """收费通知已送达 (art. 42, 国办函〔2020〕109号): the applicant's 20 working days to pay open, and the reply
    clock stops until the fee is paid. Called when the fee notice is served (tracker.letters.service)."""
    require_action(user, "request_fee", ticket)
    if ticket.channel != "disclosure":
        raise ValidationError("只有依申请公开可以收取信息处理费", fields={"action": "渠道不符"})
    if any(d.kind == policies.FEE_PAYMENT for d in ticket.deadlines):
        raise Conflict("该申请已发出过收费通知")
    svc.start_consultation(session, ticket, policies.FEE_PAYMENT, actor=user, now=now, note=note)


def receive_fee(session: Session, ticket: Ticket, *, user: User, now: datetime) -> None:
    """收到缴费: the payment deadline is met and the reply clock runs again from where it stopped."""
    require_action(user, "receive_fee", ticket)
    if not waits_for(ticket, policies.FEE_PAYMENT):
        raise Conflict("该申请没有等待缴费的收费通知")
    svc.end_consultation(session, ticket, policies.FEE_PAYMENT, actor=user, now=now)
