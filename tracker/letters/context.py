"""What a letter says about its ticket: which kinds fit the ticket's state (`check_fit`, the one rule the CLI,
the pages and the doors ask), the inputs a kind takes besides the ticket (`clean_params`), and the template's
variables (`build_context`) — dates, deadlines and outcome read from the ticket and the deadline engine,
never typed in again. docs/letters.md lists the variables.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ
from tracker.deadlines import engine as deadlines_engine
from tracker.deadlines import policies as dl
from tracker.deadlines import service as deadline_service
from tracker.errors import CalendarYearMissing, Conflict, ValidationError
from tracker.inputs import parse_date, parse_int, text_error
from tracker.letters.kinds import (
    FEE_BY_ITEM,
    FEE_BY_PAGE,
    FEE_METHODS,
    KINDS,
    MAX_FEE_PAGES,
    NOT_DISCLOSURE_OUTCOMES,
    OUTCOME_PARAGRAPHS,
    REGULATION,
    chinese_date,
    fee_detail,
    reply_basis,
)
from tracker.people.models import Department
from tracker.pii.cipher import blinds
from tracker.reports.rows import OUTCOMES_BY_CODE
from tracker.tickets.models import Contact, Ticket
from tracker.tickets.status import OPEN_STATUSES, STATUS_LABELS, TRANSITIONS

MAX_TEXT_CHARS = 5000  # one free-text input of a letter (补正 items, reply text)
MAX_PARAGRAPHS = 50
MAX_NAME_CHARS = 200
PAYMENT_DAYS = 20  # 国办函〔2020〕109号 第九条: 20 working days from the day after the notice is received

# XML 1.0 allows no C0 control character but tab, LF, CR; docxtpl turns \t \a \f \n inside a value into
# tabs, paragraphs, page breaks and line breaks. A citizen's text is printed as text: controls become spaces.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def _plain(text: str | None) -> str:
    return _CONTROL.sub(" ", (text or "").replace("\r", " ").replace("\n", " ").replace("\t", " ")).strip()


def _paragraphs(text: str | None) -> list[str]:
    lines = [_plain(line) for line in re.split(r"\r\n|\r|\n", text or "")]
    return [line for line in lines if line][:MAX_PARAGRAPHS]


def _day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(BUSINESS_TZ).date()


def _last_day(due_at: datetime | None) -> date | None:
    """The last day of a period that ends at `due_at` (24:00 of the last day is 00:00 of the next)."""
    return None if due_at is None else (due_at.astimezone(BUSINESS_TZ) - timedelta(microseconds=1)).date()


def _deadline(ticket: Ticket, kind: str) -> Any:
    return next((d for d in ticket.deadlines if d.kind == kind), None)


# -- which letters fit the ticket ------------------------------------------------------------------------------


def check_fit(ticket: Ticket, kind: str, *, outcome: str | None = None) -> None:
    """Refuse, with the reason, a letter the ticket's state does not call for. The one rule: the CLI, the
    ticket page and the issue/serve doors all ask it."""
    if kind not in KINDS:
        raise ValidationError(
            f"未知的文书类型 {kind!r}（可选：{'、'.join(KINDS)}）", fields={"kind": "取值无效"}
        )
    title = KINDS[kind].title
    status = STATUS_LABELS.get(ticket.status, ticket.status)
    if ticket.channel != "disclosure":
        raise Conflict(f"{title}只适用于政府信息公开申请，工单{ticket.number}不是依申请公开")
    if ticket.status in ("merged", "withdrawn"):
        raise Conflict(f"工单{ticket.number}当前状态为「{status}」，不能出具{title}")
    if kind == "receipt":
        return
    if kind == "correction":
        if _deadline(ticket, dl.CORRECTION) is not None:
            raise Conflict(
                f"工单{ticket.number}已告知过补正（条例第三十条：补正只能告知一次），不能再出具{title}"
            )
        if ticket.status not in TRANSITIONS["request_correction"].sources:
            raise Conflict(f"工单{ticket.number}当前状态为「{status}」，不能告知补正")
        return
    if kind == "extension":
        reply = _deadline(ticket, dl.REPLY)
        if reply is None or not reply.extensions:
            raise Conflict(
                f"工单{ticket.number}的答复期限未经批准延长，不能出具{title}（请先在工单页申请延期并经批准）"
            )
        if ticket.status not in OPEN_STATUSES:
            raise Conflict(f"工单{ticket.number}当前状态为「{status}」，已不需要延期告知")
        return
    if kind == "consultation":
        third = _deadline(ticket, dl.THIRD_PARTY)
        if third is None or third.state not in dl.OPEN_STATES:
            raise Conflict(
                f"工单{ticket.number}没有正在进行的第三方征求意见（请先在工单页开始征求意见），不能出具{title}"
            )
        return
    if kind == "fee":
        if _deadline(ticket, dl.FEE_PAYMENT) is not None:
            raise Conflict(f"工单{ticket.number}已发出过收费通知，不能再出具{title}")
        if ticket.status not in TRANSITIONS["request_fee"].sources:
            raise Conflict(f"工单{ticket.number}当前状态为「{status}」，不能发出收费通知")
        return
    # reply, not_disclosure: the reply door sends it (still to answer), or it is the reply already sent.
    allowed = NOT_DISCLOSURE_OUTCOMES if kind == "not_disclosure" else tuple(OUTCOMES_BY_CODE)
    if ticket.status in ("replied", "closed"):
        if not ticket.outcome:
            raise Conflict(f"工单{ticket.number}已答复但没有答复结果，不能出具{title}")
        if outcome and outcome != ticket.outcome:
            raise Conflict(
                f"答复结果已随答复确定为「{OUTCOMES_BY_CODE[ticket.outcome].short}」，文书不能另写"
            )
        if ticket.outcome not in allowed:
            raise Conflict(
                f"工单{ticket.number}的答复结果「{OUTCOMES_BY_CODE[ticket.outcome].short}」应出具答复书"
            )
        return
    if ticket.status not in TRANSITIONS["reply"].sources:
        raise Conflict(f"工单{ticket.number}当前状态为「{status}」，不能答复")
    if not outcome:
        raise ValidationError(f"{title}须选择答复结果（年度报告的统计行）", fields={"outcome": "必填"})
    if outcome not in allowed:
        raise ValidationError(f"答复结果「{outcome}」不适用于{title}", fields={"outcome": "取值无效"})


def fitting_kinds(ticket: Ticket) -> list[str]:
    """The kinds the ticket page offers (a reply kind fits with some outcome)."""
    fitting = []
    for kind in KINDS:
        probe = (
            None
            if ticket.status in ("replied", "closed")
            else {"reply": "public", "not_disclosure": "np_petition"}.get(kind)
        )
        try:
            check_fit(ticket, kind, outcome=probe)
        except (Conflict, ValidationError):
            continue
        fitting.append(kind)
    return fitting


# -- the inputs besides the ticket ----------------------------------------------------------------------------


def _text(raw: Any, field: str, *, limit: int = MAX_TEXT_CHARS, required: str | None = None) -> str:
    text = "" if raw is None else str(raw)
    if len(text) > limit:
        raise ValidationError(f"{field}超过{limit}字", fields={field: "过长"})
    error = text_error(text)
    if error:
        raise ValidationError(f"{field}{error}", fields={field: error})
    if required and not text.strip():
        raise ValidationError(required, fields={field: "必填"})
    return text


def clean_params(ticket: Ticket, kind: str, raw: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """The inputs a kind takes (from a form, the CLI or a test), checked and bounded; JSON-ready."""
    params: dict[str, Any] = {}
    if kind in ("reply", "not_disclosure"):
        outcome = (raw.get("outcome") or "").strip() or ticket.outcome
        if kind == "not_disclosure" and not outcome:
            outcome = NOT_DISCLOSURE_OUTCOMES[0]
        params["outcome"] = outcome
        params["reply_text"] = _text(raw.get("reply_text"), "reply_text")
    elif kind == "correction":
        params["notice"] = _text(raw.get("notice"), "notice", required="补正告知须写明需要补正的内容")
        today = now.astimezone(BUSINESS_TZ).date()
        due = parse_date(raw.get("correction_due_on"), "correction_due_on", low=today + timedelta(days=1))
        params["correction_due_on"] = due.isoformat() if due else None
    elif kind == "consultation":
        params["third_party"] = _text(
            raw.get("third_party"), "third_party", limit=MAX_NAME_CHARS, required="征求意见书须写明第三方名称"
        )
        params["matter"] = _text(raw.get("matter"), "matter")
    elif kind == "fee":
        method = (raw.get("fee_method") or FEE_BY_ITEM).strip()
        if method not in FEE_METHODS:
            raise ValidationError(
                "计费方式应为 item（按件）或 page（按量）", fields={"fee_method": "取值无效"}
            )
        params["fee_method"] = method
        if method == FEE_BY_PAGE:
            pages = parse_int(raw.get("pages"), "pages", low=0, high=MAX_FEE_PAGES)
            if pages is None:
                raise ValidationError("按量计收须填写页数", fields={"pages": "必填"})
            params["pages"] = pages
    return params


def applications_this_month(session: Session, ticket: Ticket) -> int:
    """Which application of its applicant this is in the natural month of its receipt (国办函〔2020〕109号:
    同一申请人一个自然月内累计申请件数). The applicant is known by ID number, else phone, else name."""
    contact = ticket.contact
    local = ticket.received_at.astimezone(BUSINESS_TZ)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    same: Any = None
    if contact is not None:
        # ID number and phone are stored encrypted: matched through their blind indexes (tracker.pii).
        if contact.id_number:
            same = Contact.id_number_bidx.in_(blinds("id_number", contact.id_number))
        elif contact.phone:
            same = Contact.phone_bidx.in_(blinds("phone", contact.phone))
        elif contact.name:
            same = Contact.name == contact.name
    if same is None:
        return 1
    count = session.scalar(
        select(func.count(Ticket.id))
        .join(Contact, Ticket.contact_id == Contact.id)
        .where(
            Ticket.channel == "disclosure",
            same,
            Ticket.received_at >= start,
            Ticket.received_at < end,
            (Ticket.received_at < ticket.received_at)
            | ((Ticket.received_at == ticket.received_at) & (Ticket.id <= ticket.id)),
        )
    )
    return max(int(count or 0), 1)


# -- the template's variables ---------------------------------------------------------------------------------


def correction_last_day(
    session: Session, ticket: Ticket, params: dict[str, Any], *, now: datetime
) -> date | None:
    """The last day to correct, as the notice prints it: the office's date, else the policy's period from now."""
    if params.get("correction_due_on"):
        return date.fromisoformat(params["correction_due_on"])
    return _last_day(deadline_service.preview_due(session, ticket, dl.CORRECTION, starts_at=now))


def _due_before_last_extension(session: Session, deadline: Any) -> date | None:
    """The reply deadline's last day without its latest extension: the engine's arithmetic, not a subtraction
    of days by hand (holidays and pauses move it)."""
    if deadline is None or not deadline.extensions:
        return None
    policy = dl.find_policy(dl.policies_for(session), deadline.policy_code, deadline.policy_version)
    inputs = deadline_service.deadline_input(deadline, policy)
    try:
        result = deadlines_engine.compute_due(
            replace(inputs, extensions=inputs.extensions[:-1]),
            load_calendar(session),
            end_of_day=deadlines_engine.default_end_of_day(),
        )
    except CalendarYearMissing:
        return None
    return _last_day(result.due_at)


def _agency(department: Department) -> str:
    node = department
    seen = 0
    while node.parent is not None and seen < 20:
        node, seen = node.parent, seen + 1
    return node.name


def build_context(
    session: Session,
    ticket: Ticket,
    kind: str,
    params: dict[str, Any],
    *,
    now: datetime,
    doc_number: str,
) -> dict[str, Any]:
    """Every variable a template may use: plain strings, numbers and lists of strings (nothing else reaches
    the sandbox). Citizen text is passed as given — the renderer escapes it."""
    letter = KINDS[kind]
    reply_deadline = _deadline(ticket, dl.REPLY)
    contact = ticket.contact
    ctx: dict[str, Any] = {
        "kind": kind,
        "title": letter.title,
        "title_short": "答复" if kind == "reply" else "告知",
        "doc_number": doc_number,
        "agency": _plain(_agency(ticket.department)),
        "department": _plain(ticket.department.name),
        "date_cn": chinese_date(now.astimezone(BUSINESS_TZ).date()),
        "ticket_number": ticket.number,
        "query_code": ticket.query_code or "（无）",
        "applicant_name": _plain(contact.name if contact and contact.name else "申请人"),
        "subject": _plain(ticket.subject),
        "received_via": _plain(ticket.received_via or "其他"),
        "arrived_date_cn": chinese_date(_day(ticket.arrived_at)),
        "received_date_cn": chinese_date(_day(ticket.received_at)),
        "reply_due_date_cn": chinese_date(_last_day(reply_deadline.due_at if reply_deadline else None)),
        "legal_basis": letter.basis,
        "regulation": REGULATION,
    }
    if kind == "correction":
        ctx["correction_due_date_cn"] = chinese_date(correction_last_day(session, ticket, params, now=now))
        ctx["correction_items"] = _paragraphs(params.get("notice"))
    elif kind == "extension":
        extensions = reply_deadline.extensions if reply_deadline else []
        last_ext = extensions[-1] if extensions else {}
        ctx["extension_days"] = int(last_ext.get("length", 0))
        ctx["extension_reason"] = _plain(last_ext.get("reason")) or "情况复杂"
        ctx["original_due_date_cn"] = chinese_date(_due_before_last_extension(session, reply_deadline))
    elif kind == "consultation":
        third = _deadline(ticket, dl.THIRD_PARTY)
        ctx["third_party_name"] = _plain(params.get("third_party"))
        ctx["consultation_due_date_cn"] = chinese_date(_last_day(third.due_at if third else None))
        ctx["consultation_items"] = _paragraphs(params.get("matter"))
    elif kind in ("reply", "not_disclosure"):
        outcome = params.get("outcome") or ticket.outcome or "other"
        paragraph, _articles = OUTCOME_PARAGRAPHS[outcome]
        ctx["outcome_code"] = outcome
        ctx["outcome_label"] = OUTCOMES_BY_CODE[outcome].label
        ctx["outcome_short"] = OUTCOMES_BY_CODE[outcome].short
        ctx["outcome_paragraph"] = paragraph
        ctx["legal_basis"] = reply_basis(outcome)
        text = params.get("reply_text") or (
            "" if ticket.status not in ("replied", "closed") else ticket.reply_text
        )
        ctx["reply_paragraphs"] = _paragraphs(text)
    elif kind == "fee":
        method = params.get("fee_method", FEE_BY_ITEM)
        if method == FEE_BY_ITEM:
            amount, detail = fee_detail(method, nth_this_month=applications_this_month(session, ticket))
        else:
            amount, detail = fee_detail(method, pages=int(params.get("pages", 0)))
        ctx["fee_method"] = FEE_METHODS[method]
        ctx["fee_amount"] = amount
        ctx["fee_detail"] = detail
        ctx["payment_days"] = PAYMENT_DAYS
    return ctx


def sample_context(kind: str) -> dict[str, Any]:
    """A complete context of made-up values: an uploaded template must render with it before it is kept."""
    ctx: dict[str, Any] = {
        "kind": kind,
        "title": KINDS[kind].title,
        "title_short": "答复" if kind == "reply" else "告知",
        "doc_number": "政信〔2026〕1号",
        "agency": "示例市示例局",
        "department": "办公室",
        "date_cn": chinese_date(date(2026, 12, 7)),
        "ticket_number": "YSQ2026000001",
        "query_code": "ABCD1234",
        "applicant_name": "示例申请人",
        "subject": "示例政府信息",
        "received_via": "网络",
        "arrived_date_cn": chinese_date(date(2026, 12, 1)),
        "received_date_cn": chinese_date(date(2026, 12, 1)),
        "reply_due_date_cn": chinese_date(date(2026, 12, 29)),
        "legal_basis": KINDS[kind].basis or reply_basis("public"),
        "regulation": REGULATION,
        "correction_due_date_cn": chinese_date(date(2026, 12, 28)),
        "correction_items": ["示例补正事项"],
        "extension_days": 20,
        "extension_reason": "示例理由",
        "original_due_date_cn": chinese_date(date(2026, 12, 29)),
        "third_party_name": "示例第三方",
        "consultation_due_date_cn": chinese_date(date(2026, 12, 28)),
        "consultation_items": ["示例事项"],
        "outcome_code": "public",
        "outcome_label": OUTCOMES_BY_CODE["public"].label,
        "outcome_short": OUTCOMES_BY_CODE["public"].short,
        "outcome_paragraph": OUTCOME_PARAGRAPHS["public"][0],
        "reply_paragraphs": ["示例答复内容"],
        "fee_method": FEE_METHODS[FEE_BY_ITEM],
        "fee_amount": 100,
        "fee_detail": "按件计收：本申请为申请人本自然月内第11件申请",
        "payment_days": PAYMENT_DAYS,
    }
    return ctx


VARIABLES = tuple(sample_context("reply"))
