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
    """The channel answered, but refused (a robot's errcode, an SMTP rejection, an HTTP 4xx/5xx).

    `code` is the channel's own code for it ("130101", "535", "HTTP 403", "tls" …), which
    tracker.ops.channel_errors explains to the operator.
    """

    def __init__(self, message: str, *, code: str | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        # Trying again cannot help (an invalid number, an unapproved template): fail the delivery now.
        self.permanent = permanent


class Throttled(SendError):
    """The channel said "too fast" (DingTalk 130101, WeCom 45009, HTTP 429): wait, then send again —
    not a failed attempt."""

    def __init__(self, message: str, *, code: str, retry_after: float) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


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
    channel_id: int | None = None  # the configured channel (robot, webhook, SMS gateway) it goes through
    # SMS gateways with approved templates (Aliyun, Tencent): the provider and its settings, the template
    # code and its parameters; `text` is the rendered wording, for gateways that take free text.
    options: dict = field(default_factory=dict)
    template_code: str | None = None
    params: dict = field(default_factory=dict)
    text: str | None = None


Sender = Callable[[Message, Settings], None]
BatchSender = Callable[[list[Message], Settings], None]
SENDERS: dict[str, Sender] = {}
# Media whose burst of messages goes out as one digest (group robots: 20 messages a minute each).
BATCH_SENDERS: dict[str, BatchSender] = {}


def register(medium: str, sender: Sender, *, batch: BatchSender | None = None) -> None:
    SENDERS[medium] = sender
    if batch is not None:
        BATCH_SENDERS[medium] = batch


def send_batch(messages: list[Message], settings: Settings) -> None:
    """One message as itself; several for one robot as one digest."""
    if len(messages) == 1:
        send(messages[0], settings)
        return
    try:
        sender = BATCH_SENDERS[messages[0].medium]
    except KeyError:
        raise SendError(f"“{messages[0].medium}”不能合并发送") from None
    sender(messages, settings)


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
    register("dingtalk", webhook.send_dingtalk, batch=webhook.send_dingtalk_digest)
    register("wecom", webhook.send_wecom, batch=webhook.send_wecom_digest)


_register_builtin()
