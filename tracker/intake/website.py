"""网站留言 / 领导信箱: the portal form and the export files of the old message board."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracker.intake.records import (
    Column,
    FieldError,
    History,
    IntakeRecord,
    RecordError,
    check_order,
    parse_columns,
)
from tracker.tickets.channels import MESSAGE_TYPES, SATISFACTION_LEVELS
from tracker.tickets.drafts import ContactDraft, TicketDraft

CHANNEL = "website"

COLUMNS: tuple[Column, ...] = (
    Column("留言编号", "message_no", required=True, max_len=128),
    Column("留言时间", "posted_at", "datetime", required=True),
    Column("留言类型", "request_type", "choice", choices=MESSAGE_TYPES),
    Column("标题", "title", max_len=500),
    Column("内容", "content", required=True, max_len=20000),
    Column("留言人", "name", max_len=200),
    Column("联系电话", "phone", "phone"),
    Column("电子邮箱", "email", "email"),
    Column("回复时间", "replied_at", "datetime"),
    Column("回复内容", "reply", max_len=20000),
    Column("满意度", "satisfaction", "choice", choices=SATISFACTION_LEVELS),
    Column("是否公开", "is_publishable", "bool"),
)
REQUIRED_HEADERS = tuple(c.header for c in COLUMNS if c.required)


def record_from_row(
    row: dict[str, Any], *, number: int | None = None, department_code: str | None = None, by: str = "header"
) -> IntakeRecord:
    values, errors = parse_columns(COLUMNS, row, row=number, by=by)
    names = {c.key: (c.header if by == "header" else c.key) for c in COLUMNS}
    check_order(
        errors,
        values["posted_at"],
        values["replied_at"],
        names["replied_at"],
        earlier_label="留言时间",
        row=number,
    )
    if values["reply"] and not values["replied_at"]:
        errors.append(FieldError(names["replied_at"], "有回复内容时须填写回复时间", None, number))
    if values["replied_at"] and not values["reply"]:
        errors.append(FieldError(names["reply"], "有回复时间时须填写回复内容", None, number))
    if values["satisfaction"] and not values["reply"]:
        errors.append(FieldError(names["satisfaction"], "未回复的留言不能有满意度", None, number))
    if errors:
        raise RecordError(errors)
    draft = TicketDraft(
        channel=CHANNEL,
        request_type=values["request_type"] or "其他",
        subject=values["title"] or "",
        body=values["content"],
        arrived_at=values["posted_at"],
        received_at=values["posted_at"],
        external_ref=values["message_no"],
        department_code=department_code,
        received_via="网络",
        is_publishable=bool(values["is_publishable"]),
        contact=ContactDraft(name=values["name"], phone=values["phone"], email=values["email"]),
        with_query_code=True,
    )
    history = History(
        reply_text=values["reply"],
        replied_at=values["replied_at"],
        # A rated message has completed its loop: it is closed when rated.
        closed_at=values["replied_at"] if values["satisfaction"] else None,
        satisfaction=values["satisfaction"],
        rated_at=values["replied_at"],
    )
    return IntakeRecord(draft, history, number)


def record_from_portal(
    form: dict[str, Any], *, now: datetime, department_code: str | None = None
) -> IntakeRecord:
    """The portal form (type, title, content, name, phone, email, may it be published)."""
    errors: list[FieldError] = []
    request_type = (form.get("request_type") or "").strip()
    if request_type not in MESSAGE_TYPES:
        errors.append(FieldError("留言类型", f"应为 {'/'.join(MESSAGE_TYPES)} 之一"))
    row = {
        "留言编号": "portal",  # placeholder: portal messages get no external reference
        "留言时间": now,
        "留言类型": request_type if request_type in MESSAGE_TYPES else None,
        "标题": form.get("title"),
        "内容": form.get("content"),
        "留言人": form.get("name"),
        "联系电话": form.get("phone"),
        "电子邮箱": form.get("email"),
    }
    try:
        record = record_from_row(row, department_code=department_code)
    except RecordError as exc:
        errors.extend(exc.errors)
        raise RecordError(errors) from None
    if not (form.get("title") or "").strip():
        errors.append(FieldError("标题", "不能为空"))
    if not (form.get("phone") or form.get("email")):
        errors.append(FieldError("联系电话", "联系电话和电子邮箱至少填写一项"))
    if errors:
        raise RecordError(errors)
    record.draft.external_ref = None
    record.draft.is_publishable = form.get("is_publishable") in ("1", "on", "true", True)
    return record
