"""The staff's own desk: saved queue filters and canned replies (no ticket changes, so no door: what a
user saves is theirs, and canned replies are kept per department by its supervisors and the office)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import NotFound, ValidationError
from tracker.people.models import User
from tracker.reports.rows import OUTCOMES_BY_CODE
from tracker.tickets.models import Ticket
from tracker.workflow.models import CannedReply, SavedFilter

MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
ATTACHMENT_EXTENSIONS = frozenset(
    {"pdf", "ofd", "doc", "docx", "xls", "xlsx", "wps", "txt", "jpg", "jpeg", "png", "zip", "rar"}
)
BULK_ACTIONS = {"assign": "批量分派", "transfer": "批量转办", "close": "批量办结"}
MAX_BULK = 200


def save_filter(
    session: Session, user: User, name: str, queue: str, params: dict[str, str], *, now: datetime
) -> SavedFilter:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("筛选名称须为1–100个字", fields={"name": "长度不符"})
    row = SavedFilter(user_id=user.id, name=name, queue=queue, params=params, created_at=now)
    session.add(row)
    session.flush()
    return row


def saved_filters(session: Session, user: User) -> list[SavedFilter]:
    return list(
        session.scalars(select(SavedFilter).where(SavedFilter.user_id == user.id).order_by(SavedFilter.name))
    )


def delete_saved_filter(session: Session, user: User, filter_id: int) -> None:
    row = session.get(SavedFilter, filter_id)
    if row is None or row.user_id != user.id:
        raise NotFound("筛选不存在")
    session.delete(row)
    session.flush()


def canned_replies_for(session: Session, ticket: Ticket) -> list[CannedReply]:
    rows = session.scalars(select(CannedReply).where(CannedReply.is_active).order_by(CannedReply.title))
    return [
        r
        for r in rows
        if r.channel in (None, ticket.channel) and r.request_type in (None, ticket.request_type)
    ]


def create_canned_reply(
    session: Session,
    *,
    title: str,
    body: str,
    now: datetime,
    channel: str | None = None,
    request_type: str | None = None,
    outcome: str | None = None,
) -> CannedReply:
    errors = {}
    if not title.strip():
        errors["title"] = "标题必填"
    if not body.strip():
        errors["body"] = "内容必填"
    if outcome and outcome not in OUTCOMES_BY_CODE:
        errors["outcome"] = "答复结果无效"
    if errors:
        raise ValidationError("；".join(errors.values()), fields=errors)
    row = CannedReply(
        title=title.strip(),
        body=body,
        channel=channel or None,
        request_type=request_type or None,
        outcome=outcome or None,
        is_active=True,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


DEFAULT_CANNED_REPLIES = (
    (
        "disclosure",
        None,
        "予以公开",
        "经查，您申请公开的政府信息属于公开范围，现予以提供，详见附件。",
        "public",
    ),
    (
        "disclosure",
        None,
        "本机关不掌握",
        "经检索，本机关未制作或获取您所申请的政府信息。根据《中华人民共和国政府信息公开条例》第三十六条第（四）项，告知如上。",
        "unable_not_held",
    ),
    ("hotline", "咨询", "政策咨询答复", "您好，关于您咨询的问题，答复如下：", None),
    ("website", None, "留言已办理", "您好，您的留言已收悉，现答复如下：", None),
)


def ensure_default_canned_replies(session: Session, *, now: datetime) -> int:
    """Add the starter canned replies once (idempotent)."""
    if session.scalar(select(CannedReply.id).limit(1)) is not None:
        return 0
    for chan, rtype, title, body, outcome in DEFAULT_CANNED_REPLIES:
        create_canned_reply(
            session, title=title, body=body, now=now, channel=chan, request_type=rtype, outcome=outcome
        )
    return len(DEFAULT_CANNED_REPLIES)
