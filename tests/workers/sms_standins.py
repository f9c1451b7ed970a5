"""Local stand-ins for Aliyun SMS and Tencent Cloud SMS, speaking their protocols.

Each checks a request the way the real service does — with its own implementation of the signature,
written here from the services' documentation and not imported from the adapter under test — and answers
in the service's format, with its error codes: a wrong signature, an unknown key, an old timestamp, a
re-used nonce, an unapproved template or signature, missing template variables, an invalid number, a
per-number rate limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.workers.conftest import free_port


class _Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.accepted: list[dict] = []  # the messages the service took
        self.refused: list[str] = []  # the codes it answered with
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = owner.handle(dict(self.headers.items()), body)
                data = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, headers: dict, body: bytes) -> tuple[int, dict]:
        raise NotImplementedError


class AliyunSms(_Server):
    """dysmsapi SendSms (RPC style, 2017-05-25), form POST, HMAC-SHA1 signature."""

    def __init__(self, *, keys: dict[str, str], sign_names: set[str], templates: dict[str, set[str]]) -> None:
        super().__init__()
        self.keys = keys  # AccessKeyId -> AccessKeySecret
        self.sign_names = sign_names
        self.templates = templates  # TemplateCode -> its variables
        self.nonces: set[str] = set()
        self.per_minute = 1  # Aliyun's default per-number limit for one template kind: 1 a minute
        self.sent_to: dict[str, list[float]] = {}

    @staticmethod
    def _percent(value: str) -> str:
        # RFC 3986 as the documentation spells it: encode, then + → %20, * → %2A, %7E → ~.
        return urllib.parse.quote_plus(value).replace("+", "%20").replace("*", "%2A").replace("%7E", "~")

    def expected_signature(self, secret: str, params: dict[str, str]) -> str:
        pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
        canonical = "&".join(f"{self._percent(k)}={self._percent(v)}" for k, v in pairs)
        to_sign = "POST&" + self._percent("/") + "&" + self._percent(canonical)
        mac = hmac.new((secret + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
        return base64.b64encode(mac).decode()

    def _error(self, status: int, code: str, message: str) -> tuple[int, dict]:
        with self.lock:
            self.refused.append(code)
        return status, {"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", "Code": code, "Message": message}

    def handle(self, headers: dict, body: bytes) -> tuple[int, dict]:
        params = dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        for name in ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp", "Action", "Version"):
            if not params.get(name):
                return self._error(400, "MissingParameter", f"{name} is mandatory for this action.")
        if params.get("SignatureMethod") != "HMAC-SHA1" or params.get("SignatureVersion") != "1.0":
            return self._error(400, "InvalidParameter", "SignatureMethod/SignatureVersion")
        secret = self.keys.get(params["AccessKeyId"])
        if secret is None:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if not hmac.compare_digest(params["Signature"], self.expected_signature(secret, params)):
            return self._error(
                400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation."
            )
        stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - stamp).total_seconds()) > 900:
            return self._error(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        with self.lock:
            if params["SignatureNonce"] in self.nonces:
                return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            self.nonces.add(params["SignatureNonce"])
        if params["Action"] != "SendSms" or params["Version"] != "2017-05-25":
            return self._error(404, "InvalidAction.NotFound", "Specified api is not found")
        phone = params.get("PhoneNumbers", "")
        if not (phone.isdigit() and len(phone) == 11 and phone.startswith("1")):
            return self._error(200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号")
        if params.get("SignName") not in self.sign_names:
            return self._error(200, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
        variables = self.templates.get(params.get("TemplateCode", ""))
        if variables is None:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
        try:
            values = json.loads(params.get("TemplateParam") or "{}")
        except ValueError:
            return self._error(200, "isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if not isinstance(values, dict) or not variables <= {k for k, v in values.items() if v}:
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值")
        with self.lock:
            recent = [t for t in self.sent_to.get(phone, []) if time.monotonic() - t < 60]
            if len(recent) >= self.per_minute:
                self.refused.append("isv.BUSINESS_LIMIT_CONTROL")
                return 200, {
                    "RequestId": "x",
                    "Code": "isv.BUSINESS_LIMIT_CONTROL",
                    "Message": "触发分钟级流控Permits:1",
                }
            self.sent_to[phone] = [*recent, time.monotonic()]
            self.accepted.append(params)
        return 200, {
            "RequestId": "A2D5B4A1-0000",
            "BizId": f"{len(self.accepted)}^0",
            "Code": "OK",
            "Message": "OK",
        }


class TencentSms(_Server):
    """SendSms of API 3.0 (2021-01-11), JSON POST, TC3-HMAC-SHA256 in the Authorization header."""

    def __init__(
        self, *, keys: dict[str, str], app_ids: set[str], sign_names: set[str], templates: dict[str, int]
    ) -> None:
        super().__init__()
        self.keys = keys  # SecretId -> SecretKey
        self.app_ids = app_ids
        self.sign_names = sign_names
        self.templates = templates  # TemplateId -> number of parameters
        self.blacklist: set[str] = set()
        self.daily_limit = 10
        self.sent_to: dict[str, int] = {}

    def expected_authorization(self, headers: dict, body: bytes, secret_id: str, secret_key: str) -> str:
        lower = {k.lower(): v for k, v in headers.items()}
        timestamp = int(lower["x-tc-timestamp"])
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        canonical_headers = f"content-type:{lower['content-type']}\nhost:{lower['host']}\n"
        canonical = (
            "POST\n/\n\n" + canonical_headers + "\ncontent-type;host\n" + hashlib.sha256(body).hexdigest()
        )
        scope = f"{date}/sms/tc3_request"
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"

        def step(key: bytes, msg: str) -> bytes:
            return hmac.new(key, msg.encode(), hashlib.sha256).digest()

        signing = step(step(step(("TC3" + secret_key).encode(), date), "sms"), "tc3_request")
        signature = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
        return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders=content-type;host, Signature={signature}"

    def _error(self, code: str, message: str) -> tuple[int, dict]:
        with self.lock:
            self.refused.append(code)
        return 200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "e4d7-0000"}}

    def handle(self, headers: dict, body: bytes) -> tuple[int, dict]:
        lower = {k.lower(): v for k, v in headers.items()}
        authorization = lower.get("authorization", "")
        if not authorization.startswith("TC3-HMAC-SHA256 Credential="):
            return self._error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        secret_id = authorization.split("Credential=", 1)[1].split("/", 1)[0]
        secret_key = self.keys.get(secret_id)
        if secret_key is None:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        if abs(time.time() - int(lower.get("x-tc-timestamp") or 0)) > 300:
            return self._error("AuthFailure.SignatureExpire", "Signature expired.")
        expected = self.expected_authorization(headers, body, secret_id, secret_key)
        if not hmac.compare_digest(authorization, expected):
            return self._error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        if lower.get("x-tc-action") != "SendSms" or lower.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction", "The action does not exist.")
        if not lower.get("x-tc-region"):
            return self._error("MissingParameter", "The request is missing a required parameter `Region`.")
        request = json.loads(body)
        if request.get("SmsSdkAppId") not in self.app_ids:
            return self._error("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verify fail.")
        statuses = []
        for number in request.get("PhoneNumberSet") or []:
            code, message = "Ok", "send success"
            params = request.get("TemplateParamSet") or []
            if not (number.startswith("+861") and len(number) == 14 and number[1:].isdigit()):
                code, message = "InvalidParameterValue.IncorrectPhoneNumber", "incorrect number format"
            elif request.get("SignName") not in self.sign_names:
                code, message = "FailedOperation.SignatureIncorrectOrUnapproved", "signature incorrect"
            elif request.get("TemplateId") not in self.templates:
                code, message = "FailedOperation.TemplateIncorrectOrUnapproved", "template incorrect"
            elif len(params) != self.templates[request["TemplateId"]]:
                code, message = "FailedOperation.TemplateParamSetNotMatchApprovedTemplate", "params not match"
            elif number in self.blacklist:
                code, message = "FailedOperation.PhoneNumberInBlacklist", "phone number in blacklist"
            elif self.sent_to.get(number, 0) >= self.daily_limit:
                code, message = "LimitExceeded.PhoneNumberDailyLimit", "daily limit"
            with self.lock:
                if code == "Ok":
                    self.sent_to[number] = self.sent_to.get(number, 0) + 1
                    self.accepted.append({**request, "PhoneNumber": number})
                else:
                    self.refused.append(code)
            statuses.append(
                {
                    "SerialNo": "5000:1045710669157053657849499619" if code == "Ok" else "",
                    "PhoneNumber": number,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": request.get("SessionContext", ""),
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN",
                }
            )
        return 200, {"Response": {"SendStatusSet": statuses, "RequestId": "a0aabda6-cf91-4f3e-a2a4-0000"}}
