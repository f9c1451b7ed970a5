"""Aliyun SMS (阿里云短信服务): SendSms of the dysmsapi RPC API, version 2017-05-25.

The request is a form POST of the common parameters (AccessKeyId, Action, Format, RegionId,
SignatureMethod=HMAC-SHA1, SignatureNonce, SignatureVersion=1.0, Timestamp in UTC ISO 8601, Version)
and SendSms's own (PhoneNumbers, SignName, TemplateCode, TemplateParam as a JSON object, OutId). The
signature, per Aliyun's "signature method" for RPC APIs:

    canonicalised = "&".join(enc(k) + "=" + enc(v) for k, v in sorted(params))   # Signature excluded
    string_to_sign = "POST" + "&" + enc("/") + "&" + enc(canonicalised)
    Signature = base64(HMAC-SHA1(AccessKeySecret + "&", string_to_sign))

where enc is RFC 3986 percent-encoding in UTF-8 (space → %20, * → %2A, ~ kept). Success is
{"Code": "OK", "BizId", "RequestId", "Message"}; a refusal names its code ("isv.MOBILE_NUMBER_ILLEGAL",
"SignatureDoesNotMatch" …), explained by tracker.ops.channel_errors.ALIYUN_SMS.

Channel settings: url https://dysmsapi.aliyuncs.com/, secret = AccessKeySecret, options
{"provider": "aliyun", "access_key_id", "sign_name", "region" (default cn-hangzhou)}; each message's
TemplateCode is the office's template's `gateway_template` (docs/citizens.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import quote

from tracker.config import Settings
from tracker.ops.channel_errors import ALIYUN_SMS_PERMANENT, meaning
from workers.senders import Message, SendError
from workers.senders.http import post_raw

VERSION = "2017-05-25"


def enc(value: str) -> str:
    """RFC 3986 percent-encoding as Aliyun's signature wants it (`quote` keeps only A-Z a-z 0-9 - _ . ~)."""
    return quote(str(value), safe="~")


def string_to_sign(method: str, params: dict[str, str]) -> str:
    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in sorted(params.items()) if k != "Signature")
    return f"{method}&{enc('/')}&{enc(canonical)}"


def sign(secret: str, method: str, params: dict[str, str]) -> str:
    digest = hmac.new(
        f"{secret}&".encode(), string_to_sign(method, params).encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def mainland_number(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) != 11 or not digits.startswith("1"):
        raise SendError("手机号不是有效的中国大陆手机号", code="isv.MOBILE_NUMBER_ILLEGAL", permanent=True)
    return digits


def request_params(message: Message, *, now: datetime | None = None, nonce: str | None = None) -> dict:
    options = message.options or {}
    if not options.get("access_key_id") or not options.get("sign_name") or not message.secret:
        raise SendError("阿里云短信未配置 AccessKeyId、AccessKeySecret 或签名", code="config", permanent=True)
    if not message.template_code:
        raise SendError("未配置该告知的阿里云模板代码（TemplateCode）", code="no-template", permanent=True)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "AccessKeyId": options["access_key_id"],
        "Action": "SendSms",
        "Format": "JSON",
        "RegionId": options.get("region") or "cn-hangzhou",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce or uuid.uuid4().hex,
        "SignatureVersion": "1.0",
        "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Version": VERSION,
        "PhoneNumbers": mainland_number(message.phone or ""),
        "SignName": options["sign_name"],
        "TemplateCode": message.template_code,
        "TemplateParam": json.dumps(message.params or {}, ensure_ascii=False, separators=(",", ":")),
        "OutId": message.delivery_key[:64],
    }


def send_aliyun(message: Message, settings: Settings) -> None:
    params = request_params(message)
    params["Signature"] = sign(message.secret, "POST", params)
    body = "&".join(f"{enc(k)}={enc(v)}" for k, v in params.items()).encode()
    answer = post_raw(
        message.url, body, headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    )
    try:
        result = answer.json()
    except ValueError:
        raise SendError(
            f"阿里云短信返回的不是JSON（HTTP {answer.status}）", code=f"HTTP {answer.status}"
        ) from None
    code = str((result or {}).get("Code") or f"HTTP {answer.status}") if isinstance(result, dict) else "?"
    if answer.status == 200 and code == "OK":
        return
    detail = str(result.get("Message", ""))[:100] if isinstance(result, dict) else ""
    raise SendError(
        f"阿里云短信返回 {code}：{meaning('aliyun_sms', code)}（{detail}）",
        code=code,
        permanent=code in ALIYUN_SMS_PERMANENT,
    )
