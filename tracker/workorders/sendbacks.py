"""退单 / 派单异议: the unit asks the 12345 platform to take a work order back; the platform decides.

The doors (docs/architecture.md, "One door per action"; docs/workorders.md):

- `request_send_back` — a handler of the order's department asks, with a reason from the city's code list
  (`SEND_BACK_REASONS`), the reason in words and optionally the unit it should go to. The order keeps its
  status and its clocks run on: asking is not being relieved of the order, and a unit must not gain time by
  asking (the platform's own rule). One request may be pending per order. `sendback.requested` is
  published, so the platform hears of it through the callback (tracker.intake.callbacks).
- `decide_send_back` — the platform's decision, arriving by the signed API or entered by the bureau's
  office (an administrator) from the page. Accepted: the order is returned (`return_to_platform`
  transition, 已退回) and its deadlines are cancelled, as 退单 always did. Refused: the order simply stays
  with the unit — nothing about its deadlines changes, so a refused request has cost the unit the time it
  took. A decision is applied once: a second one (a replay, or the page and the API racing) is a 409.
- `withdraw_send_back` — the unit takes its own pending request back.

While a request is pending, the unit may sign for, assign and extend the order but not answer, close,
transfer or merge it (tracker.workflow.doors.refuse_while_pending): what it asks the platform to take back
it cannot also have answered when the platform accepts.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tracker.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tracker.inputs import text_error
from tracker.people.access import Reach, can_take, require_action, require_reach, require_view
from tracker.people.models import User
from tracker.tickets.models import Ticket
from tracker.tickets.status import transition_for
from tracker.workflow import doors as ds
from tracker.workflow import transitions as svc
from tracker.workorders.models import SEND_BACK_REASONS, SendBack

MAX_REASON_CHARS = 2000
MAX_NOTE_CHARS = 2000
MAX_UNIT_CHARS = 200
# How a request's state reads on the page, in the reply export and in a refusal's message.
STATE_LABELS = {
    "pending": "待平台审核",
    "accepted": "同意退单",
    "refused": "不同意退单",
    "withdrawn": "已撤回",
}

# The fields as a message names them (the `fields` of the error keep the form's names).
_FIELD_LABELS = {"reason_code": "退单原因", "reason_text": "退单理由", "suggested_unit": "建议承办单位"}


def _text(errors: dict[str, str], name: str, value: str | None, limit: int, *, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        errors[name] = "必填"
    elif len(value) > limit:
        errors[name] = f"不能超过{limit}字"
    elif text_error(value):
        errors[name] = text_error(value) or ""
    return value


def pending_send_back(session: Session, ticket: Ticket) -> SendBack | None:
    return session.scalar(
        select(SendBack).where(SendBack.ticket_id == ticket.id, SendBack.state == "pending").limit(1)
    )


def ticket_send_backs(session: Session, ticket: Ticket) -> list[SendBack]:
    return list(
        session.scalars(select(SendBack).where(SendBack.ticket_id == ticket.id).order_by(SendBack.id))
    )


def get_send_back(session: Session, send_back_id: int) -> SendBack:
    send_back = session.get(SendBack, send_back_id)
    if send_back is None:
        raise NotFound("退单申请不存在或无权查看")
    return send_back


def request_send_back(
    session: Session,
    ticket: Ticket,
    *,
    reason_code: str,
    reason_text: str,
    suggested_unit: str | None = None,
    user: User,
    now: datetime,
) -> SendBack:
    """退单申请: reach and role, a 12345 order the unit still holds, a reason from the list and in words,
    no other request pending and no approval waiting; the status and the deadlines stay as they are."""
    require_action(user, "request_send_back", ticket)
    if ticket.channel != "hotline":
        raise ValidationError("只有12345热线工单可以申请退单", fields={"action": "渠道不符"})
    errors: dict[str, str] = {}
    if reason_code not in SEND_BACK_REASONS:
        errors["reason_code"] = "不在代码表中"
    text = _text(errors, "reason_text", reason_text, MAX_REASON_CHARS, required=True)
    unit = _text(errors, "suggested_unit", suggested_unit, MAX_UNIT_CHARS, required=False)
    if errors:
        raise ValidationError(
            "；".join(f"{_FIELD_LABELS.get(k, k)}{v}" for k, v in errors.items()), fields=errors
        )
    # The order must be one the platform could take back now (received / assigned / in progress): the
    # same table the accepted decision will use, asked before anything is written.
    transition_for("return_to_platform", ticket.status)
    # Lock the order's row (PostgreSQL) so two requests at once cannot both find none pending.
    session.execute(select(Ticket.id).where(Ticket.id == ticket.id).with_for_update())
    if pending_send_back(session, ticket) is not None:
        raise Conflict(f"{ticket.number}已有一项退单申请等待平台审核")
    ds.refuse_while_pending(session, ticket, "申请退单")
    send_back = SendBack(
        ticket_id=ticket.id,
        department_id=ticket.department_id,
        reason_code=reason_code,
        reason_text=text,
        suggested_unit=unit or None,
        requested_by_id=user.id,
        requested_at=now,
        state="pending",
    )
    session.add(send_back)
    session.flush()
    svc.record_event(
        session,
        ticket,
        "sendback.requested",
        actor=user,
        now=now,
        data={
            "send_back_id": send_back.id,
            "reason_code": reason_code,
            "reason": f"{SEND_BACK_REASONS[reason_code]}：{text}",
            "suggested_unit": unit or None,
        },
        publish=True,  # the platform is told (the callback), the office sees it
    )
    return send_back


def withdraw_send_back(session: Session, send_back: SendBack, *, user: User, now: datetime) -> SendBack:
    """The unit takes its pending request back (before the platform decides)."""
    ticket = send_back.ticket
    require_action(user, "request_send_back", ticket)
    _claim(session, send_back, "withdrawn", label=user.display_name, note=None, now=now)
    svc.record_event(
        session,
        ticket,
        "sendback.withdrawn",
        actor=user,
        now=now,
        data={"send_back_id": send_back.id},
        publish=True,
    )
    return send_back


def can_decide_send_back(user: User, ticket: Ticket) -> bool:
    """Entering the platform's decision is the office's (an administrator's), never the requesting unit's."""
    return can_take(user, "decide_send_back", ticket)


def decide_send_back(
    session: Session,
    send_back: SendBack,
    *,
    accept: bool,
    note: str = "",
    now: datetime,
    user: User | None = None,
    reach: Reach | None = None,
    label: str | None = None,
) -> SendBack:
    """The platform's decision: by an API key (`reach` and `label`, e.g. "API:12345平台") or entered by an
    office user (`user`). Applied once; a refusal needs its reason, which the unit reads."""
    ticket = send_back.ticket
    if user is not None:
        require_view(user, ticket)  # another department's user: as if missing
        require_action(user, "decide_send_back", ticket)
        actor: User | str = user
        decided_by = f"{user.display_name}（录入平台意见）"
    elif reach is not None and label:
        try:
            require_reach(reach, ticket, what="退单申请")
        except PermissionDenied:
            raise NotFound("退单申请不存在或无权查看") from None
        actor = decided_by = label
    else:  # pragma: no cover - a caller's mistake, not input
        raise PermissionDenied("退单审核须由平台或办公室作出")
    errors: dict[str, str] = {}
    note = _text(errors, "note", note, MAX_NOTE_CHARS, required=not accept)
    if errors:
        raise ValidationError("不同意退单须说明理由" if not note else "审核意见有误", fields=errors)
    if send_back.state != "pending":
        raise _decided(send_back)  # a replay: said before any other check, whatever the order is now
    if accept:
        # Checked before the claim: an order the unit may no longer give back (it has been answered
        # meanwhile by the platform's own history) leaves the request pending and says why.
        transition_for("return_to_platform", ticket.status)
    _claim(session, send_back, "accepted" if accept else "refused", label=decided_by, note=note, now=now)
    if accept:
        # The platform has taken the order: requests still waiting here are moot, not blocking.
        ds.supersede_approvals(session, ticket, reason="12345平台同意退单", now=now, actor=actor)
        svc.transition(
            session,
            ticket,
            "return_to_platform",
            actor=actor,
            now=now,
            data={
                "reason": f"{SEND_BACK_REASONS[send_back.reason_code]}：{send_back.reason_text}",
                "send_back_id": send_back.id,
            },
        )
    # Refused: nothing else changes — the status and every deadline (due_at, state) stay as they were.
    svc.record_event(
        session,
        ticket,
        "sendback.decided",
        actor=actor,
        now=now,
        data={
            "send_back_id": send_back.id,
            "decision": send_back.state,
            "reason": STATE_LABELS[send_back.state] + (f"：{note}" if note else ""),
        },
        publish=True,
    )
    return send_back


def _claim(
    session: Session, send_back: SendBack, state: str, *, label: str, note: str | None, now: datetime
) -> None:
    """One conditional UPDATE moves a pending request to `state`: of two decisions at once (or a replayed
    one) exactly one wins, the other is a Conflict — on SQLite and PostgreSQL alike."""
    claimed = session.execute(
        update(SendBack)
        .where(SendBack.id == send_back.id, SendBack.state == "pending")
        .values(state=state, decided_at=now, decided_by_label=label[:200], decision_note=note or None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(send_back)
    if claimed != 1:
        raise _decided(send_back)


def _decided(send_back: SendBack) -> Conflict:
    return Conflict(
        f"该退单申请已处理（{STATE_LABELS.get(send_back.state, send_back.state)}），不能再次处理",
        fields={"state": send_back.state},
    )
