"""Telling the citizen: SMS and e-mail on receipt, a 补正 request, an extension, a reply, a 回访.

A citizen is no user: their number and address are on the ticket's `Contact`. The workers' outbox
consumers (workers/tasks/events.py) call `tell_citizen` after the ticket's change is committed; it renders
the office's template into a `CitizenMessage` per medium and plans a `Delivery` for it, in one
transaction with the consumer's `ProcessedMessage`. From there the one delivery machinery sends it
(lease, retries with backoff, `failed` after the maximum, the channel's health) — the same rows, sender
and admin page as staff notifications.

Only to citizens who gave a number or address and did not opt out (`Contact.notify_opt_out_at`, set by
the link in every message or by the office on the citizen's request), never to a confidential contact
(a whistle-blower: the office calls them itself). Exactly once: the message's key is UNIQUE and the
insert ignores a conflict, so a re-delivered event plans nothing twice.
"""

from __future__ import annotations

import hashlib
import hmac
import string
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clock import local
from tracker.errors import NotFound, PermissionDenied, ValidationError
from tracker.notify.models import CitizenMessage, Delivery, MessageTemplate, NotificationChannel
from tracker.people.access import Reach
from tracker.people.models import User
from tracker.pii.cipher import blinds
from tracker.security import normalise_phone
from tracker.sql.bulk import insert_rows
from tracker.tickets.models import Contact, Ticket

KINDS = {
    "receipt": "受理告知",
    "correction": "补正告知",
    "extension": "延期告知",
    "reply": "答复告知",
    "revisit": "回访评价邀请",
    "recovery": "查询码找回验证码",
    # Not to a citizen: the staff's own SMS reminders, when the gateway (Aliyun, Tencent) takes only
    # approved templates — the office saves that template's code here too.
    "staff": "工作人员短信提醒",
}
MEDIA = ("sms", "email")
# The variables a template may use; each kind's, in the order a gateway's positional template
# (Tencent TemplateParamSet) receives them.
PARAMS: dict[str, tuple[str, ...]] = {
    "receipt": ("number", "query_code"),
    "correction": ("number", "notice"),
    "extension": ("number", "due"),
    "reply": ("number", "query_code"),
    "revisit": ("number", "query_code"),
    "recovery": ("code",),
    "staff": ("title",),
}
VARIABLES = {
    "number": "工单编号",
    "query_code": "查询码",
    "subject": "标题",
    "notice": "补正内容",
    "due": "答复期限",
    "link": "查询网址",
    "code": "验证码",
    "optout": "退订网址",
    "title": "提醒标题",
}
SMS_LIMIT = 300  # characters; a gateway splits long texts into parts it bills one by one
PARAM_LIMIT = 35  # characters of one gateway template parameter (Aliyun and Tencent cap them)

DEFAULTS: dict[tuple[str, str], tuple[str, str]] = {
    ("receipt", "sms"): ("", "您的诉求已受理，编号{number}，查询码{query_code}，可在{link}查询办理进度。"),
    ("receipt", "email"): (
        "您的诉求已受理（{number}）",
        "您好：\n\n您提交的“{subject}”已受理，编号{number}。\n查询码：{query_code}\n"
        "凭查询码可在 {link} 查询办理进度和答复。\n\n如不希望再收到此类邮件：{optout}",
    ),
    ("correction", "sms"): ("", "您的申请{number}需要补正：{notice}。详见{link}"),
    ("correction", "email"): (
        "补正告知（{number}）",
        "您好：\n\n您的申请（编号{number}）需要补正：\n{notice}\n\n补正后答复期限重新计算。"
        "\n查询：{link}\n\n如不希望再收到此类邮件：{optout}",
    ),
    ("extension", "sms"): ("", "您的诉求{number}办理期限延长至{due}，我们将在期限内答复。"),
    ("extension", "email"): (
        "延期答复告知（{number}）",
        "您好：\n\n您的诉求（编号{number}）经批准延期答复，答复期限为{due}。\n查询：{link}"
        "\n\n如不希望再收到此类邮件：{optout}",
    ),
    ("reply", "sms"): ("", "您的诉求{number}已答复，请凭查询码{query_code}在{link}查看并评价。"),
    ("reply", "email"): (
        "您的诉求已答复（{number}）",
        "您好：\n\n您的诉求“{subject}”（编号{number}）已答复。\n凭查询码 {query_code} 可在 {link} "
        "查看答复并评价。\n\n如不希望再收到此类邮件：{optout}",
    ),
    ("revisit", "sms"): ("", "您的诉求{number}已办结，请凭查询码{query_code}在{link}评价办理结果。"),
    ("revisit", "email"): (
        "请评价办理结果（{number}）",
        "您好：\n\n您的诉求（编号{number}）已办结。请凭查询码 {query_code} 在 {link} 对办理结果评价"
        "（非常满意至非常不满意）。\n\n如不希望再收到此类邮件：{optout}",
    ),
    ("recovery", "sms"): ("", "您找回查询码的验证码为{code}，10分钟内有效。如非本人操作请忽略。"),
    ("staff", "sms"): ("", "【政民互动】{title}"),
}


def default_template(kind: str, medium: str) -> tuple[str, str] | None:
    return DEFAULTS.get((kind, medium))


def _fields(text: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ValidationError(f"模板格式有误：{exc}", fields={"text": "花括号不成对"}) from None


def check_template(kind: str, medium: str, subject: str, text: str) -> None:
    """A template may use only the known variables, each as a plain {name} (no attribute, no index)."""
    if kind not in KINDS:
        raise ValidationError(f"未知的告知类型 {kind!r}", fields={"kind": "取值无效"})
    if medium not in MEDIA:
        raise ValidationError(f"未知的发送方式 {medium!r}", fields={"medium": "取值无效"})
    if not text.strip():
        raise ValidationError("模板内容不能为空", fields={"text": "必填"})
    if medium == "sms" and len(text) > SMS_LIMIT:
        raise ValidationError(f"短信模板不能超过{SMS_LIMIT}字", fields={"text": "过长"})
    unknown = sorted({f for f in _fields(subject) + _fields(text) if f not in VARIABLES})
    if unknown:
        raise ValidationError(
            f"模板含未知变量 {'、'.join(unknown)}（可用：{'、'.join(VARIABLES)}）",
            fields={"text": "未知变量"},
        )


def save_template(
    session: Session,
    *,
    kind: str,
    medium: str,
    text: str,
    now: datetime,
    user: User | None,
    subject: str = "",
    gateway_template: str | None = None,
) -> MessageTemplate:
    """The office changes its wording (administrators only: checked by the caller's door)."""
    if user is not None and user.role != "admin":
        from tracker.errors import PermissionDenied

        raise PermissionDenied("只有管理员可以修改告知模板")
    check_template(kind, medium, subject, text)
    row = session.scalar(
        select(MessageTemplate).where(MessageTemplate.kind == kind, MessageTemplate.medium == medium)
    ) or MessageTemplate(kind=kind, medium=medium)
    row.subject = subject.strip()[:300]
    row.text = text.strip()
    row.gateway_template = (gateway_template or "").strip()[:64] or None
    row.updated_at = now
    row.updated_by_id = user.id if user else None
    session.add(row)
    session.flush()
    return row


def templates(session: Session) -> dict[tuple[str, str], dict[str, Any]]:
    """Every (kind, medium) with its wording: the office's where saved, else the default."""
    saved = {(t.kind, t.medium): t for t in session.scalars(select(MessageTemplate))}
    out = {}
    for kind in KINDS:
        for medium in MEDIA:
            default = default_template(kind, medium)
            row = saved.get((kind, medium))
            if row is None and default is None:
                continue
            out[(kind, medium)] = {
                "subject": row.subject if row else default[0],
                "text": row.text if row else default[1],
                "gateway_template": row.gateway_template if row else None,
                "is_default": row is None,
            }
    return out


class _Values(dict):
    def __missing__(self, key: str) -> str:  # a variable this kind does not have renders empty
        return ""


def render(text: str, values: dict[str, str]) -> str:
    return text.format_map(_Values(values))


def optout_token(secret_key: str, contact_id: int) -> str:
    """The opt-out link's token: the contact's id and an HMAC of it, so nobody opts out someone else."""
    mac = hmac.new(secret_key.encode(), f"optout:{contact_id}".encode(), hashlib.sha256).hexdigest()[:24]
    return f"{contact_id}.{mac}"


def contact_of_token(session: Session, secret_key: str, token: str) -> Contact:
    head, _, _ = (token or "").partition(".")
    if (
        not head.isdigit()
        or len(token) > 64
        or not hmac.compare_digest(optout_token(secret_key, int(head)), token)
    ):
        raise NotFound("退订链接无效")
    contact = session.get(Contact, int(head))
    if contact is None:
        raise NotFound("退订链接无效")
    return contact


def opt_out(session: Session, contact: Contact, *, now: datetime) -> bool:
    """No more messages to this citizen; True when it changed. Their pending messages are not sent."""
    if contact.notify_opt_out_at is not None:
        return False
    contact.notify_opt_out_at = now
    session.flush()
    return True


def opt_out_phone(session: Session, phone: str, *, now: datetime) -> int:
    """The citizen replied the opt-out keyword (退订 / TD) to the gateway: every contact with that
    number stops receiving messages. Returns how many contacts changed."""
    changed = 0
    for contact in session.scalars(select(Contact).where(Contact.phone_bidx.in_(blinds("phone", phone)))):
        changed += opt_out(session, contact, now=now)
    return changed


# What a citizen texts back to stop the messages (the operators' and the gateways' keywords), compared after
# NFKC (full-width ＴＤ), case-folding and trailing punctuation.
OPT_OUT_KEYWORDS = frozenset({"TD", "退订"})


def is_opt_out_reply(text: str) -> bool:
    word = unicodedata.normalize("NFKC", text or "").strip().rstrip("。.!！").strip().upper()
    return word in OPT_OUT_KEYWORDS


def opt_out_reply(session: Session, phone: str, text: str, *, reach: Reach, now: datetime) -> int | None:
    """A citizen's reply the SMS gateway passed on (the API's /sms/replies): the opt-out keyword opts every
    contact with that number out through `opt_out`; any other reply is not ours to act on (None).
    The number's contacts may be of any department and channel: only a caller reaching every ticket may."""
    if not reach.is_everything:
        raise PermissionDenied("退订回复会停止该号码在所有部门的告知，须使用不限渠道和部门的 API 密钥")
    digits = normalise_phone(phone)
    if len(digits) != 11 or not digits.startswith("1"):
        raise ValidationError("手机号码应为11位数字", fields={"phone": "格式错误"})
    if not is_opt_out_reply(text):
        return None
    return opt_out_phone(session, digits, now=now)


def _sms_ready(session: Session) -> bool:
    return (
        session.scalar(
            select(NotificationChannel.id)
            .where(NotificationChannel.kind == "sms", NotificationChannel.is_active)
            .limit(1)
        )
        is not None
    )


def _recipients(contact: Contact | None, media: Sequence[str]) -> dict[str, str]:
    if contact is None or contact.is_confidential or contact.anonymised_at or contact.notify_opt_out_at:
        return {}
    found = {}
    if "sms" in media and contact.phone and sum(c.isdigit() for c in contact.phone) >= 11:
        found["sms"] = contact.phone.strip()
    if "email" in media and contact.email and "@" in contact.email:
        found["email"] = contact.email.strip()
    return found


def values_for(ticket: Ticket, *, public_url: str, secret_key: str, **extra: str) -> dict[str, str]:
    due = ticket.reply_due_at
    return {
        "number": ticket.number,
        "query_code": ticket.query_code or "",
        "subject": ticket.subject,
        "due": f"{local(due):%Y年%m月%d日}" if due else "",
        "link": f"{public_url.rstrip('/')}/portal/query",
        "optout": (
            f"{public_url.rstrip('/')}/portal/optout/{optout_token(secret_key, ticket.contact_id)}"
            if ticket.contact_id
            else ""
        ),
        **extra,
    }


def plan_message(
    session: Session,
    *,
    key: str,
    kind: str,
    recipients: dict[str, str],
    values: dict[str, str],
    now: datetime,
    ticket_id: int | None = None,
) -> list[int]:
    """Render the kind's templates for each medium and plan the deliveries; idempotent per `key`."""
    wording = templates(session)
    made = []
    for medium, recipient in recipients.items():
        template = wording.get((kind, medium))
        if template is None:
            continue
        text = render(template["text"], values)
        if medium == "sms":
            text = text[:SMS_LIMIT]
        params = {name: str(values.get(name, ""))[:PARAM_LIMIT] for name in PARAMS.get(kind, ())}
        rows = insert_rows(
            session,
            CitizenMessage.__table__,
            [
                {
                    "key": f"{key}:{medium}",
                    "ticket_id": ticket_id,
                    "kind": kind,
                    "medium": medium,
                    "recipient": recipient[:255],
                    "subject": render(template["subject"], values)[:300],
                    "text": text,
                    "params": params,
                    "created_at": now,
                }
            ],
            ignore_conflicts=True,
            returning=("id",),
        )
        if not rows:
            continue  # planned by an earlier delivery of the same event: once only
        message_id = rows[0][0]
        insert_rows(
            session,
            Delivery.__table__,
            [
                {
                    "key": f"cm{message_id}:{medium}",
                    "citizen_message_id": message_id,
                    "medium": medium,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            ],
            ignore_conflicts=True,
        )
        made.append(message_id)
    session.flush()
    return made


def tell_citizen(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    key: str,
    now: datetime,
    public_url: str,
    secret_key: str,
    media: Sequence[str] = MEDIA,
    **extra: str,
) -> list[int]:
    """Plan the messages of `kind` to the ticket's citizen (see the module's docstring for who)."""
    if kind not in KINDS or kind == "staff":
        raise ValidationError(f"未知的告知类型 {kind!r}", fields={"kind": "取值无效"})
    if not ticket.query_code:
        # Without a 查询码 the citizen cannot follow anything on the portal: such tickets came from a
        # platform (12345, Weibo, an import) that tells its own citizen — two SMS for one step confuse.
        return []
    usable = [m for m in media if m != "sms" or _sms_ready(session)]
    recipients = _recipients(ticket.contact, usable)
    if not recipients:
        return []
    values = values_for(ticket, public_url=public_url, secret_key=secret_key, **extra)
    return plan_message(
        session, key=key, kind=kind, recipients=recipients, values=values, now=now, ticket_id=ticket.id
    )


def ticket_messages(session: Session, ticket_id: int) -> list[tuple[CitizenMessage, Delivery | None]]:
    """What the citizen was told about a ticket and how each message fared, for the staff's ticket page."""
    return [
        (message, delivery)
        for message, delivery in session.execute(
            select(CitizenMessage, Delivery)
            .outerjoin(Delivery, Delivery.citizen_message_id == CitizenMessage.id)
            .where(CitizenMessage.ticket_id == ticket_id)
            .order_by(CitizenMessage.id)
        )
    ]


DELIVERY_STATUS_LABELS = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "failed": "发送失败"}
