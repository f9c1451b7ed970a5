"""12345 hotline work orders: the platform's push (JSON) and its export files (CSV/XLSX), and the
reply export back to the platform in its own column names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from tracker.clock import local
from tracker.intake.formats import write_csv, write_xlsx
from tracker.intake.records import (
    Column,
    FieldError,
    History,
    IntakeRecord,
    RecordError,
    check_order,
    iso_local,
    parse_columns,
)
from tracker.tickets.channels import HOTLINE_TYPES, SATISFACTION_LEVELS
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.status import STATUS_LABELS
from tracker.workorders.cohandling import co_unit_names, split_units
from tracker.workorders.models import REVISIT_RESULTS, SEND_BACK_REASONS, SendBack
from tracker.workorders.platform import PlatformNews
from tracker.workorders.revisits import (
    MAX_REF_CHARS,
    MAX_WORDS_CHARS,
    RevisitInput,
    latest_revisits,
    result_code,
)
from tracker.workorders.sendbacks import STATE_LABELS as SEND_BACK_STATE_LABELS
from tracker.workorders.supervision import supervision_counts

CHANNEL = "hotline"
REVISIT_LABELS = tuple(REVISIT_RESULTS.values())
_REVISIT_DETAILS = ("was_contacted", "revisit_opinion", "revisit_ref", "revisit_phone")

COLUMNS: tuple[Column, ...] = (
    Column("工单编号", "order_no", required=True, max_len=128),
    Column("受理时间", "accepted_at", "datetime", required=True),
    Column("诉求类型", "request_type", "choice", required=True, choices=HOTLINE_TYPES),
    Column("诉求内容", "content", required=True, max_len=20000),
    Column("标题", "title", max_len=500),
    Column("诉求人", "name", max_len=200),
    Column("联系电话", "phone", "phone"),
    Column("是否保密", "is_confidential", "bool"),
    Column("诉求分类", "category", max_len=200),
    Column("事发地址", "address", max_len=500),
    Column("紧急程度", "urgency", max_len=32),
    Column("派单时间", "dispatched_at", "datetime"),
    Column("签收时限", "sign_due_at", "datetime"),
    Column("办结时限", "reply_due_at", "datetime"),
    Column("办结时间", "closed_at", "datetime"),
    Column("答复内容", "reply", max_len=20000),
    Column("回访时间", "visited_at", "datetime"),
    Column("满意度", "satisfaction", "choice", choices=SATISFACTION_LEVELS),
    Column("是否解决", "is_resolved", "bool"),
    Column("渠道", "source", max_len=64, aliases=("来源渠道",)),
    # The platform's 回访 (issue 19 item 10), recorded through the 回访 door (tracker/workorders/revisits.py).
    Column("回访结果", "revisit_result", "choice", choices=REVISIT_LABELS),
    Column("是否联系", "was_contacted", "bool"),
    Column("回访意见", "revisit_opinion", max_len=MAX_WORDS_CHARS),
    Column("回访编号", "revisit_ref", max_len=MAX_REF_CHARS),
    Column("回访电话", "revisit_phone", "phone"),
    # 协办 and 督办 (issue 19; tracker.workorders.platform): units by code or name, separated by 、or commas.
    Column("协办单位", "co_units", max_len=2000),
    Column("协办时限", "co_due_at", "datetime"),
    Column("督办编号", "supervision_ref", max_len=128),
    Column("督办时间", "supervised_at", "datetime"),
    Column("督办内容", "supervision_text", max_len=5000),
    Column("督办时限", "supervision_due_at", "datetime"),
)
SUPERVISION_KEYS = ("supervision_ref", "supervised_at", "supervision_text", "supervision_due_at")
REQUIRED_HEADERS = tuple(c.header for c in COLUMNS if c.required)
# The name each field's errors carry: the file's column header, or the API's key.
_HEADER_NAMES = {c.key: c.header for c in COLUMNS}
_KEY_NAMES = {c.key: c.key for c in COLUMNS}


def record_from_row(
    row: dict[str, Any], *, number: int | None = None, department_code: str | None = None, by: str = "header"
) -> IntakeRecord:
    """Build the record of one file row (by header) or one pushed work order (by English key)."""
    row = _units_as_text(row, by)
    values, errors = parse_columns(COLUMNS, row, row=number, by=by)
    names = _HEADER_NAMES if by == "header" else _KEY_NAMES
    accepted = values["accepted_at"]
    for key in ("dispatched_at", "closed_at", "visited_at"):
        check_order(errors, accepted, values[key], names[key], earlier_label="受理时间", row=number)
    check_order(
        errors,
        values["closed_at"],
        values["visited_at"],
        names["visited_at"],
        earlier_label="办结时间",
        row=number,
    )
    if values["reply"] and not values["closed_at"]:
        errors.append(FieldError(names["closed_at"], "有答复内容时须填写办结时间", None, number))
    if values["closed_at"] and not values["reply"]:
        errors.append(FieldError(names["reply"], "已办结的工单须有答复内容", None, number))
    if values["satisfaction"] and not values["reply"]:
        errors.append(FieldError(names["satisfaction"], "未答复的工单不能有满意度", None, number))
    revisit = _revisit(values, names, errors, number)
    if any(values[k] for k in SUPERVISION_KEYS):
        for key in ("supervision_ref", "supervision_text"):
            if not values[key]:
                errors.append(FieldError(names[key], "有督办信息时须填写督办编号和督办内容", None, number))
    if errors:
        raise RecordError(errors)
    extra = {k: iso_local(values[k]) for k in ("dispatched_at", "sign_due_at", "reply_due_at") if values[k]}
    if values["source"]:
        extra["source"] = values["source"]
    draft = TicketDraft(
        channel=CHANNEL,
        request_type=values["request_type"],
        subject=values["title"] or "",
        body=values["content"],
        arrived_at=accepted,
        received_at=accepted,
        external_ref=values["order_no"],
        department_code=department_code,
        category=values["category"],
        urgency=values["urgency"],
        incident_address=values["address"],
        received_via="平台",
        contact=ContactDraft(
            name=values["name"], phone=values["phone"], is_confidential=bool(values["is_confidential"])
        ),
        extra=extra,
    )
    history = History(
        reply_text=values["reply"],
        replied_at=values["closed_at"],
        closed_at=values["closed_at"],
        # A row with a 回访结果 is rated by its 回访 (the door sets the satisfaction), not a second time here.
        satisfaction=None if revisit else values["satisfaction"],
        is_resolved=values["is_resolved"],
        rated_at=values["visited_at"],
        revisit=revisit,
    )
    news = PlatformNews(
        co_units=split_units(values["co_units"]),
        co_due_at=values["co_due_at"],
        supervision_ref=values["supervision_ref"],
        supervised_at=values["supervised_at"],
        supervision_text=values["supervision_text"],
        supervision_due_at=values["supervision_due_at"],
    )
    return IntakeRecord(draft, history, number, news if news else None)


def _units_as_text(row: dict[str, Any], by: str) -> dict[str, Any]:
    """The push may send 协办单位 as a JSON list of codes or names: read as the file's text cell."""
    name = "co_units" if by != "header" else "协办单位"
    units = row.get(name)
    if isinstance(units, list) and all(isinstance(u, str) for u in units):
        return {**row, name: ",".join(units)}
    return row


def _revisit(
    values: dict[str, Any], names: dict[str, str], errors: list[FieldError], number: int | None
) -> RevisitInput | None:
    """The row's 回访, checked with the row (each error names its column), or None when it has none."""
    result = values["revisit_result"]
    if result is None:
        for key in _REVISIT_DETAILS:
            if values[key] is not None:
                errors.append(FieldError(names[key], "须同时填写回访结果", None, number))
        return None
    if not values["reply"]:
        errors.append(FieldError(names["revisit_result"], "未答复的工单不能有回访结果", None, number))
    if values["visited_at"] is None:
        errors.append(FieldError(names["visited_at"], "有回访结果时须填写回访时间", None, number))
        return None
    if values["satisfaction"] and values["satisfaction"] != result:
        errors.append(FieldError(names["satisfaction"], f"与回访结果「{result}」不一致", None, number))
    # Without the platform's 回访编号 the 回访 time stands in: a file imported again records it once.
    ref = values["revisit_ref"] or f"auto:{values['visited_at'].isoformat()}"
    return RevisitInput(
        visited_at=values["visited_at"],
        result=result_code(result),
        is_resolved=values["is_resolved"],
        was_contacted=values["was_contacted"],
        citizen_words=values["revisit_opinion"] or "",
        phone=values["revisit_phone"] or values["phone"],
        external_ref=ref,
    )


def record_from_json(payload: dict[str, Any], *, department_code: str | None = None) -> IntakeRecord:
    """A pushed work order: English keys (see docs/api.md); the Chinese column names are accepted too."""
    if any(c.header in payload for c in COLUMNS):
        return record_from_row(payload, department_code=department_code, by="header")
    return record_from_row(payload, department_code=department_code, by="key")


# --- back to the platform ------------------------------------------------------------------------

EXPORT_HEADER = [
    "工单编号",
    "派单时间",
    "签收时间",
    "办理过程",
    "答复内容",
    "办结时间",
    "延期申请理由",
    "延期新时限",
    "退单申请",
    "退单结果",
    "办理状态",
    # The latest 回访 (tracker/workorders/revisits.py); the phone is not exported.
    "回访时间",
    "回访结果",
    "是否解决",
    "是否联系",
    "回访意见",
    "回访编号",
    "协办单位",
    "督办次数",
]


def reply_rows(
    session: Session, *, since: datetime, until: datetime, department_id: int | None = None
) -> list[list[Any]]:
    """The department's 签收, replies, extensions, 退单 and 办结 of work orders received in a period, one row
    each. The public reply only: the internal 办理情况 (handling_records) is never read here."""
    query = (
        select(Ticket)
        .where(Ticket.channel == CHANNEL, Ticket.received_at >= since, Ticket.received_at < until)
        .options(selectinload(Ticket.deadlines))
        .order_by(Ticket.received_at, Ticket.id)
    )
    if department_id is not None:
        query = query.where(Ticket.department_id == department_id)
    tickets = list(session.scalars(query))
    events: dict[int, list[TicketEvent]] = {}
    if tickets:
        for event in session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id.in_([t.id for t in tickets]))
            .order_by(TicketEvent.occurred_at, TicketEvent.id)
        ):
            events.setdefault(event.ticket_id, []).append(event)
    revisits = latest_revisits(session, [t.id for t in tickets])
    ids = [t.id for t in tickets]
    co_units, supervised = co_unit_names(session, ids), supervision_counts(session, ids)
    # The latest 退单 request of each order (its id order is its time order).
    send_backs: dict[int, SendBack] = {}
    if tickets:
        for send_back in session.scalars(
            select(SendBack).where(SendBack.ticket_id.in_([t.id for t in tickets])).order_by(SendBack.id)
        ):
            send_backs[send_back.ticket_id] = send_back
    rows = []
    for ticket in tickets:
        history = events.get(ticket.id, [])
        signed = next(
            (e.occurred_at for e in history if (e.data or {}).get("action") in ("assign", "start")), None
        )
        steps = [
            f"{_fmt(e.occurred_at)} {(e.data or {}).get('action') or e.kind}"
            for e in history
            if e.kind == "ticket.status_changed"
        ]
        extension = _last_extension(ticket)
        dispatched = (ticket.extra or {}).get("dispatched_at")
        send_back = send_backs.get(ticket.id)
        rows.append(
            [
                ticket.external_ref or ticket.number,
                _fmt(datetime.fromisoformat(dispatched)) if dispatched else "",
                _fmt(signed),
                "；".join(steps),
                ticket.reply_text or "",
                _fmt(ticket.closed_at or ticket.replied_at),
                extension.get("reason", ""),
                extension.get("due_at", ""),
                _send_back_request(send_back),
                _send_back_result(send_back),
                STATUS_LABELS.get(ticket.status, ticket.status),
                *_revisit_cells(revisits.get(ticket.id)),
                "、".join(co_units.get(ticket.id, [])),
                supervised.get(ticket.id, 0),
            ]
        )
    return rows


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("是" if value else "否")


def _revisit_cells(revisit: Any) -> list[str]:
    if revisit is None:
        return [""] * 6
    return [
        _fmt(revisit.visited_at),
        REVISIT_RESULTS.get(revisit.result, revisit.result),
        _yes_no(revisit.is_resolved),
        _yes_no(revisit.was_contacted),
        revisit.citizen_words or "",
        revisit.external_ref or "",
    ]


def _send_back_request(send_back: SendBack | None) -> str:
    if send_back is None:
        return ""
    label = SEND_BACK_REASONS.get(send_back.reason_code, send_back.reason_code)
    return f"{_fmt(send_back.requested_at)} {label}：{send_back.reason_text}"


def _send_back_result(send_back: SendBack | None) -> str:
    if send_back is None:
        return ""
    state = SEND_BACK_STATE_LABELS.get(send_back.state, send_back.state)
    if send_back.decided_at is None:
        return state
    note = f"：{send_back.decision_note}" if send_back.decision_note else ""
    return f"{state}（{_fmt(send_back.decided_at)}）{note}"


def _last_extension(ticket: Ticket) -> dict[str, str]:
    for deadline in ticket.deadlines:
        if deadline.extensions:
            ext = deadline.extensions[-1]
            due = deadline.due_at
            return {"reason": str(ext.get("reason", "")), "due_at": _fmt(due)}
    return {}


def _fmt(moment: datetime | None) -> str:
    return local(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def export_replies(
    session: Session, *, since: datetime, until: datetime, fmt: str = "csv", department_id: int | None = None
) -> bytes:
    rows = reply_rows(session, since=since, until=until, department_id=department_id)
    if fmt == "xlsx":
        return write_xlsx(rows, EXPORT_HEADER, "工单办理结果")
    return write_csv(rows, EXPORT_HEADER)


def callback_payload(ticket: Ticket, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the callback URL receives for each step (platform field names; tracker.intake.callbacks lists
    the kinds). Only what the platform may publish: the public reply, never the internal 办理情况."""
    payload: dict[str, Any] = {"工单编号": ticket.external_ref or ticket.number, "类型": kind}
    if kind == "reply":
        payload.update({"答复内容": ticket.reply_text or "", "答复时间": _fmt(ticket.replied_at)})
    elif kind == "close":
        payload.update({"办结时间": _fmt(ticket.closed_at), "答复内容": ticket.reply_text or ""})
    elif kind == "extension":
        payload.update({"延期理由": data.get("reason", ""), "新时限": data.get("due_at", "")})
    elif kind == "sign":
        payload.update({"签收时间": data.get("signed_at", "")})
    elif kind == "sendback":
        payload.update(
            {
                "退单申请编号": data.get("send_back_id"),
                "退单原因代码": data.get("reason_code", ""),
                "退单原因": data.get("reason_label", ""),
                "退单说明": data.get("reason_text", ""),
                "建议承办单位": data.get("suggested_unit", ""),
                "申请时间": data.get("at", ""),
            }
        )
    elif kind == "sendback_withdrawn":
        payload.update({"退单申请编号": data.get("send_back_id"), "撤回时间": data.get("at", "")})
    elif kind == "revisit_ack":
        payload.update({"回访时间": data.get("visited_at", ""), "回访结果": data.get("result", "")})
    return payload
