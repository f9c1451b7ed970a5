"""Webhooks: a generic JSON POST, and the DingTalk and WeCom group-robot message formats.

DingTalk: POST {"msgtype": "markdown", "markdown": {"title", "text"}}; with a signing secret, the URL gets
`timestamp` and `sign` = base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")); success is errcode 0.
WeCom (企业微信): POST {"msgtype": "markdown", "markdown": {"content"}}; success is errcode 0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

from tracker.config import Settings
from workers.senders import Message, SendError
from workers.senders.http import Response, encode, post_json


def _link(message: Message, settings: Settings) -> str | None:
    return f"{settings.public_url.rstrip('/')}{message.link}" if message.link else None


def _robot_ok(response: Response, name: str) -> None:
    try:
        answer = response.json()
    except ValueError:
        raise SendError(f"{name}返回的不是JSON") from None
    if answer.get("errcode", 0) != 0:
        raise SendError(f"{name}返回错误 {answer.get('errcode')}：{str(answer.get('errmsg', ''))[:100]}")


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


def send_dingtalk(message: Message, settings: Settings) -> None:
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": message.title[:60], "text": _markdown(message, settings)},
    }
    _robot_ok(post_json(dingtalk_url(message.url, message.secret), payload), "钉钉机器人")


def send_wecom(message: Message, settings: Settings) -> None:
    # WeCom markdown content is limited to 4096 bytes.
    content = _markdown(message, settings).encode()[:4000].decode(errors="ignore")
    _robot_ok(
        post_json(message.url, {"msgtype": "markdown", "markdown": {"content": content}}), "企业微信机器人"
    )
