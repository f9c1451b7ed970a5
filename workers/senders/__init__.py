"""Notification senders, one per medium. Pluggable: `register(medium, sender)`.

A sender takes a `Message` (everything already loaded from the database, so no session is held while a
slow network call runs) and raises `SendError` (or any exception) when the channel refused or failed.
Messages and errors carry no secrets: a robot's signing key or a gateway token is used, never logged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tracker.config import Settings


class SendError(Exception):
    """The channel answered, but refused (a robot's errcode, an SMTP rejection, an HTTP 4xx/5xx)."""


@dataclass(frozen=True)
class Message:
    delivery_id: int
    delivery_key: str
    medium: str
    title: str
    body: str
    link: str | None
    kind: str
    ticket_number: str | None = None
    recipient_name: str | None = None
    email: str | None = None
    phone: str | None = None
    url: str | None = None
    secret: str | None = field(default=None, repr=False)


Sender = Callable[[Message, Settings], None]
SENDERS: dict[str, Sender] = {}


def register(medium: str, sender: Sender) -> None:
    SENDERS[medium] = sender


def send(message: Message, settings: Settings) -> None:
    try:
        sender = SENDERS[message.medium]
    except KeyError:
        raise SendError(f"没有“{message.medium}”的发送程序") from None
    sender(message, settings)


def _register_builtin() -> None:
    from workers.senders import email, sms, webhook

    register("email", email.send_email)
    register("sms", sms.send_sms)
    register("webhook", webhook.send_generic)
    register("dingtalk", webhook.send_dingtalk)
    register("wecom", webhook.send_wecom)


_register_builtin()
