"""The doors of the staff's ticket actions — one function per action, each checking reach, role,
transition and approval rules before it changes anything (docs/architecture.md, "One door per action") —
plus approvals, bulk actions (the same doors in a loop), attachments, saved filters and canned replies.
Services flush; the request owns the transaction. Over 600 lines on purpose: every door and the approval
rules they share are read in one file, so a rule is found, and changed, in one place.

Approval rules (the 条例 art. 33 extension needs the approval of the head of the office):
- an extension is requested by whoever handles the ticket and granted by a supervisor of the ticket's
  department or an administrator (`tracker.deadlines.service.extend_deadline` records the approver);
- a disclosure reply written by staff (承办人) needs a supervisor's sign-off before it goes out;
  supervisors and administrators reply directly.
Both the request and the decision are ticket events.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.deadlines import engine as deadline_engine
from tracker.deadlines import policies
from tracker.deadlines import service as dl
from tracker.errors import Conflict, NotFound, PermissionDenied, TrackerError, ValidationError
from tracker.people.access import (
    APPROVER_ROLES,
    can_take,
    reach_of,
    require_act,
    require_action,
    require_view,
)
from tracker.people.models import AuditEntry, Department, User
from tracker.reports.rows import OUTCOMES_BY_CODE
from tracker.tickets.models import Ticket
from tracker.tickets.status import TRANSITIONS, transition_for
from tracker.workflow import transitions as svc
from tracker.workflow.fees import waits_for
from tracker.workflow.models import Approval, Attachment
from tracker.workorders import cohandling, reply_check
from tracker.workorders.models import SendBack
from tracker.workorders.revisits import RevisitInput, record_revisit

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
ATTACHMENT_EXTENSIONS = frozenset(
    {"pdf", "ofd", "doc", "docx", "xls", "xlsx", "wps", "txt", "jpg", "jpeg", "png", "zip", "rar"}
)
BULK_ACTIONS = {"assign": "批量分派", "transfer": "批量转办", "close": "批量办结"}
MAX_BULK = 200


def audit(
    session: Session,
    user: User | None,
    action: str,
    *,
    now: datetime,
    object_type: str | None = None,
    object_id: Any = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> None:
    """Record who did or saw what outside a ticket's own history (admin changes, reveals, downloads)."""
    session.add(
        AuditEntry(
            at=now,
            user_id=user.id if user else None,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            detail=detail or {},
            ip=ip,
        )
    )


# -- the doors: one function per action ---------------------------------------------------------------------
# Each checks, before it changes anything, that the ticket is within the user's reach and the role may take
# the action (tracker.people.access.require_action), the transition (tracker.tickets.status, via services.tickets), and the
# approval rules; then it writes the change and its history. The ticket page, the bulk actions and the
# approvals call these and re-check nothing. docs/architecture.md ("One door per action") lists them.


HANDLER_ROLES = frozenset({"staff", "supervisor"})


def start_work(session: Session, ticket: Ticket, *, user: User, now: datetime) -> None:
    """签收 / 开始办理: the sign-for deadline is met. A ticket nobody handles yet (已接收, or 已转办 to this
    department) becomes the signer's: 承办人 is set, so it reaches their 我的待办 — when the signer is one
    of the ticket's department's handlers (an administrator signing elsewhere assigns nobody)."""
    require_action(user, "start", ticket)
    transition_for("start", ticket.status)  # refused before anything changes
    data = None
    if (
        ticket.assignee_id is None
        and user.role in HANDLER_ROLES
        and user.department_id == ticket.department_id
    ):
        ticket.assignee = user
        data = {"assignee_id": user.id, "assignee": [None, user.display_name]}
    svc.transition(session, ticket, "start", actor=user, now=now, data=data)


def is_unrouted(session: Session, ticket: Ticket) -> bool:
    """Still at the bureau level: in a root department (where intake leaves a portal or API item no routing
    rule placed, tracker.workflow.routing) and not yet taken up."""
    return ticket.department.parent_id is None and ticket.status == "received"


def assign(session: Session, ticket: Ticket, assignee: User, *, user: User, now: datetime) -> None:
    """分派: a supervisor assigns anyone of the ticket's department; a 承办人 takes a ticket for themselves.
    A ticket still unrouted at the bureau level may be assigned to a handler of any department by someone
    whose reach is every department (an administrator): that is 分办 and 分派 at once — the ticket is
    transferred to the assignee's department (its own event, with the reason), then assigned."""
    require_action(user, "assign" if assignee.id == user.id else "assign_other", ticket)
    if not assignee.is_active:
        raise ValidationError("承办人已停用", fields={"assignee_id": "已停用"})
    if assignee.department_id != ticket.department_id and is_unrouted(session, ticket):
        department = session.get(Department, assignee.department_id)
        if department is None or not can_take(user, "transfer", ticket) or not reach_of(user).is_everything:
            raise ValidationError("承办人不属于工单所在部门", fields={"assignee_id": "部门不符"})
        svc.transfer_ticket(
            session, ticket, department, "局本级分派（分办至承办人所在部门）", actor=user, now=now
        )
    svc.assign_ticket(session, ticket, assignee, actor=user, now=now)


def assignable_handlers(session: Session, ticket: Ticket, user: User) -> list[User]:
    """The 分派 list of the ticket page: the handlers this user may assign the ticket to — a 承办人 only
    themselves; otherwise the ticket's department's handlers, or, for a ticket unrouted at the bureau level
    and a caller who may assign it anywhere, every department's (see `assign`)."""
    query = (
        select(User).where(User.is_active, User.role.in_(HANDLER_ROLES)).order_by(User.department_id, User.id)
    )
    if not (
        is_unrouted(session, ticket)
        and reach_of(user).is_everything
        and can_take(user, "assign_other", ticket)
    ):
        query = query.where(User.department_id == ticket.department_id)
    people = list(session.scalars(query))
    if not can_take(user, "assign_other", ticket):
        people = [u for u in people if u.id == user.id]
    return people


def transfer(
    session: Session, ticket: Ticket, department: Department, reason: str, *, user: User, now: datetime
) -> None:
    """转办 to another department (with the reason); not while an approval waits in this one."""
    require_action(user, "transfer", ticket)
    _refuse_while_pending(session, ticket, "转办")
    svc.transfer_ticket(session, ticket, department, reason, actor=user, now=now)


def request_correction(
    session: Session,
    ticket: Ticket,
    note: str,
    *,
    user: User,
    now: datetime,
    correction_due_at: datetime | None = None,
) -> None:
    """告知补正 (art. 30): one notice, the applicant's deadline opens, the reply clock stops."""
    require_action(user, "request_correction", ticket)
    if ticket.channel != "disclosure":
        raise ValidationError("只有依申请公开可以告知补正", fields={"action": "渠道不符"})
    if any(d.kind == policies.CORRECTION for d in ticket.deadlines):
        raise Conflict("补正告知只能发出一次")
    svc.request_correction(session, ticket, note, actor=user, now=now, correction_due_at=correction_due_at)


def receive_correction(
    session: Session, ticket: Ticket, corrected_received_at: datetime, *, user: User, now: datetime
) -> None:
    """收到补正: the reply period restarts from the day the corrected application was received."""
    require_action(user, "receive_correction", ticket)
    if waits_for(ticket, policies.FEE_PAYMENT) and not waits_for(ticket, policies.CORRECTION):
        raise Conflict("工单等待的是申请人缴费，不是补正：请登记收到缴费")
    if corrected_received_at > now:
        raise ValidationError("补正收到时间不能晚于现在", fields={"corrected_received_at": "晚于现在"})
    svc.receive_correction(session, ticket, corrected_received_at=corrected_received_at, actor=user, now=now)


CONSULTATION_KINDS = {policies.THIRD_PARTY: "第三方", policies.OTHER_AGENCY: "其他机关"}


def start_consultation(session: Session, ticket: Ticket, kind: str, *, user: User, now: datetime) -> None:
    require_action(user, "start_consultation", ticket)
    if ticket.channel != "disclosure":
        raise ValidationError("只有依申请公开可以征求意见", fields={"action": "渠道不符"})
    if kind not in CONSULTATION_KINDS:
        raise ValidationError("征求意见对象应为第三方或其他机关", fields={"kind": "取值无效"})
    svc.start_consultation(session, ticket, kind, actor=user, now=now)


def end_consultation(session: Session, ticket: Ticket, *, user: User, now: datetime) -> None:
    """End the running consultation (the one whose deadline is still open)."""
    require_action(user, "end_consultation", ticket)
    running = [
        d.kind for d in ticket.deadlines if d.kind in CONSULTATION_KINDS and d.state in policies.OPEN_STATES
    ]
    if not running:
        raise Conflict("没有正在进行的征求意见")
    svc.end_consultation(session, ticket, running[0], actor=user, now=now)


def reply_needs_signoff(user: User, ticket: Ticket) -> bool:
    """A disclosure reply written by a 承办人 goes out only with a 科室负责人's (or an administrator's) sign-off."""
    return ticket.channel == "disclosure" and user.role not in APPROVER_ROLES


def _check_reply(ticket: Ticket, text: str, outcome: str | None) -> None:
    errors = {}
    if not text.strip():
        errors["reply_text"] = "答复内容不能为空"
    if ticket.channel == "disclosure":
        if not outcome:
            errors["outcome"] = "依申请公开答复须选择答复结果（年度报告的统计行）"
        elif outcome not in OUTCOMES_BY_CODE:
            errors["outcome"] = "答复结果不在年度报告的统计行中"
    elif outcome:
        errors["outcome"] = "只有依申请公开答复需要选择答复结果"
    if errors:
        raise ValidationError("；".join(errors.values()), fields=errors)


def reply(
    session: Session,
    ticket: Ticket,
    text: str,
    *,
    user: User,
    now: datetime,
    outcome: str | None = None,
    attachment_ids: list[int] | None = None,
    confirm_warnings: bool = False,
    cohandling_reason: str | None = None,
) -> Approval | None:
    """答复: sent now (the reply deadline is met), or — a disclosure reply by a 承办人 — submitted for sign-off
    and sent when a supervisor approves it (returns that Approval). Refused while a request waits; by the
    check before a public reply leaves (`reply_check.enforce`: blocking, or warnings not confirmed); and —
    the lead unit of a 12345 order — while a co-handling unit's order is open, unless `cohandling_reason`
    says why (tracker.workorders.cohandling)."""
    require_action(user, "reply", ticket)
    _check_reply(ticket, text, outcome)
    transition_for("reply", ticket.status)  # refused now, not when the supervisor approves
    # One reply at a time; a pending extension does not hold the answer back (it is decided before 办结).
    _refuse_while_pending(session, ticket, "再次答复", kind="reply")
    cohandling.check_lead_may_finish(session, ticket, "答复", reason=cohandling_reason, actor=user, now=now)
    if reply_needs_signoff(user, ticket):
        # Checked when submitted too, so the 承办人 (not only the approver) hears of the findings.
        reply_check.enforce(session, ticket, text, confirmed=confirm_warnings, actor=user, now=now)
        return _request_reply_signoff(
            session, ticket, text, user=user, now=now, outcome=outcome, attachment_ids=attachment_ids
        )
    _send_reply(
        session,
        ticket,
        text,
        actor=user,
        now=now,
        outcome=outcome,
        attachment_ids=attachment_ids,
        confirmed=confirm_warnings,
    )
    return None


def _send_reply(
    session: Session,
    ticket: Ticket,
    text: str,
    *,
    actor: User,
    now: datetime,
    outcome: str | None,
    attachment_ids: list[int] | None,
    confirmed: bool,
) -> None:
    # Every path that sends a public reply passes here: the check before it leaves, the same for all.
    reply_check.enforce(session, ticket, text, confirmed=confirmed, actor=actor, now=now)
    svc.reply_ticket(session, ticket, text, actor=actor, now=now, outcome=outcome)
    cohandling.roll_up_reply(session, ticket, actor=actor, now=now)  # a co-unit's answer reaches the lead
    if attachment_ids:
        svc.record_event(
            session,
            ticket,
            "ticket.attachments",
            actor=actor,
            now=now,
            data={"attachment_ids": attachment_ids},
        )


def close(
    session: Session,
    ticket: Ticket,
    *,
    user: User,
    now: datetime,
    outcome: str | None = None,
    reply_text: str | None = None,
    confirm_warnings: bool = False,
    cohandling_reason: str | None = None,
) -> None:
    """办结. With `reply_text` (批量办结) a ticket not answered yet is answered first — unless its reply
    needs a supervisor's sign-off, which only the 答复 door can ask for: then nothing changes. A
    disclosure's outcome is the one its reply went out with (signed off with it); 办结 cannot change it.
    The lead unit of a 12345 order with a co-handling unit's order open says why (`cohandling_reason`)."""
    require_action(user, "close", ticket)
    _refuse_while_pending(session, ticket, "办结")
    cohandling.check_lead_may_finish(session, ticket, "办结", reason=cohandling_reason, actor=user, now=now)
    if outcome and outcome not in OUTCOMES_BY_CODE:
        raise ValidationError("答复结果不在年度报告的统计行中", fields={"outcome": "取值无效"})
    if ticket.channel == "disclosure" and ticket.outcome and outcome and outcome != ticket.outcome:
        raise ValidationError(
            "答复结果已随答复确定，办结时不能更改（如需更改请重新办理）", fields={"outcome": "与答复结果不符"}
        )
    if reply_text is not None and ticket.status not in TRANSITIONS["close"].sources:
        if reply_needs_signoff(user, ticket):
            raise Conflict("依申请公开答复须经科室负责人签发，不能直接办结：请在工单页提交答复")
        _check_reply(ticket, reply_text, outcome)
        _send_reply(
            session,
            ticket,
            reply_text,
            actor=user,
            now=now,
            outcome=outcome,
            attachment_ids=None,
            confirmed=confirm_warnings,
        )
    if ticket.channel == "disclosure" and not (outcome or ticket.outcome):
        raise ValidationError("依申请公开办结须有答复结果", fields={"outcome": "必填"})
    svc.close_ticket(session, ticket, actor=user, now=now, outcome=outcome)


def reopen(session: Session, ticket: Ticket, reason: str, *, user: User, now: datetime) -> None:
    """重新办理 a replied, closed or returned ticket: supervisors and administrators only."""
    require_action(user, "reopen", ticket)
    svc.transition(session, ticket, "reopen", actor=user, now=now, data={"reason": reason})


def merge(session: Session, duplicate: Ticket, into_number: str, *, user: User, now: datetime) -> Ticket:
    """合并重复件 into another open ticket the user may also act on."""
    require_action(user, "merge", duplicate)
    _refuse_while_pending(session, duplicate, "合并")
    into = session.scalar(select(Ticket).where(Ticket.number == into_number.strip()))
    if into is None or not can_take(user, "merge", into):
        raise ValidationError(f"找不到可合并的工单 {into_number!r}", fields={"into": "不存在或无权办理"})
    svc.merge_tickets(session, duplicate, into, actor=user, now=now)
    return into


def rate(
    session: Session,
    ticket: Ticket,
    satisfaction: str,
    *,
    user: User,
    now: datetime,
    is_resolved: bool | None = None,
) -> None:
    """回访: the citizen's satisfaction with an answered ticket. A 12345 order's 回访 is a `Revisit` row (the
    assessment counts them; it may open a 重办): it goes through the one 回访 door."""
    if ticket.channel == "hotline":
        visit = RevisitInput(visited_at=now, result=satisfaction, is_resolved=is_resolved)
        record_revisit(session, ticket, visit, now=now, user=user)
        return
    require_action(user, "rate", ticket)
    if ticket.status not in ("replied", "closed"):
        raise Conflict("工单答复后才能回访")
    svc.rate_ticket(session, ticket, satisfaction, actor=user, now=now, is_resolved=is_resolved)


def add_note(session: Session, ticket: Ticket, text: str, *, user: User, now: datetime) -> None:
    """内部备注: staff's own record, never shown to machine clients."""
    require_action(user, "note", ticket)
    svc.add_note(session, ticket, text, actor=user, now=now)


def extend(
    session: Session,
    ticket: Ticket,
    *,
    user: User,
    length: int,
    reason: str,
    now: datetime,
    notice: str = "",
    kind: str = policies.REPLY,
) -> Approval:
    """延期 (art. 33): a 承办人 asks for it; a supervisor's or administrator's request is its own approval,
    granted at once (the approval and its decision are both in the history)."""
    approval = request_extension(session, ticket, user=user, length=length, reason=reason, now=now, kind=kind)
    if can_decide(user, approval):
        decide_approval(session, approval, user=user, approve=True, now=now, note=notice)
    return approval


# -- approvals --------------------------------------------------------------------------------------------


def _pending(session: Session, ticket: Ticket, kind: str | None = None) -> Approval | None:
    query = select(Approval).where(Approval.ticket_id == ticket.id, Approval.state == "pending")
    if kind is not None:
        query = query.where(Approval.kind == kind)
    return session.scalar(query.order_by(Approval.id).limit(1))


def _refuse_while_pending(session: Session, ticket: Ticket, action: str, *, kind: str | None = None) -> None:
    """A pending request (a reply awaiting sign-off, an extension; `kind`: only that one) is decided
    first: closing, merging, transferring or returning the ticket meanwhile would leave it orphaned."""
    pending = _pending(session, ticket, kind)
    if pending is not None:
        what = "答复等待签发" if pending.kind == "reply" else "延期申请等待审批"
        raise Conflict(f"{ticket.number}已有{what}，须先由科室负责人处理，不能{action}")
    # A 退单 request waiting for the 12345 platform (tracker.workorders.sendbacks): what the unit asks the
    # platform to take back it does not answer, close, transfer or merge meanwhile.
    if session.scalar(
        select(SendBack.id).where(SendBack.ticket_id == ticket.id, SendBack.state == "pending").limit(1)
    ):
        raise Conflict(f"{ticket.number}的退单申请正等待12345平台审核，审核前不能{action}")


def refuse_while_pending(session: Session, ticket: Ticket, action: str) -> None:
    """The same rule for the doors outside this module (tracker.workorders)."""
    _refuse_while_pending(session, ticket, action)


def request_extension(
    session: Session,
    ticket: Ticket,
    *,
    user: User,
    length: int,
    reason: str,
    now: datetime,
    kind: str = policies.REPLY,
) -> Approval:
    """Ask a supervisor to extend a deadline by `length` (in the rule's unit); checked against the rule now."""
    require_action(user, "extend", ticket)
    if not reason.strip():
        raise ValidationError("申请延期须说明理由", fields={"reason": "必填"})
    if length <= 0:
        raise ValidationError("延长天数须为正整数", fields={"length": "须大于0"})
    if _pending(session, ticket, "extension") is not None:
        raise Conflict("已有一项延期申请等待审批")
    deadline = dl.get_deadline(ticket, kind)
    if deadline.state not in policies.OPEN_STATES:
        raise Conflict(f"“{deadline.label}”期限已结束，不能延期")
    policy = policies.find_policy(
        policies.policies_for(session), deadline.policy_code, deadline.policy_version
    )
    deadline_engine.check_extension(
        policy, [deadline_engine.Extension.from_json(e) for e in deadline.extensions or ()], length
    )
    return _open_approval(
        session,
        ticket,
        "extension",
        payload={"deadline": kind, "length": length, "unit": policy.unit, "label": deadline.label},
        reason=reason,
        user=user,
        now=now,
        told={"deadline": kind, "length": length, "reason": reason},
    )


def _request_reply_signoff(
    session: Session,
    ticket: Ticket,
    text: str,
    *,
    user: User,
    now: datetime,
    outcome: str | None,
    attachment_ids: list[int] | None,
) -> Approval:
    """Submit a reply for a supervisor's sign-off (the `reply` door has checked it); sent when approved."""
    return _open_approval(
        session,
        ticket,
        "reply",
        payload={"text": text, "outcome": outcome, "attachment_ids": attachment_ids or []},
        reason="答复签发",
        user=user,
        now=now,
        told={"outcome": outcome},
    )


def _open_approval(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    payload: dict[str, Any],
    reason: str,
    user: User,
    now: datetime,
    told: dict[str, Any],
) -> Approval:
    """A pending request for the ticket's department's supervisors, and its `approval.requested` event
    (published: the supervisors are notified); `told` is what the event says besides the id and kind."""
    approval = Approval(
        ticket_id=ticket.id,
        department_id=ticket.department_id,
        kind=kind,
        state="pending",
        payload=payload,
        reason=reason,
        requested_by_id=user.id,
        requested_at=now,
    )
    session.add(approval)
    session.flush()
    svc.record_event(
        session,
        ticket,
        "approval.requested",
        actor=user,
        now=now,
        data={"approval_id": approval.id, "kind": kind, **told},
        publish=True,
    )
    return approval


def can_decide(user: User, approval: Approval) -> bool:
    """A supervisor of the ticket's department, or an administrator (tracker.people.access: reach and role)."""
    return (
        can_take(user, "approve", approval.ticket) and approval.department_id == approval.ticket.department_id
    )


def decide_approval(
    session: Session, approval: Approval, *, user: User, approve: bool, now: datetime, note: str = ""
) -> Approval:
    """签发 / 审批: approve (and carry out) or refuse a pending request. Refusing needs a reason."""
    require_view(user, approval.ticket)
    if not can_decide(user, approval):
        raise PermissionDenied("只有本部门科室负责人或管理员可以审批")
    if approval.state != "pending":
        raise Conflict("该申请已处理")
    if not approve and not note.strip():
        raise ValidationError("不同意须说明理由", fields={"note": "必填"})
    ticket = approval.ticket
    if approve and approval.kind == "extension":
        payload = approval.payload
        dl.extend_deadline(
            session,
            ticket,
            payload["deadline"],
            length=int(payload["length"]),
            approver=user.display_name,
            reason=approval.reason,
            now=now,
            actor=user,
            applicant_notice=note,
        )
    elif approve and approval.kind == "reply":
        payload = approval.payload
        # The sign-off is this door's own check: the reply goes out as the approver's, and approving a
        # text the check warns about is confirming it (recorded); a blocking check refuses it here too.
        _send_reply(
            session,
            ticket,
            payload["text"],
            actor=user,
            now=now,
            outcome=payload.get("outcome"),
            attachment_ids=payload.get("attachment_ids") or None,
            confirmed=True,
        )
    approval.state = "approved" if approve else "refused"
    approval.decided_by_id = user.id
    approval.decided_at = now
    approval.decision_note = note or None
    session.flush()
    svc.record_event(
        session,
        ticket,
        "approval.approved" if approve else "approval.refused",
        actor=user,
        now=now,
        data={"approval_id": approval.id, "kind": approval.kind, "note": note},
        publish=True,
    )
    return approval


def supersede_approvals(session: Session, ticket: Ticket, *, reason: str, now: datetime, actor: Any) -> int:
    """Close the ticket's pending requests that something outside the staff's hands made moot — the 12345
    platform reporting the order answered while a reply waited for sign-off or an extension for approval:
    each becomes `superseded` with the reason, and its requester hears of it (`approval.superseded`).
    Returns how many."""
    pending = pending_approvals(session, ticket)
    for approval in pending:
        approval.state = "superseded"
        approval.decided_at = now
        approval.decision_note = reason
        session.flush()
        svc.record_event(
            session,
            ticket,
            "approval.superseded",
            actor=actor,
            now=now,
            data={"approval_id": approval.id, "kind": approval.kind, "note": reason},
            publish=True,
        )
    return len(pending)


def pending_approvals(session: Session, ticket: Ticket) -> list[Approval]:
    return list(
        session.scalars(
            select(Approval)
            .where(Approval.ticket_id == ticket.id, Approval.state == "pending")
            .order_by(Approval.id)
        )
    )


def get_approval(session: Session, approval_id: int) -> Approval:
    approval = session.get(Approval, approval_id)
    if approval is None:
        raise NotFound("审批事项不存在")
    return approval


# -- bulk actions: the same doors in a loop -----------------------------------------------------------------


@dataclass
class BulkResult:
    done: list[str] = field(default_factory=list)


def bulk_action(
    session: Session,
    user: User,
    ticket_ids: list[int],
    action: str,
    *,
    now: datetime,
    assignee_id: int | None = None,
    department_id: int | None = None,
    reason: str = "",
    outcome: str | None = None,
    reply_text: str = "",
    confirm_warnings: bool = False,
) -> BulkResult:
    """Apply one action to many tickets through its door, all or nothing: any ticket the door refuses
    fails the batch, and the error names every such ticket and why (the caller rolls back). A ticket the
    user may not see answers like a missing one (NotFound), as on the ticket page."""
    if action not in BULK_ACTIONS:
        raise ValidationError("未知的批量操作", fields={"action": "取值无效"})
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        raise ValidationError("请先勾选工单", fields={"ticket_ids": "未选择"})
    if len(ids) > MAX_BULK:
        raise ValidationError(f"一次最多处理{MAX_BULK}件", fields={"ticket_ids": "过多"})
    tickets = {t.id: t for t in session.scalars(select(Ticket).where(Ticket.id.in_(ids)))}
    for ticket_id in ids:
        if ticket_id not in tickets:
            raise NotFound("工单不存在或无权查看")
        # Access before input errors: 404 for a ticket the user may not see, 403 for one they may not change.
        require_act(user, tickets[ticket_id])
    assignee = department = None
    if action == "assign":
        assignee = session.get(User, assignee_id) if assignee_id else None
        if assignee is None:
            raise ValidationError("请选择承办人", fields={"assignee_id": "必填"})
    if action == "transfer":
        department = session.get(Department, department_id) if department_id else None
        if department is None:
            raise ValidationError("请选择转办部门", fields={"department_id": "必填"})
    failures: list[str] = []
    result = BulkResult()
    for ticket_id in ids:
        ticket = tickets[ticket_id]
        # No savepoint per ticket: any failure fails the whole request (the caller rolls back), and a
        # SAVEPOINT on pysqlite would commit early. The doors check before they change anything.
        try:
            if action == "assign":
                assign(session, ticket, assignee, user=user, now=now)
            elif action == "transfer":
                transfer(session, ticket, department, reason, user=user, now=now)
            else:
                close(
                    session,
                    ticket,
                    user=user,
                    now=now,
                    outcome=outcome,
                    reply_text=reply_text,
                    confirm_warnings=confirm_warnings,
                )
        except TrackerError as exc:
            failures.append(f"{ticket.number}：{exc.message}")
            continue
        result.done.append(ticket.number)
    if failures:
        raise ValidationError(
            f"{BULK_ACTIONS[action]}未执行，以下工单不能处理：" + "；".join(failures),
            fields={"ticket_ids": "；".join(failures)},
        )
    return result


# -- attachments ---------------------------------------------------------------------------------------------

_SAFE_NAME = re.compile(r"[^\w.\-（）()\u4e00-\u9fff ]+")


def clean_filename(name: str) -> str:
    """The uploaded name without any path and without characters that could mean something to a shell."""
    base = re.split(r"[\\/]", name or "")[-1].strip().strip(".")
    base = _SAFE_NAME.sub("_", base)[:200]
    return base or "附件"


def save_attachment(
    session: Session,
    ticket: Ticket,
    *,
    filename: str,
    data: bytes,
    content_type: str,
    user: User,
    now: datetime,
    directory: Path,
    purpose: str = "reply",
) -> Attachment:
    """Store the bytes under `directory` with a random name; keep the original name only as metadata."""
    require_action(user, "attach", ticket)
    name = clean_filename(filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ATTACHMENT_EXTENSIONS:
        raise ValidationError(
            f"附件“{name}”的类型不允许（允许：{'、'.join(sorted(ATTACHMENT_EXTENSIONS))}）",
            fields={"file": "类型不允许"},
        )
    if not data:
        raise ValidationError(f"附件“{name}”是空文件", fields={"file": "空文件"})
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise ValidationError(f"附件“{name}”超过20MB", fields={"file": "过大"})
    stored = f"{secrets.token_hex(16)}.{extension}"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / stored).write_bytes(data)
    attachment = Attachment(
        ticket_id=ticket.id,
        filename=name,
        stored_name=stored,
        content_type=(content_type or "application/octet-stream")[:128],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        purpose=purpose,
        uploaded_by_id=user.id,
        uploaded_at=now,
    )
    session.add(attachment)
    session.flush()
    svc.record_event(
        session,
        ticket,
        "ticket.attachment_added",
        actor=user,
        now=now,
        data={"attachment_id": attachment.id, "filename": name, "size": len(data)},
    )
    return attachment


def ticket_attachments(session: Session, ticket: Ticket) -> list[Attachment]:
    return list(
        session.scalars(select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id))
    )


# -- saved filters and canned replies ------------------------------------------------------------------------
