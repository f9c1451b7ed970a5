"""政务微博: comments, mentions and private messages from the Weibo open API, polled or imported.

The API's objects: `id`/`idstr`, `created_at` ("Tue May 31 17:46:55 +0800 2011"), `text`,
`user` {`id`, `screen_name`}, and for comments `status` {`id`} (the post commented on).

How the API behaves (open.weibo.com; docs/workers.md says what it means for an operator):
* lists come newest first; `since_id` keeps only ids above it, `max_id` only ids at or below it, `count`
  is one page. A page of `count` items does not mean there are no more: the poller pages back down
  (max_id) until it reaches the last id it had (`since_id`);
* errors come with a 4xx (or 5xx) status and a JSON body {"error", "error_code", "request"};
* every call counts against the token's hourly quota (per user and app); Weibo recommends polling every
  3–5 minutes;
* private messages (2/direct_messages.json) exist only on the business host c.api.weibo.com for blue-V
  accounts; the public host refuses them;
* an access token lasts `expires_in` seconds (oauth2/get_token_info tells what is left).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clock import local
from tracker.db import session_scope
from tracker.inputs import text_error
from tracker.intake.formats import MAX_ROWS
from tracker.intake.models import AdapterState, adapter_state
from tracker.intake.records import FieldError, IntakeRecord, RecordError, apply_record
from tracker.notify.service import configured_media, notify_office
from tracker.ops.channel_errors import WEIBO_RATE_CODES, WEIBO_TOKEN_CODES, meaning
from tracker.people.access import EVERYTHING
from tracker.tickets.drafts import ContactDraft, TicketDraft
from tracker.tickets.outbox import OutboxMessage

CHANNEL = "weibo"
ADAPTER = "weibo"


@dataclass(frozen=True)
class Endpoint:
    key: str  # its cursor's name in AdapterState.cursor
    path: str
    kind: str  # what its items become (weibo_kind)
    list_key: str  # the list in the response


PUBLIC_ENDPOINTS = (
    Endpoint("comments", "2/comments/to_me.json", "comment", "comments"),
    Endpoint("mentions", "2/statuses/mentions.json", "mention", "statuses"),
    # Comments that @-mention the bureau under other people's posts.
    Endpoint("comment_mentions", "2/comments/mentions.json", "comment_mention", "comments"),
)
BUSINESS_ENDPOINTS = (
    Endpoint("direct_messages", "2/direct_messages.json", "direct_message", "direct_messages"),
)
ENDPOINTS = PUBLIC_ENDPOINTS + BUSINESS_ENDPOINTS
COMMENT_KINDS = ("comment", "comment_mention")
LIST_KEYS = ("comments", "statuses", "direct_messages", "data")
WEIBO_TIME = "%a %b %d %H:%M:%S %z %Y"
MAX_ID_CHARS = 32  # Weibo ids are 64-bit integers (19 digits)
MAX_TEXT_CHARS = 20000  # a comment holds 140 characters, a private message 2,000


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
    if len(ident) > MAX_ID_CHARS or not (ident.isascii() and ident.isdigit()):
        errors.append(FieldError("id", "缺少或不是数字", ident[:40] or None, number))
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        errors.append(FieldError("text", "不能为空", None, number))
    elif len(text) > MAX_TEXT_CHARS:
        errors.append(FieldError("text", f"超过{MAX_TEXT_CHARS}字", None, number))
    elif text_error(text):
        errors.append(FieldError("text", text_error(text), None, number))
    created = None
    try:
        created = datetime.strptime(str(item.get("created_at", "")), WEIBO_TIME)
    except ValueError:
        errors.append(FieldError("created_at", "无法识别", str(item.get("created_at") or "") or None, number))
    user = item.get("user") or item.get("sender") or {}
    if not isinstance(user, dict):
        errors.append(FieldError("user", "应为对象", None, number))
        user = {}
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    if not isinstance(status.get("user") or {}, dict):
        errors.append(FieldError("status.user", "应为对象", None, number))
    for name, value in (
        ("user.screen_name", user.get("screen_name")),
        ("user.id", user.get("id")),
        ("status.id", status.get("idstr") or status.get("id")),
    ):
        reason = text_error(str(value or ""))  # kept on the ticket: NUL cannot be stored on PostgreSQL
        if reason:
            errors.append(FieldError(name, reason, None, number))
    if errors:
        raise RecordError(errors)
    post_id = str(status.get("idstr") or status.get("id") or "") if kind in COMMENT_KINDS else ident
    uid = str((status.get("user") or {}).get("id") or user.get("id") or "")
    extra: dict[str, Any] = {"weibo_kind": kind, "weibo_user_id": str(user.get("id") or "")}
    if post_id and kind != "direct_message":
        extra["weibo_post_id"] = post_id
        extra["weibo_url"] = (
            f"https://weibo.com/{uid}/{post_id}" if uid else f"https://m.weibo.cn/status/{post_id}"
        )
    if kind in COMMENT_KINDS:
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
    except RecursionError:  # nesting deeper than the parser goes; the items are read to depth 3 only
        raise RecordError([FieldError("JSON", "嵌套层数过深")]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError([FieldError("JSON", f"无法解析：{exc}")]) from None
    items = items_of(document)
    if len(items) > MAX_ROWS:
        raise RecordError([FieldError("JSON", f"超过 {MAX_ROWS:,} 条的上限，请分成多个文件上传")])
    return [(i, item, kind) for i, (kind, item) in enumerate(items, start=1)]


# --- the poller --------------------------------------------------------------------------------------

PAGE_SIZE = 100  # items per call (the API allows up to 200)
# Pages per endpoint and poll. A longer backlog is read on at the next poll from where this one stopped
# (the `<key>:paging` cursor), so one flood cannot spend the hour's quota at once.
MAX_PAGES = 5
MAX_BACKOFF = timedelta(hours=1)
TOKEN_CHECK_EVERY = timedelta(hours=12)
# The beat ticks every minute; a tick this much early still counts as "the interval has passed".
INTERVAL_SLACK = timedelta(seconds=30)
RESPONSE_LIMIT = 8_000_000  # bytes of one answer; a page of 200 items is far below

Fetch = Callable[..., Any]  # fetch(url, params, method="GET") -> parsed JSON; raises WeiboApiError


class WeiboApiError(RuntimeError):
    """The API refused (its `error_code`, else "HTTP <status>"), or could not be reached ("connect")."""

    def __init__(self, code: str, detail: str = "", *, status: int | None = None) -> None:
        self.code, self.detail, self.status = str(code), detail, status
        text = f"{self.code}：{meaning('weibo', self.code)}"
        super().__init__(text + (f"（{detail}）" if detail else ""))

    @property
    def needs_authorisation(self) -> bool:
        return self.code in WEIBO_TOKEN_CODES

    @property
    def rate_limited(self) -> bool:
        return self.code in WEIBO_RATE_CODES


class QuotaSpent(Exception):
    """This hour's share of the token's quota is used up; the poll goes on at the next hour."""


def _api_error(document: Any, status: int | None) -> WeiboApiError | None:
    if isinstance(document, dict) and document.get("error_code") not in (None, "", 0, "0"):
        detail = str(document.get("error") or "")[:200]
        return WeiboApiError(str(document["error_code"]), detail, status=status)
    return None


def http_fetch(url: str, params: dict[str, Any], *, method: str = "GET", timeout: float = 10.0) -> Any:
    """Call a Weibo API URL and parse its JSON; an error answer (4xx/5xx with a JSON body, or a 200 with
    `error_code`) raises WeiboApiError with the API's own code. No secret lands in an error."""
    query = urllib.parse.urlencode(params)
    if method == "GET":
        request = urllib.request.Request(f"{url}{'&' if '?' in url else '?'}{query}")
    else:
        request = urllib.request.Request(url, data=query.encode(), method=method)
    request.add_header("Accept", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read(RESPONSE_LIMIT)
    except urllib.error.HTTPError as exc:
        body = exc.read(65_536)
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            document = None
        raise _api_error(document, exc.code) or WeiboApiError(f"HTTP {exc.code}", status=exc.code) from None
    except urllib.error.URLError as exc:
        raise WeiboApiError("connect", type(exc.reason).__name__) from None
    except OSError as exc:  # a timeout or reset while reading the answer
        raise WeiboApiError("connect", type(exc).__name__) from None
    try:
        document = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise WeiboApiError(f"HTTP {status}", "返回的不是JSON", status=status) from None
    error = _api_error(document, status)
    if error is not None:
        raise error
    return document


def token_fingerprint(access_token: str) -> str:
    """Names a token in the cursor and in alert keys without revealing it."""
    return hashlib.sha256(access_token.encode()).hexdigest()[:12]


def _backoff(failures: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(0, failures - 1)), MAX_BACKOFF)


def _next_hour(now: datetime) -> datetime:
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _item_id(item: Any) -> int | None:
    raw = str((item.get("idstr") or item.get("id") or "") if isinstance(item, dict) else "").strip()
    return int(raw) if raw.isdigit() else None


class _Poll:
    """One poll: the calls (counted against the hour's quota), the items applied, progress committed."""

    def __init__(self, session, state, *, fetch, access_token, now, department_code, hourly_quota, commit):
        self.session, self.state, self.fetch = session, state, fetch
        self.access_token, self.now, self.department_code = access_token, now, department_code
        self.commit = commit
        self.cursor: dict[str, Any] = dict(state.cursor or {})
        hour = now.strftime("%Y-%m-%dT%H")
        quota = dict(self.cursor.get("quota") or {})
        self.quota = quota if quota.get("hour") == hour else {"hour": hour, "calls": 0}
        self.hourly_quota = hourly_quota
        self.counts = {"created": 0, "duplicate": 0, "updated": 0, "rejected": 0, "calls": 0}
        self.endpoints: dict[str, dict[str, Any]] = {}

    def call(self, url: str, params: dict[str, Any], **kw: Any) -> Any:
        if self.quota["calls"] >= self.hourly_quota:
            raise QuotaSpent
        self.quota["calls"] += 1
        self.counts["calls"] += 1
        return self.fetch(url, params, **kw)

    def checkpoint(self) -> None:
        """Store the cursor (a new dict, so the JSON column is written) and commit what is done so far."""
        self.cursor["quota"] = dict(self.quota)
        self.state.cursor = dict(self.cursor)
        self.session.flush()
        if self.commit is not None:
            self.commit()

    def endpoint(self, base_url: str, endpoint: Endpoint) -> None:
        """Read one endpoint newest-first, paging back down to its cursor; each page is committed with
        its progress, so a failure later loses nothing already read."""
        report = self.endpoints.setdefault(endpoint.key, {"fetched": 0, "created": 0, "error": None})
        since = int(self.cursor.get(endpoint.key) or 0)
        paging_key = f"{endpoint.key}:paging"
        paging = dict(self.cursor.get(paging_key) or {})
        newest, max_id = int(paging.get("newest") or since), paging.get("max_id")
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"access_token": self.access_token, "count": PAGE_SIZE}
            if since:
                params["since_id"] = since
            if max_id:
                params["max_id"] = max_id
            document = self.call(f"{base_url.rstrip('/')}/{endpoint.path}", params)
            page = document.get(endpoint.list_key) if isinstance(document, dict) else None
            items = page if isinstance(page, list) else [item for _, item in items_of(document)]
            ids = [i for i in (_item_id(item) for item in items) if i is not None]
            for item in items:
                try:
                    record = record_from_item(endpoint.kind, item, department_code=self.department_code)
                except RecordError:
                    self.counts["rejected"] += 1
                    continue
                with self.session.begin_nested():
                    result = apply_record(
                        self.session, record, actor="微博接口", reach=EVERYTHING, now=self.now
                    )
                self.counts[result.status] += 1
                report["created"] += result.status == "created"
            report["fetched"] += len(items)
            newest = max([newest, *ids])
            # Done when the page was not full, or reached what the last poll had; a first poll (no
            # cursor) takes the newest page only — older history is for `tracker import weibo`.
            if not since or len(items) < PAGE_SIZE or not ids or min(ids) <= since + 1:
                self.cursor.pop(paging_key, None)
                if newest:
                    self.cursor[endpoint.key] = str(newest)
                self.checkpoint()
                return
            max_id = min(ids) - 1
            self.cursor[paging_key] = {"max_id": max_id, "newest": newest}
            self.checkpoint()


def poll_weibo(
    session: Session,
    *,
    api_url: str,
    access_token: str,
    now: datetime,
    fetch: Fetch | None = None,
    department_code: str | None = None,
    force: bool = False,
    business_api_url: str | None = None,
    interval: timedelta = timedelta(minutes=4),
    hourly_quota: int = 150,
    warn_days: int = 7,
    media: tuple[str, ...] = (),
    commit: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Poll each endpoint once (when the interval has passed and no wait is set), turn new items into
    tickets, record health; return what was fetched.

    Idempotent by Weibo id; the cursors only save work. Endpoints are independent: one that fails (a
    permission it lacks, a server error) waits 1, 2, 4 … minutes on its own while the others go on, and
    what the others read is kept. A token the API no longer accepts stops the poll and tells the office;
    a spent quota (10022–10024, or our own count reaching `hourly_quota`) waits for the next hour.
    `commit` (the session's commit, from `poll_once`) is called after each page read.
    """
    fetch = fetch or http_fetch
    state = adapter_state(session, ADAPTER)
    fingerprint = token_fingerprint(access_token)
    renewed = (state.cursor or {}).get("token") != fingerprint
    if renewed:
        # A new token (re-authorised): try it at once and ask for its lifetime again.
        state.cursor = {**(state.cursor or {}), "token": fingerprint}
        state.next_attempt_at = state.token_checked_at = state.token_expires_at = None
    if not force and not renewed:
        if state.next_attempt_at is not None and now < state.next_attempt_at:
            return {"skipped": 1, "until": state.next_attempt_at.isoformat()}
        if state.last_attempt_at is not None and now - state.last_attempt_at < interval - INTERVAL_SLACK:
            return {"skipped": 1, "until": (state.last_attempt_at + interval).isoformat()}
    state.last_attempt_at = now
    poll = _Poll(
        session,
        state,
        fetch=fetch,
        access_token=access_token,
        now=now,
        department_code=department_code,
        hourly_quota=hourly_quota,
        commit=commit,
    )
    endpoints = [(api_url, e) for e in PUBLIC_ENDPOINTS]
    if business_api_url:
        endpoints += [(business_api_url, e) for e in BUSINESS_ENDPOINTS]
    waiting = dict(poll.cursor.get("retry") or {})
    failures: list[tuple[str, WeiboApiError]] = []
    stop: WeiboApiError | QuotaSpent | None = None
    try:
        if state.token_checked_at is None or now - state.token_checked_at >= TOKEN_CHECK_EVERY:
            try:
                _check_token(poll, api_url, warn_days=warn_days, fingerprint=fingerprint, media=media)
            except WeiboApiError as exc:
                if exc.needs_authorisation or exc.rate_limited:
                    raise
                state.token_checked_at = now  # the lifetime is unknown for now; the lists still matter
        for base_url, endpoint in endpoints:
            entry = waiting.get(endpoint.key)
            if entry and not force and now < datetime.fromisoformat(entry["at"]):
                poll.endpoints[endpoint.key] = {
                    "fetched": 0,
                    "created": 0,
                    "error": None,
                    "waiting": entry["at"],
                }
                continue
            try:
                poll.endpoint(base_url, endpoint)
                waiting.pop(endpoint.key, None)
            except WeiboApiError as exc:
                poll.endpoints[endpoint.key]["error"] = exc.code
                if exc.needs_authorisation or exc.rate_limited:
                    raise
                failures.append((endpoint.key, exc))
                tries = int((entry or {}).get("failures", 0)) + 1
                waiting[endpoint.key] = {
                    "failures": tries,
                    "at": (now + _backoff(tries)).isoformat(),
                    "code": exc.code,
                }
    except (WeiboApiError, QuotaSpent) as exc:
        stop = exc
    poll.cursor["retry"] = waiting
    if stop is not None or failures:
        # What stopped the poll names the state; else the last endpoint that failed.
        error = stop if isinstance(stop, WeiboApiError) else (None if stop is not None else failures[-1][1])
        where = "" if stop is not None else f"[{failures[-1][0]}] "
        state.consecutive_failures = (state.consecutive_failures or 0) + 1
        state.last_error_at = now
        state.last_error_code = error.code if error else "quota"
        state.last_error = (where + str(error) if error else f"已用完本小时调用配额（{hourly_quota}次）")[
            :500
        ]
        if isinstance(stop, QuotaSpent) or (error is not None and error.rate_limited):
            state.next_attempt_at = _next_hour(now)
        elif error is not None and error.needs_authorisation:
            state.next_attempt_at = now + _backoff(state.consecutive_failures)
            notify_office(
                session,
                title=f"政务微博接口：{meaning('weibo', error.code)}",
                body=(
                    f"微博接口返回错误 {error.code}，已暂停拉取。请重新授权：取得新的 access token，写入 "
                    "TRACKER_WEIBO_ACCESS_TOKEN 后重启 worker 和 beat（见 docs/workers.md “重新授权”），"
                    "再运行 tracker channel poll weibo 确认。"
                ),
                now=now,
                dedupe_key=f"weibo-token-refused:{fingerprint}:{error.code}",
                media=media,
            )
        else:
            state.next_attempt_at = None  # each failing endpoint waits on its own (cursor["retry"])
    else:
        state.consecutive_failures = 0
        state.next_attempt_at = None
        state.last_success_at = now
    if poll.counts["created"]:
        state.last_received_at = now
        state.alerted_at = None
        state.received_total = (state.received_total or 0) + poll.counts["created"]
    poll.checkpoint()
    return {
        **poll.counts,
        "failed": len(failures) + (stop is not None),
        "error": state.last_error_code if (stop is not None or failures) else None,
        "endpoints": poll.endpoints,
    }


def _check_token(
    poll: _Poll, api_url: str, *, warn_days: int, fingerprint: str, media: tuple[str, ...]
) -> None:
    """Ask how long the token has left (oauth2/get_token_info, `expire_in` seconds); warn the office
    `warn_days` before it runs out, and again on its last day."""
    answer = poll.call(
        f"{api_url.rstrip('/')}/oauth2/get_token_info", {"access_token": poll.access_token}, method="POST"
    )
    state, now = poll.state, poll.now
    seconds = answer.get("expire_in", answer.get("expires_in")) if isinstance(answer, dict) else None
    state.token_checked_at = now
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return
    state.token_expires_at = now + timedelta(seconds=max(0, seconds))
    warn_expiring_token(
        poll.session, state, now=now, warn_days=warn_days, fingerprint=fingerprint, media=media
    )


def warn_expiring_token(
    session: Session, state: AdapterState, *, now: datetime, warn_days: int, fingerprint: str, media=()
) -> bool:
    """One notice to the office when the token is within `warn_days` of its end, one more on its last day."""
    if state.token_expires_at is None:
        return False
    left = state.token_expires_at - now
    if left > timedelta(days=warn_days):
        return False

    stage = "last-day" if left <= timedelta(days=1) else f"{warn_days}d"
    ends = local(state.token_expires_at).strftime("%Y-%m-%d %H:%M")
    return bool(
        notify_office(
            session,
            title=f"政务微博授权将于 {ends} 到期",
            body=(
                "到期后将收不到新的评论、@提及和私信。请在到期前重新授权：取得新的 access token，写入 "
                "TRACKER_WEIBO_ACCESS_TOKEN 后重启 worker 和 beat（见 docs/workers.md “重新授权”）。"
            ),
            now=now,
            dedupe_key=f"weibo-token-expiring:{fingerprint}:{stage}",
            media=media,
        )
    )


def poll_once(settings, *, now: datetime, fetch: Fetch | None = None, force: bool = False) -> dict[str, Any]:
    """The one door for a poll, used by the beat's task and by `tracker channel poll weibo`: opens the
    session, commits after each page, and reads every limit from the settings."""
    if not settings.weibo_api_url or not settings.weibo_access_token:
        return {"disabled": 1}
    with session_scope(settings.database_url) as session:
        return poll_weibo(
            session,
            api_url=settings.weibo_api_url,
            access_token=settings.weibo_access_token,
            business_api_url=settings.weibo_business_api_url,
            now=now,
            fetch=fetch,
            force=force,
            interval=timedelta(minutes=settings.weibo_poll_minutes),
            hourly_quota=settings.weibo_hourly_quota,
            warn_days=settings.weibo_token_warn_days,
            media=configured_media(settings),
            commit=session.commit,
        )


def stale_adapters(session: Session, *, now: datetime, silence: timedelta) -> list[AdapterState]:
    """Adapters that have received nothing for `silence` (or failed ever since) and were not yet alerted."""
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
