"""Back to the 12345 platform: every step of a pushed or imported work order the platform must hear of
becomes a delivery row (one per event, a unique key), sent by a worker with retries and backoff to the
configured callback URL:

- 签收 (`sign`): the order's status changed to 办理中 by the `start` action;
- 答复 (`reply`) and 办结 (`close`), with the public reply only — never the internal 办理情况;
- 延期申请 (`extension`);
- 退单申请 (`sendback`) and its withdrawal (`sendback_withdrawn`) — the platform decides, by the API;
- 回访 acknowledgement (`revisit_ack`): the unit has the 回访 result recorded (`revisit.recorded`).

Events replayed from an import's history (dated before the ticket was created here) are the platform's
own past and are not sent back; nor are changes the platform made itself through the API — except the
回访 it sent, which is exactly what it wants acknowledged.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from tracker.clock import local
from tracker.intake.apikeys import signed_headers
from tracker.intake.hotline import callback_payload
from tracker.intake.models import CallbackDelivery, adapter_state
from tracker.ops.models import ApiKey
from tracker.security import decrypt_secret
from tracker.tickets.models import Ticket, TicketEvent
from tracker.workorders.models import REVISIT_RESULTS, SEND_BACK_REASONS, CoHandling, Revisit, SendBack

SCAN_NAME = "hotline-callback"
MAX_ATTEMPTS = 10
MAX_BACKOFF = timedelta(hours=2)
SCAN_LIMIT = 1000

Post = Callable[[str, bytes, dict[str, str]], int]


def plan_callbacks(session: Session, *, now: datetime, limit: int = SCAN_LIMIT) -> int:
    """Turn new 签收 / reply / extension / 办结 / 退单 / 回访 events of hotline tickets into deliveries; return
    how many."""
    state = adapter_state(session, SCAN_NAME)
    after = int((state.cursor or {}).get("event_id", 0))
    rows = session.execute(
        select(TicketEvent, Ticket)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.id > after,
            Ticket.channel == "hotline",
            # A co-handling unit's child order answers the lead unit (its reply rolls up to the lead's
            # order), not the platform, which never issued it: the lead's reply is what goes back.
            ~exists().where(CoHandling.child_ticket_id == Ticket.id),
            or_(
                (TicketEvent.kind == "ticket.status_changed")
                & TicketEvent.status_after.in_(("in_progress", "replied", "closed")),
                TicketEvent.kind.in_(tuple(_EVENT_KINDS)),
            ),
        )
        .order_by(TicketEvent.id)
        .limit(limit)
    ).all()
    # The cursor moves past every event looked at, planned or not.
    highest = session.scalar(select(TicketEvent.id).order_by(TicketEvent.id.desc()).limit(1)) or after
    if len(rows) == limit:
        highest = rows[-1][0].id
    made = 0
    for event, ticket in rows:
        if event.occurred_at < ticket.created_at:
            continue  # history from the platform itself
        if (event.actor_label or "").startswith("API:") and event.kind != "revisit.recorded":
            continue  # the platform's own change through the API
        kind = _kind_of(event)
        if kind is None:
            continue
        data = _callback_data(session, kind, event)
        if session.scalar(select(CallbackDelivery.id).where(CallbackDelivery.event_id == event.id)):
            continue
        session.add(
            CallbackDelivery(
                ticket_id=ticket.id,
                event_id=event.id,
                kind=kind,
                payload=callback_payload(ticket, kind, data),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
        made += 1
    state.cursor = {"event_id": highest}
    state.last_attempt_at = now  # its last success is the last delivery the platform accepted
    session.flush()
    return made


# Events other than status changes that the platform hears of, and the callback kind each becomes.
_EVENT_KINDS = {
    "deadline.extended": "extension",
    "sendback.requested": "sendback",
    "sendback.withdrawn": "sendback_withdrawn",
    "revisit.recorded": "revisit_ack",
}


def _kind_of(event: TicketEvent) -> str | None:
    if event.kind != "ticket.status_changed":
        return _EVENT_KINDS.get(event.kind)
    if event.status_after == "in_progress":
        # 签收 only: 办理中 is also where a reopened order or one back from a consultation lands.
        return "sign" if (event.data or {}).get("action") == "start" else None
    return "reply" if event.status_after == "replied" else "close"


def _local(moment: datetime | str | None) -> str:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return local(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _callback_data(session: Session, kind: str, event: TicketEvent) -> dict[str, Any]:
    """What `callback_payload` needs beyond the ticket, read when the event is planned."""
    data = dict(event.data or {})
    if kind == "extension":
        return {"reason": data.get("reason", ""), "due_at": _local(data.get("due_at"))}
    if kind == "sign":
        return {"signed_at": _local(event.occurred_at)}
    if kind in ("sendback", "sendback_withdrawn"):
        send_back = session.get(SendBack, int(data.get("send_back_id") or 0))
        if send_back is None:
            return {"at": _local(event.occurred_at)}
        return {
            "send_back_id": send_back.id,
            "reason_code": send_back.reason_code,
            "reason_label": SEND_BACK_REASONS.get(send_back.reason_code, send_back.reason_code),
            "reason_text": send_back.reason_text,
            "suggested_unit": send_back.suggested_unit or "",
            "at": _local(event.occurred_at),
        }
    if kind == "revisit_ack":
        # The 回访 row when the event names it (tracker.workorders' revisit module), else the event's own data.
        revisit = session.get(Revisit, int(data["revisit_id"])) if data.get("revisit_id") else None
        visited = revisit.visited_at if revisit else data.get("visited_at")
        result = revisit.result if revisit else data.get("result")
        return {"visited_at": _local(visited), "result": REVISIT_RESULTS.get(result or "", result or "")}
    return data


def _signing_secret(session: Session, secret_key: str) -> tuple[str, str] | None:
    key = session.scalar(
        select(ApiKey)
        .where(ApiKey.channel == "hotline", ApiKey.revoked_at.is_(None))
        .order_by(ApiKey.id.desc())
    )
    if key is None:
        return None
    return key.key_id, decrypt_secret(secret_key, key.secret_encrypted)


def http_post(url: str, body: bytes, headers: dict[str, str], *, timeout: float = 10.0) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def deliver_due(
    session: Session, *, url: str, secret_key: str, now: datetime, post: Post | None = None, limit: int = 100
) -> dict[str, int]:
    """Send the deliveries that are due; failures wait 1, 2, 4 … minutes (at most 2 h), 10 tries at most.

    Signed like the push (tracker.intake.apikeys.signed_headers: method, the URL's path and query,
    timestamp, nonce and body hash) with the newest hotline key, so the platform verifies us with the
    secret it already holds and can refuse a replayed callback by its nonce.
    """
    post = post or http_post
    counts = {"sent": 0, "retry": 0, "failed": 0}
    due = session.scalars(
        select(CallbackDelivery)
        .where(CallbackDelivery.status == "pending", CallbackDelivery.next_attempt_at <= now)
        .order_by(CallbackDelivery.next_attempt_at, CallbackDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    signing = _signing_secret(session, secret_key) if due else None
    last_error: str | None = None
    for delivery in due:
        body = json.dumps(delivery.payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if signing:
            # A fresh nonce per attempt: the platform may refuse a nonce it has seen, as we do.
            headers.update(
                signed_headers(
                    signing[0], signing[1], method="POST", url=url, body=body, timestamp=int(now.timestamp())
                )
            )
        delivery.attempts += 1
        try:
            status = post(url, body, headers)
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except Exception as exc:  # network trouble of any kind is a failed attempt, retried later
            error = f"{type(exc).__name__}"
        last_error = error or last_error
        if error is None:
            delivery.status, delivery.sent_at, delivery.last_error = "sent", now, None
            counts["sent"] += 1
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.last_error = "failed", error
            counts["failed"] += 1
        else:
            delivery.last_error = error
            delivery.next_attempt_at = now + min(timedelta(minutes=2 ** (delivery.attempts - 1)), MAX_BACKOFF)
            counts["retry"] += 1
    if due:  # the platform's health for `tracker channel status`: last accepted, last refusal and its code
        state = adapter_state(session, SCAN_NAME)
        state.last_attempt_at = now
        if counts["sent"]:
            state.last_success_at = now
        if last_error is not None:
            state.last_error_at, state.last_error = now, last_error
            state.last_error_code = last_error if last_error.startswith("HTTP") else "connect"
    session.flush()
    return counts
