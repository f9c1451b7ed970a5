"""The domain side of notifications: the in-app bell, per-user preferences, outside channels, deliveries.

A `Notification` is the in-app message (the bell) and exists for every recipient. Each outside channel a
recipient wants (e-mail, SMS) and each group robot configured for the department (DingTalk, WeCom, a
generic webhook) gets a `Delivery` row. Deliveries move pending → sending (leased) → sent, or back to
pending with exponential backoff, or to failed after `MAX_ATTEMPTS`; one failing channel never holds up the
others, and administrators see failures in `failing_deliveries`. Services flush, never commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from tracker.errors import NotFound, ValidationError
from tracker.notify.models import Delivery, Notification, NotificationChannel
from tracker.people.models import Department, User
from tracker.sql.bulk import id_in, insert_columns
from tracker.tickets.models import Ticket

MEDIA = ("email", "sms")  # per-user media; in-app is always on
GROUP_KINDS = ("webhook", "dingtalk", "wecom")
CHANNEL_KINDS = (*GROUP_KINDS, "sms")
CHANNEL_KIND_LABELS = {
    "webhook": "通用Webhook",
    "dingtalk": "钉钉群机器人",
    "wecom": "企业微信群机器人",
    "sms": "短信网关",
}
NOTIFICATION_KINDS = {
    "reminder": "期限提醒",
    "escalation": "超期督办",
    "digest": "每日汇总",
    "status": "状态变化",
    "approval": "审批",  # an extension or a reply's sign-off: asked for (the deciders), decided (the requester)
    "calendar": "节假日安排",
    "channel": "渠道告警",  # an outside channel needs the office: a Weibo token expiring, a refused login
}
# SMS gateways: the generic hook, Aliyun SMS, Tencent Cloud SMS (workers/senders/sms.py) and the settings
# each needs besides its secret (docs/citizens.md).
SMS_PROVIDER_FIELDS = {
    "generic": (),
    "aliyun": ("access_key_id", "sign_name"),
    "tencent": ("secret_id", "sdk_app_id", "sign_name"),
}
SMS_PROVIDER_LABELS = {"generic": "通用短信网关", "aliyun": "阿里云短信", "tencent": "腾讯云短信"}
MAX_ATTEMPTS = 8
# Group robots accept 20 messages a minute each (DingTalk then throttles for 10 minutes, errcode 130101;
# WeCom answers 45009): one message per robot every 3 seconds at most, and a burst of due deliveries for
# one robot goes out as one digest of up to ROBOT_BATCH.
ROBOT_KINDS = ("dingtalk", "wecom")
ROBOT_SPACING = timedelta(seconds=3)
ROBOT_BATCH = 15
# Longer than a claimed batch can take (workers/tasks/deliveries.py: 10 rows × 20 s timeouts); a crashed
# sender's rows come back when it runs out.
LEASE = timedelta(minutes=10)


def backoff(attempts: int) -> timedelta:
    """1, 2, 4 … minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


# -- in-app --------------------------------------------------------------------------------------------


def notify(
    session: Session,
    user_ids: Iterable[int],
    *,
    kind: str,
    title: str,
    now: datetime,
    body: str = "",
    ticket_id: int | None = None,
    link: str | None = None,
    dedupe_key: str | None = None,
) -> list[int]:
    """Create one in-app notification per user (skipping users already notified under ``dedupe_key``)."""
    if kind not in NOTIFICATION_KINDS:
        raise ValidationError(f"未知的通知类型 {kind!r}")
    ids = []
    for user_id in dict.fromkeys(user_ids):
        key = f"{dedupe_key}:{user_id}" if dedupe_key else None
        if key and session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
            continue
        row = Notification(
            user_id=user_id,
            ticket_id=ticket_id,
            kind=kind,
            title=title[:300],
            body=body,
            link=link or (f"/tickets/{ticket_id}" if ticket_id else None),
            dedupe_key=key,
            created_at=now,
        )
        session.add(row)
        session.flush()
        ids.append(row.id)
    return ids


def unread_count(session: Session, user: User) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def list_notifications(
    session: Session, user: User, *, limit: int = 50, before_id: int | None = None
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user.id)
    if before_id:
        query = query.where(Notification.id < before_id)
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(session: Session, user: User, *, now: datetime, ids: Sequence[int] | None = None) -> int:
    """Mark the user's notifications read (all of them when ``ids`` is None); others' are never touched."""
    query = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(list(ids)))
    result = session.execute(query.values(read_at=now).execution_options(synchronize_session=False))
    session.flush()
    return result.rowcount or 0


def configured_media(settings) -> tuple[str, ...]:
    """The per-user media this deployment can send: e-mail only with an SMTP server configured."""
    return ("email", "sms") if settings.smtp_host else ("sms",)


def notify_office(
    session: Session,
    *,
    title: str,
    body: str,
    now: datetime,
    dedupe_key: str,
    media: Sequence[str] = MEDIA,
    link: str | None = "/admin/channels",
) -> list[int]:
    """Tell every active administrator (the office) once per ``dedupe_key``, in-app and on their media."""
    admins = session.scalars(select(User.id).where(User.is_active, User.role == "admin")).all()
    ids = notify(
        session, admins, kind="channel", title=title, body=body, link=link, now=now, dedupe_key=dedupe_key
    )
    plan_deliveries(session, ids, now=now, media=media)
    return ids


# -- preferences -----------------------------------------------------------------------------------------


def preferences(user: User) -> dict[str, bool]:
    """E-mail is on by default (when the user has an address), SMS off."""
    prefs = user.preferences or {}
    return {"inapp": True, "email": bool(prefs.get("email", True)), "sms": bool(prefs.get("sms", False))}


def set_preferences(session: Session, user: User, *, email: bool, sms: bool) -> dict[str, bool]:
    if sms and not user.phone:
        raise ValidationError("未登记手机号，不能开启短信提醒", fields={"sms": "缺少手机号"})
    user.preferences = {**(user.preferences or {}), "email": bool(email), "sms": bool(sms)}
    session.flush()
    return preferences(user)


# -- outside channels --------------------------------------------------------------------------------------


def save_channel(
    session: Session,
    *,
    name: str,
    kind: str,
    url: str,
    now: datetime,
    secret_key: str,
    secret: str | None = None,
    department_id: int | None = None,
    kinds: Sequence[str] = (),
    channel_id: int | None = None,
    is_active: bool = True,
    options: dict | None = None,
) -> NotificationChannel:
    """Create or change a group robot / webhook / SMS gateway; the secret is stored encrypted.

    An SMS gateway's `options` name its provider and that provider's non-secret settings
    (SMS_PROVIDER_FIELDS); the secret is the generic hook's token, Aliyun's AccessKeySecret or
    Tencent's SecretKey."""
    from tracker.security import encrypt_secret

    errors = {}
    if kind not in CHANNEL_KINDS:
        errors["kind"] = f"应为 {'/'.join(CHANNEL_KINDS)} 之一"
    if not url.startswith(("https://", "http://")):
        errors["url"] = "应以 http:// 或 https:// 开头"
    if not name.strip():
        errors["name"] = "必填"
    if department_id is not None:
        # A robot for a disabled department would receive nothing: that department gets no new tickets.
        department = session.get(Department, department_id)
        if department is None:
            errors["department"] = "未知部门"
        elif not department.is_active and is_active:
            errors["department"] = f"{department.name}已停用"
    unknown = [k for k in kinds if k not in NOTIFICATION_KINDS]
    if unknown:
        errors["kinds"] = f"未知类型 {','.join(unknown)}"
    options = {k: str(v).strip() for k, v in (options or {}).items() if v is not None and str(v).strip()}
    if kind == "sms":
        provider = options.setdefault("provider", "generic")
        if provider not in SMS_PROVIDER_FIELDS:
            errors["provider"] = f"应为 {'/'.join(SMS_PROVIDER_FIELDS)} 之一"
        else:
            missing = [f for f in SMS_PROVIDER_FIELDS[provider] if not options.get(f)]
            if missing:
                errors["options"] = f"{SMS_PROVIDER_LABELS[provider]}缺少 {'、'.join(missing)}"
            options = {
                k: v
                for k, v in options.items()
                if k in (*SMS_PROVIDER_FIELDS[provider], "provider", "region")
            }
    elif options:
        options = {}
    if errors:
        raise ValidationError("；".join(f"{k}: {v}" for k, v in errors.items()), fields=errors)
    channel = (
        session.get(NotificationChannel, channel_id) if channel_id else NotificationChannel(created_at=now)
    )
    if channel is None:
        raise NotFound(f"通知渠道 {channel_id} 不存在")
    channel.name = name.strip()
    channel.kind = kind
    channel.url = url
    if secret:
        channel.secret_encrypted = encrypt_secret(secret_key, secret)
    channel.department_id = department_id
    channel.kinds = list(kinds)
    channel.options = options or None
    channel.is_active = is_active
    session.add(channel)
    session.flush()
    return channel


def channel_secret(channel: NotificationChannel, secret_key: str) -> str | None:
    from tracker.security import decrypt_secret

    return decrypt_secret(secret_key, channel.secret_encrypted) if channel.secret_encrypted else None


# -- deliveries -----------------------------------------------------------------------------------------------


class NewNotification(NamedTuple):
    """What planning its deliveries needs to know of a notification just made.

    A named tuple, not a dataclass: the sweep makes one per reminder, and a tuple is built in C.
    """

    id: int
    user_id: int
    kind: str
    title: str
    ticket_id: int | None
    department_id: int | None
    created_at: datetime


def plan_deliveries(
    session: Session, notification_ids: Sequence[int], *, now: datetime, media: Sequence[str] = MEDIA
) -> int:
    """Create the delivery rows for the notifications ``notification_ids`` (read back); see `plan_for`."""
    if not notification_ids:
        return 0
    found: list[NewNotification] = []
    for start in range(0, len(notification_ids), 1000):
        chunk = notification_ids[start : start + 1000]
        found += [
            NewNotification(*row)
            for row in session.execute(
                select(
                    Notification.id,
                    Notification.user_id,
                    Notification.kind,
                    Notification.title,
                    Notification.ticket_id,
                    Ticket.department_id,
                    Notification.created_at,
                )
                .outerjoin(Ticket, Ticket.id == Notification.ticket_id)
                .where(id_in(session, Notification.id, chunk))
            )
        ]
    return plan_for(session, found, now=now, media=media)


def plan_for(
    session: Session, notifications: Sequence[NewNotification], *, now: datetime, media: Sequence[str] = MEDIA
) -> int:
    """Create the delivery rows for new notifications: the users' own media, then the group robots.

    ``media`` names the per-user media that are configured (no SMTP host → no e-mail rows). A group robot
    posts each message once per ticket, not once per recipient. Idempotent (unique delivery keys).
    The sweep passes what it has just inserted, so nothing is read back.
    """
    if not notifications:
        return 0
    channels = list(session.scalars(select(NotificationChannel).where(NotificationChannel.is_active)))
    sms_ready = any(c.kind == "sms" for c in channels)
    user_ids = sorted({n.user_id for n in notifications})
    people = {
        user_id: (email, phone, prefs or {})
        for user_id, email, phone, prefs in session.execute(
            select(User.id, User.email, User.phone, User.preferences).where(id_in(session, User.id, user_ids))
        )
    }
    # One list per column (`insert_columns`); a key seen twice in the batch (a group robot's message
    # for several recipients of one ticket) is planned once.
    planned: dict[str, tuple[int, str, int | None, int | None]] = {}
    for note in notifications:
        email, phone, prefs = people.get(note.user_id, (None, None, {}))
        if "email" in media and email and prefs.get("email", True):
            planned[f"n{note.id}:email"] = (note.id, "email", note.user_id, None)
        if "sms" in media and sms_ready and phone and prefs.get("sms", False):
            planned[f"n{note.id}:sms"] = (note.id, "sms", note.user_id, None)
        for channel in channels:
            if channel.kind not in GROUP_KINDS or (channel.kinds and note.kind not in channel.kinds):
                continue
            if channel.department_id is not None and channel.department_id != note.department_id:
                continue
            digest = hashlib.sha256(
                f"{note.ticket_id}|{note.title}|{note.created_at.date()}".encode()
            ).hexdigest()[:24]
            planned[f"c{channel.id}:{digest}"] = (note.id, channel.kind, None, channel.id)
    if not planned:
        return 0
    notification_ids, media_of, user_ids_of, channel_ids = (
        list(c) for c in zip(*planned.values(), strict=True)
    )
    made = insert_columns(
        session,
        Delivery.__table__,
        {
            "key": list(planned),
            "notification_id": notification_ids,
            "medium": media_of,
            "user_id": user_ids_of,
            "channel_id": channel_ids,
        },
        same={"status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now},
        ignore_conflicts=True,
        returning=("id",),
    )
    session.flush()
    return len(made)


def claim_deliveries(
    session: Session, *, now: datetime, limit: int = 50, lease: timedelta | None = None
) -> list[int]:
    """Lease up to ``limit`` deliveries that are due (or whose sender died); the caller commits at once.

    A leased row's ``next_attempt_at`` is its lease's end, so one condition (through the partial index)
    finds both pending rows and rows a crashed sender left behind. SKIP LOCKED keeps two senders apart.
    """
    lease = lease or LEASE  # read at call time, so a deployment (or a test) can change it
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(Delivery.status.in_(("pending", "sending")), Delivery.next_attempt_at <= now)
            .order_by(Delivery.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    return _lease_deliveries(session, ids, now=now, lease=lease)


def _lease_deliveries(session: Session, ids: list[int], *, now: datetime, lease: timedelta) -> list[int]:
    """Mark the claimed deliveries as being sent until `now + lease`, counting the attempt; return them."""
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                status="sending",
                lease_until=now + lease,
                next_attempt_at=now + lease,
                attempts=Delivery.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        session.flush()
    return ids


def mark_sent(session: Session, delivery_id: int, *, now: datetime) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(status="sent", sent_at=now, lease_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def mark_failed(session: Session, delivery_id: int, error: str, *, now: datetime, final: bool = False) -> str:
    """Record a failed attempt: back to pending with backoff, or `failed` after the maximum — at once
    when `final` (the channel said trying again cannot help: a wrong number, an unapproved template)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"投递 {delivery_id} 不存在")
    delivery.last_error = error[:500]
    delivery.lease_until = None
    if final or delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = "failed"
    else:
        delivery.status = "pending"
        delivery.next_attempt_at = now + backoff(delivery.attempts)
    session.flush()
    return delivery.status


def retry_delivery(session: Session, delivery_id: int, *, now: datetime) -> None:
    """An administrator sends a failed delivery again (after fixing the channel)."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise NotFound(f"投递 {delivery_id} 不存在")
    delivery.status = "pending"
    delivery.attempts = 0
    delivery.next_attempt_at = now
    session.flush()


def failing_deliveries(session: Session, *, limit: int = 200) -> list[Delivery]:
    """Deliveries that gave up, or are retrying after at least one failure — newest first."""
    return list(
        session.scalars(
            select(Delivery)
            .where(or_(Delivery.status == "failed", Delivery.last_error.is_not(None)))
            .where(Delivery.status != "sent")
            .order_by(Delivery.id.desc())
            .limit(limit)
        )
    )


# -- group robots: pacing, bursts, throttles; every channel's health ----------------------------------------


def take_robot_slot(session: Session, channel_id: int, *, now: datetime) -> datetime | None:
    """Reserve the robot's next sending moment; None when this sender may post now, else when it may.

    One UPDATE decides, so two senders never both take the slot (the row's lock orders them).
    """
    taken = session.execute(
        update(NotificationChannel)
        .where(
            NotificationChannel.id == channel_id,
            or_(NotificationChannel.next_send_at.is_(None), NotificationChannel.next_send_at <= now),
            or_(NotificationChannel.paused_until.is_(None), NotificationChannel.paused_until <= now),
        )
        .values(next_send_at=now + ROBOT_SPACING)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount:
        return None
    next_send_at, paused_until = session.execute(
        select(NotificationChannel.next_send_at, NotificationChannel.paused_until).where(
            NotificationChannel.id == channel_id
        )
    ).one()
    return max(t for t in (next_send_at, paused_until, now) if t is not None)


def gather_burst(
    session: Session, channel_id: int, *, now: datetime, limit: int, lease: timedelta | None = None
) -> list[int]:
    """Lease up to ``limit`` more deliveries due for this robot, to go out in the same digest."""
    lease = lease or LEASE
    ids = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.channel_id == channel_id,
                Delivery.status == "pending",
                Delivery.next_attempt_at <= now,
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    return _lease_deliveries(session, ids, now=now, lease=lease)


def hold_deliveries(session: Session, delivery_ids: Sequence[int], *, until: datetime) -> None:
    """Put leased deliveries back until ``until`` without counting the attempt: waiting for a robot's
    pace or throttle is not a failure, and must never use up the attempts that lead to `failed`."""
    if not delivery_ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(list(delivery_ids)), Delivery.status == "sending")
        .values(status="pending", next_attempt_at=until, lease_until=None, attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def record_channel_result(
    session: Session,
    *,
    now: datetime,
    channel_id: int | None = None,
    medium: str | None = None,
    code: str | None = None,
    error: str | None = None,
    paused_until: datetime | None = None,
) -> None:
    """Remember a channel's last success or last refusal (its own code) for the status pages.

    A configured channel keeps it on its row; e-mail, which has no row, on the adapter-state row "email".
    """
    values: dict = (
        {"last_success_at": now}
        if code is None
        else {"last_error_at": now, "last_error_code": code[:32], "last_error": (error or "")[:500]}
    )
    if channel_id is not None:
        if paused_until is not None:
            values["paused_until"] = paused_until
        session.execute(
            update(NotificationChannel)
            .where(NotificationChannel.id == channel_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    elif medium is not None:
        from tracker.intake.models import AdapterState

        state = session.get(AdapterState, medium) or AdapterState(
            name=medium, cursor={}, consecutive_failures=0, received_total=0
        )
        session.add(state)
        for key, value in values.items():
            setattr(state, key, value)
        state.last_attempt_at = now
        state.consecutive_failures = 0 if code is None else (state.consecutive_failures or 0) + 1
    session.flush()
