"""重办 (issue 19 item 1): a 12345 order handled again, with a new deadline, because the citizen was not
satisfied or the matter is unresolved (the city's rule, `RedoRule`), or because a 科室负责人 orders it.

The one door is `redo`. It writes the `Redo` row (`revisit_id` unique: a replayed 回访 never opens two
redos), takes the ticket back to 办理中 through the `reopen` transition (from 已答复 or 已办结 only), and
opens the 重办 period (`tracker.deadlines.policies.REDO`, 5 working days by default, counted from the redo
on the working-day calendar and explained in plain Chinese like every other deadline). Answering the
order again meets that period (`tracker.workflow.transitions._MEETS`).

The city's rule — which 回访 results open a redo — is `TRACKER_REDO_ON` (`redo_rule`), the redo period is
the deadline policy `hotline.redo` (an administrator's override changes it). docs/workorders.md,
"回访与重办", gives both defaults.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.deadlines import policies
from tracker.deadlines import service as deadlines
from tracker.errors import Conflict, ValidationError
from tracker.inputs import text_error
from tracker.people.access import require_action
from tracker.people.models import User
from tracker.tickets.history import record_event
from tracker.tickets.models import Deadline, Ticket
from tracker.workflow.transitions import transition
from tracker.workorders.models import Redo, Revisit

MAX_REASON_CHARS = 2000
# What may open a redo: the 回访 result 不满意, and a 回访 saying the matter is not resolved.
REDO_TRIGGERS = {"unsatisfied": "回访不满意", "unresolved": "回访未解决"}
DEFAULT_REDO_ON = ("unsatisfied", "unresolved")
# Only an answered order is redone (a returned one went back to the platform: not ours to redo).
REDONE_STATUSES = ("replied", "closed")


@dataclass(frozen=True)
class RedoRule:
    """Which 回访 results open a redo. Cities differ: some redo only on 不满意, some on 未解决 too."""

    on: frozenset[str] = frozenset(DEFAULT_REDO_ON)

    @classmethod
    def parse(cls, text: str | None) -> RedoRule:
        """`TRACKER_REDO_ON`: comma-separated `unsatisfied`, `unresolved`; `none` switches redo off."""
        if text is None or not text.strip():
            return cls()
        words = {w.strip() for w in text.split(",") if w.strip()}
        if words == {"none"}:
            return cls(frozenset())
        unknown = words - set(REDO_TRIGGERS)
        if unknown:
            raise ValidationError(
                f"TRACKER_REDO_ON 只能是 {'/'.join(REDO_TRIGGERS)} 或 none，收到 {', '.join(sorted(unknown))}",
                fields={"TRACKER_REDO_ON": "取值无效"},
            )
        return cls(frozenset(words))

    def reason_for(self, result: str, is_resolved: bool | None) -> str | None:
        """Why this 回访 opens a redo under the rule (its words for the history), or None."""
        reasons = []
        if "unsatisfied" in self.on and result == "unsatisfied":
            reasons.append(REDO_TRIGGERS["unsatisfied"])
        if "unresolved" in self.on and is_resolved is False:
            reasons.append(REDO_TRIGGERS["unresolved"])
        return "、".join(reasons) or None


def redo_rule(env: dict[str, str] | None = None) -> RedoRule:
    """The rule in force: read where the process's settings are (the environment), like the PII keys."""
    return RedoRule.parse((os.environ if env is None else env).get("TRACKER_REDO_ON"))


def redo(
    session: Session,
    ticket: Ticket,
    *,
    now: datetime,
    reason: str = "",
    user: User | None = None,
    revisit: Revisit | None = None,
    ordered_by: str | None = None,
) -> Redo:
    """Open a 重办 on an answered order. By hand: `user` (科室负责人 or administrator, within reach) and a
    reason. After a 回访: `revisit`, recorded in this transaction by `tracker.workorders.revisits`, which
    checked the caller; the city's rule gave the reason. A 回访 opens at most one redo (Conflict)."""
    if user is not None:
        require_action(user, "redo", ticket)
    elif revisit is None or revisit.ticket_id != ticket.id:
        raise Conflict("重办须由科室负责人决定，或由本工单的回访结果按规则开启")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("重办须说明理由", fields={"reason": "必填"})
    problem = text_error(reason) or (f"超过{MAX_REASON_CHARS}字" if len(reason) > MAX_REASON_CHARS else None)
    if problem:
        raise ValidationError(f"重办理由{problem}", fields={"reason": problem})
    if ticket.channel != "hotline":
        raise ValidationError("只有12345工单可以重办", fields={"ticket": "渠道不符"})
    if ticket.status not in REDONE_STATUSES:
        raise Conflict("只有已答复或已办结的工单可以重办")
    if revisit is not None and session.scalar(select(Redo.id).where(Redo.revisit_id == revisit.id)):
        raise Conflict("该回访已开启重办")
    label = ordered_by or (user.display_name if user is not None else "回访规则")
    row = Redo(
        ticket=ticket,
        revisit_id=revisit.id if revisit is not None else None,
        reason=reason,
        redone_at=now,
        ordered_by_label=label,
    )
    session.add(row)
    session.flush()  # the unique revisit_id refuses a second redo of the same 回访 here, before any change
    actor = user if user is not None else label
    transition(session, ticket, "reopen", actor=actor, now=now, data={"reason": f"重办：{reason}"})
    deadline = deadlines.restart_deadline(
        session, ticket, policies.REDO, starts_at=now, now=now, actor=actor, reason=reason
    )
    row.due_at = deadline.due_at
    record_event(
        session,
        ticket,
        "ticket.redone",
        actor=actor,
        now=now,
        data={
            "redo_id": row.id,
            "revisit_id": row.revisit_id,
            "reason": reason,
            "due_at": deadline.due_at.isoformat() if deadline.due_at else None,
            "explanation": deadline.explanation,
        },
        publish=True,
    )
    session.flush()
    return row


def ticket_redos(session: Session, ticket: Ticket) -> list[Redo]:
    return list(session.scalars(select(Redo).where(Redo.ticket_id == ticket.id).order_by(Redo.id)))


def redo_deadline(ticket: Ticket) -> Deadline | None:
    """The current 重办 period (the latest redo's), if the ticket was ever redone."""
    return next((d for d in ticket.deadlines if d.kind == policies.REDO), None)
