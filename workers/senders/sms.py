"""SMS: the generic gateway hook, or an adapter for Aliyun or Tencent Cloud SMS.

The configured SMS channel's `options["provider"]` chooses: "generic" (default) is a JSON POST of
{"phone", "text", "ref"} to the gateway the office contracts, with a bearer token, expecting a 2xx;
"aliyun" and "tencent" call the clouds' SendSms with the template the office had approved there
(workers/senders/aliyun.py, workers/senders/tencent.py). Another gateway is another sender:
`workers.senders.register("sms", my_sender)`.
"""

from __future__ import annotations

from tracker.config import Settings
from workers.senders import Message, SendError
from workers.senders.http import post_json

MAX_LENGTH = 300


def sms_text(message: Message) -> str:
    if message.text:  # a citizen message: the office's wording, as rendered
        return message.text[:MAX_LENGTH]
    return f"【政民互动】{message.title}"[:MAX_LENGTH]


def send_generic_sms(message: Message, settings: Settings) -> None:
    headers = {"Authorization": f"Bearer {message.secret}"} if message.secret else {}
    post_json(
        message.url,
        {"phone": message.phone, "text": sms_text(message), "ref": message.delivery_key},
        headers=headers,
    )


def send_sms(message: Message, settings: Settings) -> None:
    if not message.phone:
        raise SendError("收件人没有登记手机号", permanent=True)
    if not message.url:
        raise SendError("未配置短信网关", code="no-gateway")
    provider = (message.options or {}).get("provider") or "generic"
    if provider == "aliyun":
        from workers.senders.aliyun import send_aliyun

        send_aliyun(message, settings)
    elif provider == "tencent":
        from workers.senders.tencent import send_tencent

        send_tencent(message, settings)
    elif provider == "generic":
        send_generic_sms(message, settings)
    else:
        raise SendError(f"未知的短信服务商 {provider!r}", code="provider", permanent=True)
