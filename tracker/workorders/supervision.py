"""督办 / 催办 aimed at a unit: issued, answered, escalated, listed — each through one door here.

- `issue_supervision`: by the 12345 platform (push or import, with its 督办编号 as `external_ref`: a
  message delivered twice records the 督办 once) or by the office (administrators) on the ticket page.
  Refused after closure: a ticket closed, returned, merged or withdrawn takes no 督办 (409), because there
  is nothing left for the unit to do and the assessment would count a 督办 nobody could answer.
  Its due time is the platform's 督办时限, else the policy `policies.SUPERVISION` (2 working days; an
  urgent order's 24 hours; administrators override it), explained like every deadline.
- `answer_supervision`: by the unit (whoever may act on the ticket).
- `escalate_overdue`: the beat task's work — each open 督办 past its due time is escalated once to the
  unit's leaders (科室负责人 of the department; the office when it has none): `escalated_at` is claimed by
  one conditional UPDATE, so two workers or a re-run escalate nothing twice.
- `register`: the list of 督办 by department, state and period, for the register page and its XLSX.
Events: `supervision.issued`, `supervision.answered`, `supervision.escalated`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from tracker.clock import local
from tracker.deadlines import policies
from tracker.errors import Conflict, NotFound, ValidationError
from tracker.inputs import text_error
from tracker.notify.service import notify, plan_deliveries
from tracker.people.access import Reach, require_action, require_reach
from tracker.people.models import Department, User
from tracker.tickets.history import Actor, record_event
from tracker.tickets.models import Ticket
from tracker.tickets.status import FINAL_STATUSES, STATUS_LABELS
from tracker.workorders.models import SUPERVISION_KINDS, Supervision
from tracker.workorders.periods import aware_due, period_due

MAX_TEXT_CHARS = 5000
MAX_REF_CHARS = 128
STATE_LABELS = {"open": "待反馈", "answered": "已反馈", "overdue": "已超期", "escalated": "已上报负责人"}


def _clean_text(text: str | None, field: str, *, required: bool) -> str:
    text = (text or "").strip()
    if required and not text:
        raise ValidationError("内容不能为空", fields={field: "必填"})
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(f"内容超过{MAX_TEXT_CHARS}字", fields={field: "过长"})
    reason = text_error(text)
    if reason:
        raise ValidationError(reason, fields={field: reason})
    return text


def issue_supervision(
    session: Session,
    ticket: Ticket,
    *,
    text: str,
    now: datetime,
    user: User | None = None,
    actor: Actor | None = None,
    reach: Reach | None = None,
    kind: str = "supervise",
    external_ref: str | None = None,
    issued_at: datetime | None = None,
    due_at: datetime | None = None,
) -> tuple[Supervision, bool]:
    """督办/催办 the unit handling `ticket`. Either `user` (the office on the page: administrators only) or
    the platform (`actor` label and its `reach`). Returns (supervision, created): a replayed platform
    message (same `external_ref`) returns the one recorded, unchanged."""
    if user is not None:
        require_action(user, "supervise", ticket)
        actor = user
    elif reach is None:
        raise ValueError("issue_supervision needs a user or the platform's reach")
    else:
        require_reach(reach, ticket)
    if external_ref is not None:
        external_ref = external_ref.strip()
        if not external_ref or len(external_ref) > MAX_REF_CHARS:
            raise ValidationError(f"督办编号应为1至{MAX_REF_CHARS}字", fields={"supervision_ref": "长度不符"})
        known = session.scalar(
            select(Supervision).where(
                Supervision.ticket_id == ticket.id, Supervision.external_ref == external_ref
            )
        )
        if known is not None:
            return known, False  # the platform sent it again: recorded once
    if kind not in SUPERVISION_KINDS:
        raise ValidationError("督办类型应为督办或催办", fields={"kind": "取值无效"})
    text = _clean_text(text, "supervision_text", required=True)
    if ticket.status in FINAL_STATUSES:
        raise Conflict(
            f"{ticket.number}已{STATUS_LABELS.get(ticket.status, ticket.status)}，不能再{SUPERVISION_KINDS[kind]}"
        )
    issued_at = issued_at or now
    given = aware_due(due_at, field="supervision_due_at")
    if given is not None:
        due, explanation, policy = given, "督办时限由督办方给定", ""
    else:
        period = period_due(session, ticket, policies.SUPERVISION, starts_at=issued_at)
        due, explanation, policy = period.due_at, period.explanation, period.policy
    label = actor.display_name if isinstance(actor, User) else str(actor or "12345平台")
    supervision = Supervision(
        ticket_id=ticket.id,
        department_id=ticket.department_id,
        kind=kind,
        text=text,
        issued_by_label=label[:200],
        issued_at=issued_at,
        due_at=due,
        external_ref=external_ref,
        state="open",
    )
    session.add(supervision)
    session.flush()
    record_event(
        session,
        ticket,
        "supervision.issued",
        actor=actor,
        now=now,
        data={
            "supervision_id": supervision.id,
            "kind": kind,
            "kind_label": SUPERVISION_KINDS[kind],
            "department": ticket.department.code,
            "text": text,
            "external_ref": external_ref,
            "due_at": due.isoformat() if due else None,
            "policy": policy,
            "explanation": explanation,
        },
        publish=True,
    )
    return supervision, True


def get_supervision(session: Session, supervision_id: int) -> Supervision:
    supervision = session.get(Supervision, supervision_id)
    if supervision is None:
        raise NotFound("督办不存在或无权查看")
    return supervision


def answer_supervision(
    session: Session, supervision: Supervision, text: str, *, user: User, now: datetime
) -> Supervision:
    """The unit answers a 督办 (反馈): whoever may act on its ticket; once."""
    require_action(user, "answer_supervision", supervision.ticket)
    text = _clean_text(text, "answer", required=True)
    if supervision.state != "open":
        raise Conflict("该督办已反馈")
    supervision.state = "answered"
    supervision.answer = text
    supervision.answered_at = now
    supervision.answered_by_id = user.id
    session.flush()
    record_event(
        session,
        supervision.ticket,
        "supervision.answered",
        actor=user,
        now=now,
        data={
            "supervision_id": supervision.id,
            "answer": text,
            "late": bool(supervision.due_at and now > supervision.due_at),
        },
        publish=True,
    )
    return supervision


def ticket_supervisions(session: Session, ticket: Ticket) -> list[Supervision]:
    return list(
        session.scalars(
            select(Supervision).where(Supervision.ticket_id == ticket.id).order_by(Supervision.id)
        )
    )


def supervision_counts(session: Session, ticket_ids: list[int]) -> dict[int, int]:
    """How many 督办/催办 each ticket had (the hotline export's 督办次数)."""
    if not ticket_ids:
        return {}
    rows = session.execute(
        select(Supervision.ticket_id, func.count())
        .where(Supervision.ticket_id.in_(ticket_ids))
        .group_by(Supervision.ticket_id)
    )
    return {ticket_id: count for ticket_id, count in rows}


def unit_to_tell(session: Session, supervision_id: int) -> tuple[list[int], str] | None:
    """Who hears of a new 督办 (its ticket's 承办人 and the department's 科室负责人) and the title; None once
    it is answered (a relay catching up tells nobody of a settled one)."""
    supervision = session.get(Supervision, supervision_id)
    if supervision is None or supervision.state != "open":
        return None
    people = _leaders(session, supervision.department_id)
    if supervision.ticket.assignee_id:
        people.append(supervision.ticket.assignee_id)
    kind_label = SUPERVISION_KINDS.get(supervision.kind, supervision.kind)
    return people, f"收到{kind_label}：{supervision.ticket.number}（时限 {_fmt(supervision.due_at)}）"


# -- escalation: the beat task's work -------------------------------------------------------------------


def _leaders(session: Session, department_id: int) -> list[int]:
    return list(
        session.scalars(
            select(User.id).where(
                User.is_active, User.role == "supervisor", User.department_id == department_id
            )
        )
    )


def escalate_overdue(session: Session, *, now: datetime, media=None, limit: int = 500) -> int:
    """Escalate each open 督办 past its due time, once: claim it (`escalated_at`, a conditional UPDATE),
    tell the department's 科室负责人 (the office, if none) in-app and on their media, record the event.
    Returns how many were escalated."""
    candidates = list(
        session.scalars(
            select(Supervision)
            .where(
                Supervision.state == "open",
                Supervision.escalated_at.is_(None),
                Supervision.due_at.is_not(None),
                Supervision.due_at <= now,
            )
            .options(selectinload(Supervision.ticket), selectinload(Supervision.department))
            .order_by(Supervision.due_at, Supervision.id)
            .limit(limit)
        )
    )
    escalated = 0
    for supervision in candidates:
        claimed = session.execute(
            update(Supervision)
            .where(Supervision.id == supervision.id, Supervision.escalated_at.is_(None))
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not claimed:
            continue  # another worker escalated it
        session.refresh(supervision)
        ticket = supervision.ticket
        leaders = _leaders(session, supervision.department_id)
        to_office = not leaders
        if to_office:
            leaders = list(session.scalars(select(User.id).where(User.is_active, User.role == "admin")))
        kind_label = SUPERVISION_KINDS.get(supervision.kind, supervision.kind)
        ids = notify(
            session,
            leaders,
            kind="escalation",
            title=f"{kind_label}超期未反馈：{ticket.number}",
            body=f"{supervision.department.name}收到的{kind_label}（{_fmt(supervision.issued_at)}）"
            f"已于{_fmt(supervision.due_at)}到期，尚未反馈。",
            ticket_id=ticket.id,
            now=now,
            dedupe_key=f"supervision:{supervision.id}:escalated",
        )
        if media:
            plan_deliveries(session, ids, now=now, media=media)
        record_event(
            session,
            ticket,
            "supervision.escalated",
            actor="系统",
            now=now,
            data={
                "supervision_id": supervision.id,
                "department": supervision.department.code,
                "notified": len(ids),
                "to": "office" if to_office else "leaders",
            },
            publish=True,
        )
        escalated += 1
    session.flush()
    return escalated


def _fmt(moment: datetime | None) -> str:
    return local(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


# -- the register --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterFilter:
    department_id: int | None = None
    state: str | None = None  # open / answered / overdue / escalated
    since: datetime | None = None  # issued at or after
    until: datetime | None = None  # issued before

    def __post_init__(self) -> None:
        if self.state is not None and self.state not in STATE_LABELS:
            raise ValidationError("状态取值无效", fields={"state": "取值无效"})


def register(
    session: Session, view_reach: Reach, wanted: RegisterFilter, *, now: datetime, limit: int = 5000
) -> list[Supervision]:
    """The 督办 register: the supervisions of the tickets the caller may see, filtered, newest first."""
    query = (
        select(Supervision)
        .join(Ticket, Ticket.id == Supervision.ticket_id)
        .where(view_reach.condition())
        .options(selectinload(Supervision.ticket), selectinload(Supervision.department))
        .order_by(Supervision.issued_at.desc(), Supervision.id.desc())
        .limit(limit)
    )
    if wanted.department_id is not None:
        query = query.where(Supervision.department_id == wanted.department_id)
    if wanted.since is not None:
        query = query.where(Supervision.issued_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(Supervision.issued_at < wanted.until)
    if wanted.state == "answered":
        query = query.where(Supervision.state == "answered")
    elif wanted.state == "open":
        query = query.where(Supervision.state == "open")
    elif wanted.state == "overdue":
        query = query.where(Supervision.state == "open", Supervision.due_at <= now)
    elif wanted.state == "escalated":
        query = query.where(Supervision.escalated_at.is_not(None))
    return list(session.scalars(query))


def state_of(supervision: Supervision, now: datetime) -> str:
    if supervision.state == "answered":
        return "answered"
    if supervision.escalated_at is not None:
        return "escalated"
    if supervision.due_at is not None and supervision.due_at <= now:
        return "overdue"
    return "open"


REGISTER_HEADER = [
    "工单编号",
    "平台工单编号",
    "类型",
    "督办编号",
    "被督办单位",
    "督办方",
    "督办时间",
    "督办时限",
    "督办内容",
    "状态",
    "反馈时间",
    "反馈内容",
    "上报负责人时间",
]


def register_rows(rows: list[Supervision], *, now: datetime) -> list[list[object]]:
    """The register as cells (the XLSX writer escapes every text cell: tracker.cells.safe_row)."""
    return [
        [
            s.ticket.number,
            s.ticket.external_ref or "",
            SUPERVISION_KINDS.get(s.kind, s.kind),
            s.external_ref or "",
            s.department.name,
            s.issued_by_label,
            _fmt(s.issued_at),
            _fmt(s.due_at),
            s.text,
            STATE_LABELS[state_of(s, now)],
            _fmt(s.answered_at) if s.answered_at else "",
            s.answer or "",
            _fmt(s.escalated_at) if s.escalated_at else "",
        ]
        for s in rows
    ]


def departments_for_filter(session: Session, view_reach: Reach) -> list[Department]:
    query = select(Department).order_by(Department.id)
    if view_reach.department_id is not None:
        query = query.where(Department.id == view_reach.department_id)
    return list(session.scalars(query))
