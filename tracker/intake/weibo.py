"""政务微博: comments, mentions and private messages from the Weibo open API, polled or imported.

The API's objects: `id`/`idstr`, `created_at` ("Tue May 31 17:46:55 +0800 2011"), `text`,
`user` {`id`, `screen_name`}, and for comments `status` {`id`} (the post commented on).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from tracker.intake.records import FieldError, IntakeRecord, RecordError, apply_record
from tracker.models.intake import AdapterState
from tracker.services.tickets import ContactDraft, TicketDraft

CHANNEL = "weibo"
ADAPTER = "weibo"
# (cursor key, API path, kind, list key in the response)
ENDPOINTS = (
    ("comments", "2/comments/to_me.json", "comment", "comments"),
    ("mentions", "2/statuses/mentions.json", "mention", "statuses"),
    ("direct_messages", "2/direct_messages.json", "direct_message", "direct_messages"),
)
LIST_KEYS = ("comments", "statuses", "direct_messages", "data")
WEIBO_TIME = "%a %b %d %H:%M:%S %z %Y"
MAX_BACKOFF = timedelta(hours=1)


def items_of(document: Any) -> list[tuple[str, dict[str, Any]]]:
    """The objects of one API response, or of an array of responses/objects, with their kind."""
    found: list[tuple[str, dict[str, Any]]] = []
    docs = document if isinstance(document, list) else [document]
    for doc in docs:
        if not isinstance(doc, dict):
            raise RecordError([FieldError("JSON", "应为对象或对象数组")])
        listed = False
        for key in LIST_KEYS:
            if isinstance(doc.get(key), list):
                listed = True
                kind = {
                    "comments": "comment",
                    "statuses": "mention",
                    "direct_messages": "direct_message",
                }.get(key, "comment")
                found.extend((kind, item) for item in doc[key])
        if not listed and ("idstr" in doc or "id" in doc):
            kind = "comment" if "status" in doc else ("direct_message" if "recipient" in doc else "mention")
            found.append((kind, doc))
    return found


def _classify(text: str) -> str:
    for word, request_type in (
        ("举报", "举报"),
        ("投诉", "投诉"),
        ("建议", "建议"),
        ("求助", "求助"),
        ("帮忙", "求助"),
    ):
        if word in text:
            return request_type
    return "咨询"


def record_from_item(
    kind: str, item: dict[str, Any], *, number: int | None = None, department_code: str | None = None
) -> IntakeRecord:
    errors: list[FieldError] = []
    ident = str(item.get("idstr") or item.get("id") or "").strip()
    if not ident.isdigit():
        errors.append(FieldError("id", "缺少或不是数字", ident or None, number))
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append(FieldError("text", "不能为空", None, number))
    created = None
    try:
        created = datetime.strptime(str(item.get("created_at", "")), WEIBO_TIME)
    except ValueError:
        errors.append(FieldError("created_at", "无法识别", str(item.get("created_at") or "") or None, number))
    user = item.get("user") or item.get("sender") or {}
    if not isinstance(user, dict):
        errors.append(FieldError("user", "应为对象", None, number))
        user = {}
    if errors:
        raise RecordError(errors)
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    post_id = str(status.get("idstr") or status.get("id") or "") if kind == "comment" else ident
    uid = str((status.get("user") or {}).get("id") or user.get("id") or "")
    extra: dict[str, Any] = {"weibo_kind": kind, "weibo_user_id": str(user.get("id") or "")}
    if post_id and kind != "direct_message":
        extra["weibo_post_id"] = post_id
        extra["weibo_url"] = (
            f"https://weibo.com/{uid}/{post_id}" if uid else f"https://m.weibo.cn/status/{post_id}"
        )
    if kind == "comment":
        extra["weibo_comment_id"] = ident
    draft = TicketDraft(
        channel=CHANNEL,
        request_type=_classify(text),
        subject=text.strip()[:40],
        body=text,
        arrived_at=created,
        received_at=created,
        external_ref=ident,
        department_code=department_code,
        received_via="网络",
        contact=ContactDraft(name=str(user.get("screen_name") or "") or None),
        extra=extra,
    )
    return IntakeRecord(draft, row=number)


def records_from_json(text: str | bytes) -> list[tuple[int, dict[str, Any], str]]:
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError([FieldError("JSON", f"无法解析：{exc}")]) from None
    return [(i, item, kind) for i, (kind, item) in enumerate(items_of(document), start=1)]


# --- the poller --------------------------------------------------------------------------------------

Fetch = Any  # callable(url: str, params: dict) -> Any (parsed JSON); raises on transport errors


def adapter_state(session: Session, name: str = ADAPTER) -> AdapterState:
    state = session.get(AdapterState, name)
    if state is None:
        state = AdapterState(name=name, cursor={}, consecutive_failures=0, received_total=0)
        session.add(state)
        session.flush()
    return state


def http_fetch(url: str, params: dict[str, Any], *, timeout: float = 10.0) -> Any:
    """GET a Weibo API URL and parse its JSON (the standard library only; no secrets in errors)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    full = url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
    request = urllib.request.Request(full, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise RuntimeError(f"连接失败：{type(exc.reason).__name__}") from None


def poll_weibo(
    session: Session,
    *,
    api_url: str,
    access_token: str,
    now: datetime,
    fetch: Fetch = None,
    department_code: str | None = None,
    force: bool = False,
) -> dict[str, int]:
    """Poll every endpoint once (unless backing off), turn new items into tickets, record health.

    Idempotent by Weibo id; the cursor (`since_id` per endpoint) only saves work. On failure the next
    attempt waits 1, 2, 4 … minutes (at most an hour).
    """
    fetch = fetch or http_fetch
    state = adapter_state(session)
    if not force and state.next_attempt_at is not None and now < state.next_attempt_at:
        return {"skipped": 1}
    state.last_attempt_at = now
    counts = {"created": 0, "duplicate": 0, "updated": 0, "rejected": 0}
    cursor = dict(state.cursor or {})
    try:
        for key, path, _kind, _list_key in ENDPOINTS:
            params: dict[str, Any] = {"access_token": access_token, "count": 100}
            if cursor.get(key):
                params["since_id"] = cursor[key]
            document = fetch(api_url.rstrip("/") + "/" + path, params)
            if isinstance(document, dict) and document.get("error_code"):
                raise RuntimeError(
                    f"接口错误 {document.get('error_code')}: {document.get('error', '')}"[:300]
                )
            highest = int(cursor.get(key) or 0)
            for kind, item in items_of(document):
                try:
                    record = record_from_item(kind, item, department_code=department_code)
                except RecordError:
                    counts["rejected"] += 1
                    continue
                with session.begin_nested():
                    result = apply_record(session, record, actor="微博接口", now=now)
                counts[result.status] += 1
                highest = max(highest, int(record.draft.external_ref))
            if highest:
                cursor[key] = str(highest)
    except Exception as exc:
        state.consecutive_failures = (state.consecutive_failures or 0) + 1
        state.last_error_at = now
        state.last_error = str(exc)[:500]
        state.next_attempt_at = now + min(
            timedelta(minutes=2 ** (state.consecutive_failures - 1)), MAX_BACKOFF
        )
        session.flush()
        raise
    state.cursor = cursor
    state.consecutive_failures = 0
    state.next_attempt_at = None
    state.last_success_at = now
    if counts["created"]:
        state.last_received_at = now
        state.alerted_at = None
        state.received_total = (state.received_total or 0) + counts["created"]
    session.flush()
    return counts


def stale_adapters(session: Session, *, now: datetime, silence: timedelta) -> list[AdapterState]:
    """Adapters that have received nothing for `silence` (or failed ever since) and were not yet alerted."""
    from sqlalchemy import select

    stale = []
    for state in session.scalars(select(AdapterState).where(AdapterState.name == ADAPTER)):
        reference = state.last_received_at or state.last_success_at or state.last_attempt_at
        if reference is not None and now - reference >= silence and state.alerted_at is None:
            stale.append(state)
    return stale


def raise_silence_alerts(session: Session, *, now: datetime, silence: timedelta) -> int:
    """Record one alert per silence: an outbox message `adapter.silent` the notification workers send.

    `silence` comes from the settings (TRACKER_WEIBO_SILENCE_HOURS).
    """
    from tracker.models import OutboxMessage

    alerts = 0
    for state in stale_adapters(session, now=now, silence=silence):
        state.alerted_at = now
        session.add(
            OutboxMessage(
                topic="adapter.silent",
                payload={
                    "adapter": state.name,
                    "message": f"{state.name} 渠道已超过{int(silence.total_seconds() // 3600)}小时未收到新内容",
                    "last_received_at": state.last_received_at.isoformat()
                    if state.last_received_at
                    else None,
                    "last_success_at": state.last_success_at.isoformat() if state.last_success_at else None,
                    "last_error": state.last_error,
                },
                created_at=now,
            )
        )
        alerts += 1
    session.flush()
    return alerts
