"""Webhooks: a generic JSON POST, and the DingTalk and WeCom group-robot message formats.

DingTalk: POST {"msgtype": "markdown", "markdown": {"title", "text"}}; with a signing secret, the URL gets
`timestamp` and `sign` = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")); success is errcode 0.
WeCom (企业微信): POST {"msgtype": "markdown", "markdown": {"content"}}; success is errcode 0.

Both accept 20 messages a minute per robot. Past that DingTalk answers errcode 130101 and throttles the
robot for 10 minutes; WeCom answers 45009 (a minute). Those raise `Throttled`: the deliveries wait and are
sent again, they do not count as failed attempts. The pace itself and the digest of a burst are kept by
workers/tasks/deliveries.py with tracker.notify.service (ROBOT_SPACING, ROBOT_BATCH).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

from tracker.config import Settings
from tracker.ops.channel_errors import ROBOT_THROTTLE_CODES, meaning
from workers.senders import Message, SendError, Throttled
from workers.senders.http import Response, encode, post_json

# How long a robot's throttle lasts (DingTalk: 10 minutes; WeCom: until the minute is over).
THROTTLE_SECONDS = {"dingtalk": 600, "wecom": 60}
WECOM_LIMIT = 4096  # bytes of markdown content


def _link(message: Message, settings: Settings) -> str | None:
    return f"{settings.public_url.rstrip('/')}{message.link}" if message.link else None


def _robot_ok(response: Response, name: str, kind: str) -> None:
    try:
        answer = response.json()
    except ValueError:
        raise SendError(f"{name}返回的不是JSON", code="HTTP 200") from None
    if not isinstance(answer, dict):
        raise SendError(f"{name}返回的不是对象", code="HTTP 200")
    code = str(answer.get("errcode", 0))
    if code == "0":
        return
    text = f"{name}返回错误 {code}：{meaning(kind, code)}（{str(answer.get('errmsg', ''))[:100]}）"
    if code in ROBOT_THROTTLE_CODES[kind]:
        raise Throttled(text, code=code, retry_after=THROTTLE_SECONDS[kind])
    raise SendError(text, code=code)


def send_generic(message: Message, settings: Settings) -> None:
    payload = {
        "event": message.kind,
        "title": message.title,
        "text": message.body,
        "ticket": message.ticket_number,
        "link": _link(message, settings),
        "delivery": message.delivery_key,
    }
    if message.secret:
        # The receiver checks X-Tracker-Signature = HMAC-SHA256(secret, raw body).
        body = encode(payload)
        signature = hmac.new(message.secret.encode(), body, hashlib.sha256).hexdigest()
        post_json(message.url, body=body, headers={"X-Tracker-Signature": f"sha256={signature}"})
        return
    post_json(message.url, payload)


def _markdown(message: Message, settings: Settings) -> str:
    lines = [f"### {message.title}", "", *(f"> {line}" for line in message.body.splitlines() if line.strip())]
    link = _link(message, settings)
    if link:
        lines += ["", f"[查看详情]({link})"]
    return "\n".join(lines)


def dingtalk_url(url: str, secret: str | None, *, now_ms: int | None = None) -> str:
    if not secret:
        return url
    timestamp = str(now_ms if now_ms is not None else int(time.time() * 1000))
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    sign = quote_plus(base64.b64encode(digest).decode())
    return f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"


def _digest(messages: list[Message], settings: Settings) -> tuple[str, str]:
    """A burst for one robot as one message: a heading and one line per notification (each line cut so
    that ROBOT_BATCH of them stay inside WeCom's 4,096 bytes)."""
    kinds = dict.fromkeys(
        m.title.split("】", 1)[0].lstrip("【") for m in messages if m.title.startswith("【")
    )
    title = f"{'、'.join(kinds) or '通知'}：{len(messages)} 条"
    lines = [f"### {title}", ""]
    for m in messages:
        text = m.title[:40]
        link = _link(m, settings)
        lines.append(f"- [{text}]({link})" if link and len(link) < 120 else f"- {text}")
    return title, "\n".join(lines)


def send_dingtalk(message: Message, settings: Settings) -> None:
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": message.title[:60], "text": _markdown(message, settings)},
    }
    _robot_ok(post_json(dingtalk_url(message.url, message.secret), payload), "钉钉机器人", "dingtalk")


def send_dingtalk_digest(messages: list[Message], settings: Settings) -> None:
    title, text = _digest(messages, settings)
    payload = {"msgtype": "markdown", "markdown": {"title": title[:60], "text": text}}
    first = messages[0]
    _robot_ok(post_json(dingtalk_url(first.url, first.secret), payload), "钉钉机器人", "dingtalk")


def _wecom_post(url: str, content: str) -> None:
    content = content.encode()[: WECOM_LIMIT - 96].decode(errors="ignore")
    _robot_ok(
        post_json(url, {"msgtype": "markdown", "markdown": {"content": content}}), "企业微信机器人", "wecom"
    )


def send_wecom(message: Message, settings: Settings) -> None:
    _wecom_post(message.url, _markdown(message, settings))


def send_wecom_digest(messages: list[Message], settings: Settings) -> None:
    _wecom_post(messages[0].url, _digest(messages, settings)[1])
