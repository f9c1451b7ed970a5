"""回访 (issue 19 item 5): the call-back to the citizen after an order is answered — when, which number,
the result (满意 / 基本满意 / 不满意), 是否解决, 是否联系, the citizen's words.

One door, `record_revisit`, for every path: staff on the ticket page (`user`, source `staff`), and the
platform's 回访 brought by a file import or the push (`reach`, source `platform`, through
`tracker.intake.records.apply_record`). It checks reach and role (auditors and another department are
refused), the fields (bounded lengths, a clear 400 naming the field), that the order is answered, and
then, in the caller's transaction:

- writes the `Revisit` row (the phone encrypted, `tracker.pii.cipher.EncryptedText`);
- sets the ticket's satisfaction and 是否解决 through the rating primitive
  (`tracker.workflow.transitions.rate_ticket`, source `revisit` or `platform`). It has no once-rule of its
  own (only the portal's 好差评 is once per ticket), so a new 回访 after a 重办 replaces the rating and the
  events keep every one;
- records `revisit.recorded` (published: the platform's acknowledgement callback hears it);
- opens a 重办 when the city's rule says so (`tracker.workorders.redo`).

A platform 回访 is idempotent by its `external_ref` (回访编号): delivered again, it is recorded once and
changes nothing (the unique (ticket_id, external_ref) holds against a race).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import Conflict, PermissionDenied, ValidationError
from tracker.inputs import text_error
from tracker.people.access import Reach, require_action, require_reach
from tracker.people.models import User
from tracker.security import normalise_phone
from tracker.tickets.history import record_event
from tracker.tickets.models import Ticket
from tracker.workflow.transitions import rate_ticket
from tracker.workorders.models import REVISIT_RESULTS, Redo, Revisit
from tracker.workorders.redo import RedoRule, redo, redo_rule

MAX_WORDS_CHARS = 2000
MAX_REF_CHARS = 128
MAX_PHONE_CHARS = 32
# A 回访 is in the past: a little leeway for the platform's clock, no more.
CLOCK_LEEWAY = timedelta(minutes=10)
ANSWERED_STATUSES = ("replied", "closed")
_RESULT_BY_LABEL = {label: code for code, label in REVISIT_RESULTS.items()}


@dataclass(frozen=True)
class RevisitInput:
    """One 回访 as a caller parsed it; `record_revisit` checks it."""

    visited_at: datetime | None
    result: str  # a code of REVISIT_RESULTS or its label (满意 / 基本满意 / 不满意)
    is_resolved: bool | None = None
    was_contacted: bool | None = None
    citizen_words: str = ""
    phone: str | None = None
    external_ref: str | None = None


@dataclass
class RevisitOutcome:
    revisit: Revisit
    created: bool  # False: the same 回访编号 was recorded before, nothing changed
    redo: Redo | None = None


def result_code(value: str | None) -> str:
    """The result's code from its code or its label; a clear error naming `result` otherwise."""
    text = (value or "").strip()
    if text in REVISIT_RESULTS:
        return text
    if text in _RESULT_BY_LABEL:
        return _RESULT_BY_LABEL[text]
    raise ValidationError(
        f"回访结果应为 {'/'.join(REVISIT_RESULTS.values())} 之一", fields={"result": "取值无效"}
    )


def _checked(data: RevisitInput, ticket: Ticket, *, now: datetime, source: str) -> dict:
    errors: dict[str, str] = {}
    try:
        result = result_code(data.result)
    except ValidationError:
        result = None
        errors["result"] = f"应为 {'/'.join(REVISIT_RESULTS.values())} 之一"
    words = (data.citizen_words or "").strip()
    problem = text_error(words) or (f"超过{MAX_WORDS_CHARS}字" if len(words) > MAX_WORDS_CHARS else None)
    if problem:
        errors["citizen_words"] = problem
    phone = (data.phone or "").strip() or None
    if phone is not None and (
        len(phone) > MAX_PHONE_CHARS or text_error(phone) or len(normalise_phone(phone)) < 5
    ):
        errors["phone"] = "不是有效的电话号码"
    ref = (data.external_ref or "").strip() or None
    if ref is not None and (len(ref) > MAX_REF_CHARS or text_error(ref)):
        errors["external_ref"] = f"超过{MAX_REF_CHARS}字或含无效字符"
    if source == "platform" and ref is None:
        errors["external_ref"] = "平台回访须有回访编号"
    visited = data.visited_at
    if visited is None:
        errors["visited_at"] = "必填"
    elif visited.tzinfo is None:
        errors["visited_at"] = "缺少时区"
    elif visited > now + CLOCK_LEEWAY:
        errors["visited_at"] = "不能晚于现在"
    elif visited < ticket.received_at:
        errors["visited_at"] = "早于受理时间"
    if errors:
        raise ValidationError(
            "回访记录有误：" + "；".join(f"{k} {v}" for k, v in errors.items()), fields=errors
        )
    return {
        "result": result,
        "citizen_words": words,
        "phone": phone,
        "external_ref": ref,
        "visited_at": visited,
    }


def record_revisit(
    session: Session,
    ticket: Ticket,
    data: RevisitInput,
    *,
    now: datetime,
    user: User | None = None,
    reach: Reach | None = None,
    actor: str | None = None,
    rule: RedoRule | None = None,
) -> RevisitOutcome:
    """Record one 回访 (see the module's docstring). `user`: staff on the ticket page; `reach`: the
    platform's 回访 through an import or the push (`actor` names the channel in the history)."""
    if user is not None:
        require_action(user, "revisit", ticket)
        source = "staff"
    elif reach is not None:
        require_reach(reach, ticket, what=f"编号 {ticket.external_ref or ticket.number} 的工单")
        source = "platform"
    else:
        raise PermissionDenied("回访须由工作人员录入或由平台推送")
    values = _checked(data, ticket, now=now, source=source)
    if values["external_ref"] is not None:
        existing = session.scalar(
            select(Revisit).where(
                Revisit.ticket_id == ticket.id, Revisit.external_ref == values["external_ref"]
            )
        )
        if existing is not None:
            return RevisitOutcome(existing, created=False)
    if ticket.status not in ANSWERED_STATUSES:
        raise Conflict("工单答复后才能回访")
    who = user if user is not None else (actor or "12345平台回访")
    revisit = Revisit(
        ticket=ticket,
        visited_at=values["visited_at"],
        phone=values["phone"],
        result=values["result"],
        is_resolved=data.is_resolved,
        was_contacted=data.was_contacted,
        citizen_words=values["citizen_words"],
        source=source,
        external_ref=values["external_ref"],
        recorded_by_id=user.id if user is not None else None,
        created_at=now,
    )
    session.add(revisit)
    session.flush()  # the unique (ticket_id, external_ref): a racing re-delivery fails here, before any change
    rate_ticket(
        session,
        ticket,
        REVISIT_RESULTS[values["result"]],
        actor=who,
        now=now,
        is_resolved=data.is_resolved,
        source="revisit" if source == "staff" else "platform",
    )
    record_event(
        session,
        ticket,
        "revisit.recorded",
        actor=who,
        now=now,
        # No phone and no words here: the event is relayed to the platform's callback and kept for ever;
        # the row holds them (encrypted / anonymised with the contact).
        data={
            "revisit_id": revisit.id,
            "visited_at": values["visited_at"].isoformat(),
            "result": values["result"],
            "satisfaction": [None, REVISIT_RESULTS[values["result"]]],
            "is_resolved": data.is_resolved,
            "was_contacted": data.was_contacted,
            "source": source,
            "external_ref": values["external_ref"],
        },
        publish=True,
    )
    opened = None
    reason = (rule or redo_rule()).reason_for(values["result"], data.is_resolved)
    if reason and ticket.channel == "hotline":
        opened = redo(
            session, ticket, now=now, reason=reason, revisit=revisit, ordered_by=f"回访规则（{reason}）"
        )
    return RevisitOutcome(revisit, created=True, redo=opened)


def ticket_revisits(session: Session, ticket: Ticket) -> list[Revisit]:
    return list(
        session.scalars(
            select(Revisit).where(Revisit.ticket_id == ticket.id).order_by(Revisit.visited_at, Revisit.id)
        )
    )


def latest_revisits(session: Session, ticket_ids: list[int]) -> dict[int, Revisit]:
    """Each ticket's latest 回访 (the hotline export's columns)."""
    latest: dict[int, Revisit] = {}
    for start in range(0, len(ticket_ids), 500):
        chunk = ticket_ids[start : start + 500]
        for row in session.scalars(
            select(Revisit).where(Revisit.ticket_id.in_(chunk)).order_by(Revisit.visited_at, Revisit.id)
        ):
            latest[row.ticket_id] = row
    return latest
