"""The SMS gateway hook: a JSON POST to the gateway the office contracts, with a bearer token.

Gateways differ; this one speaks {"phone", "text", "ref"} and expects a 2xx. Another gateway is another
sender: `workers.senders.register("sms", my_sender)`.
"""

from __future__ import annotations

from tracker.config import Settings
from workers.senders import Message, SendError
from workers.senders.http import post_json

MAX_LENGTH = 300


def sms_text(message: Message) -> str:
    return f"【政民互动】{message.title}"[:MAX_LENGTH]


def send_sms(message: Message, settings: Settings) -> None:
    if not message.phone:
        raise SendError("收件人没有登记手机号")
    headers = {"Authorization": f"Bearer {message.secret}"} if message.secret else {}
    post_json(
        message.url,
        {"phone": message.phone, "text": sms_text(message), "ref": message.delivery_key},
        headers=headers,
    )
