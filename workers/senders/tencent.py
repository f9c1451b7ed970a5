"""Tencent Cloud SMS (腾讯云短信): SendSms of API 3.0 (version 2021-01-11), signed TC3-HMAC-SHA256.

A JSON POST to https://sms.tencentcloudapi.com/ of {"PhoneNumberSet": ["+86…"], "SmsSdkAppId",
"SignName", "TemplateId", "TemplateParamSet": [...], "SessionContext"}, with the headers X-TC-Action,
X-TC-Version, X-TC-Timestamp, X-TC-Region and Authorization. The signature, per Tencent Cloud's
"Signature v3":

    canonical_request = "POST\\n/\\n\\n" + "content-type:application/json; charset=utf-8\\nhost:HOST\\n"
                        + "\\n" + "content-type;host" + "\\n" + hex(sha256(payload))
    scope = DATE + "/sms/tc3_request"                  # DATE: the timestamp's UTC day, YYYY-MM-DD
    string_to_sign = "TC3-HMAC-SHA256\\n" + TIMESTAMP + "\\n" + scope + "\\n" + hex(sha256(canonical_request))
    key = HMAC(HMAC(HMAC("TC3" + SecretKey, DATE), "sms"), "tc3_request")
    Authorization = "TC3-HMAC-SHA256 Credential=SecretId/" + scope
                    + ", SignedHeaders=content-type;host, Signature=" + hex(HMAC(key, string_to_sign))

An answer is {"Response": {...}}: a refused request has Response.Error {Code, Message}
("AuthFailure.SignatureFailure" …); an accepted one has SendStatusSet with one status per number, whose
Code is "Ok" or the number's own refusal ("LimitExceeded.PhoneNumberDailyLimit" …). Both are explained by
tracker.ops.channel_errors.TENCENT_SMS.

Channel settings: url https://sms.tencentcloudapi.com/, secret = SecretKey, options {"provider":
"tencent", "secret_id", "sdk_app_id", "sign_name", "region" (default ap-guangzhou)}; TemplateId is the
office's template's `gateway_template`, its parameters in the order tracker.notify.citizens.PARAMS gives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from tracker.config import Settings
from tracker.ops.channel_errors import TENCENT_SMS_PERMANENT, TENCENT_SMS_THROTTLE, meaning
from workers.senders import Message, SendError, Throttled
from workers.senders.aliyun import mainland_number
from workers.senders.http import post_raw

VERSION = "2021-01-11"
SERVICE = "sms"
CONTENT_TYPE = "application/json; charset=utf-8"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def authorization(
    secret_id: str, secret_key: str, *, host: str, payload: bytes, timestamp: int
) -> tuple[str, str]:
    """Return (Authorization header, string to sign) for a POST of `payload` to `host`."""
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_request = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    scope = f"{date}/{SERVICE}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), SERVICE), "tc3_request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    header = (
        f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, "
        f"Signature={signature}"
    )
    return header, to_sign


def _param_order(message: Message) -> list[str]:
    from tracker.notify.citizens import PARAMS

    kind = message.kind.removeprefix("citizen.")
    names = PARAMS.get(kind) or tuple(message.params or {})
    return [str((message.params or {}).get(name, "")) for name in names]


def payload(message: Message) -> dict:
    options = message.options or {}
    if not (
        options.get("secret_id") and options.get("sdk_app_id") and options.get("sign_name") and message.secret
    ):
        raise SendError(
            "腾讯云短信未配置 SecretId、SecretKey、SmsSdkAppId 或签名", code="config", permanent=True
        )
    if not message.template_code:
        raise SendError("未配置该告知的腾讯云模板ID（TemplateId）", code="no-template", permanent=True)
    return {
        "PhoneNumberSet": [f"+86{mainland_number(message.phone or '')}"],
        "SmsSdkAppId": str(options["sdk_app_id"]),
        "SignName": options["sign_name"],
        "TemplateId": str(message.template_code),
        "TemplateParamSet": _param_order(message),
        "SessionContext": message.delivery_key[:128],
    }


def _refused(code: str, detail: str) -> SendError:
    text = f"腾讯云短信返回 {code}：{meaning('tencent_sms', code)}（{detail[:100]}）"
    if code in TENCENT_SMS_THROTTLE:
        return Throttled(text, code=code, retry_after=TENCENT_SMS_THROTTLE[code])
    return SendError(text, code=code, permanent=code in TENCENT_SMS_PERMANENT)


def send_tencent(message: Message, settings: Settings) -> None:
    options = message.options or {}
    body = json.dumps(payload(message), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    host = urlsplit(message.url).netloc
    timestamp = int(time.time())
    header, _ = authorization(
        options["secret_id"], message.secret, host=host, payload=body, timestamp=timestamp
    )
    answer = post_raw(
        message.url,
        body,
        headers={
            "Authorization": header,
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": options.get("region") or "ap-guangzhou",
        },
    )
    try:
        response = (answer.json() or {}).get("Response") or {}
    except (ValueError, AttributeError):
        raise SendError(
            f"腾讯云短信返回的不是JSON（HTTP {answer.status}）", code=f"HTTP {answer.status}"
        ) from None
    error = response.get("Error")
    if isinstance(error, dict):
        raise _refused(str(error.get("Code", "?")), str(error.get("Message", "")))
    statuses = response.get("SendStatusSet") or []
    if answer.status != 200 or not statuses:
        raise SendError(f"腾讯云短信未返回发送状态（HTTP {answer.status}）", code=f"HTTP {answer.status}")
    status = statuses[0]
    if str(status.get("Code")) != "Ok":
        raise _refused(str(status.get("Code", "?")), str(status.get("Message", "")))
