"""A JSON POST over the standard library (no extra dependency), with timeouts and no redirects."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from workers.senders import SendError, Throttled

TIMEOUT_SECONDS = 10


@dataclass
class Response:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body or b"null")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a robot or gateway that redirects is misconfigured
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def encode(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def post_json(
    url: str, payload: dict | None = None, *, body: bytes | None = None, headers: dict | None = None
) -> Response:
    if not url.startswith(("http://", "https://")):
        raise SendError("地址应以 http:// 或 https:// 开头")
    data = body if body is not None else encode(payload or {})
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return Response(answer.status, answer.read(1_000_000))
    except urllib.error.HTTPError as exc:
        if exc.code == 429:
            raise Throttled("HTTP 429", code="HTTP 429", retry_after=_retry_after(exc.headers)) from None
        raise SendError(f"HTTP {exc.code}", code=f"HTTP {exc.code}") from None
    except urllib.error.URLError as exc:
        raise SendError(f"无法连接：{type(exc.reason).__name__}", code="connect") from None
    except OSError as exc:  # a timeout or reset while reading the answer
        raise SendError(f"无法连接：{type(exc).__name__}", code="connect") from None


def _retry_after(headers) -> float:
    try:
        return max(1.0, float(headers.get("Retry-After") or 60))
    except ValueError:  # an HTTP date: wait the usual minute
        return 60.0


def post_raw(url: str, body: bytes, *, headers: dict) -> Response:
    """POST and return the answer whatever its status: the cloud SMS APIs explain a refusal (a bad
    signature, a throttle) in the body of their 4xx, which the caller reads for the service's own code."""
    if not url.startswith(("http://", "https://")):
        raise SendError("地址应以 http:// 或 https:// 开头")
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return Response(answer.status, answer.read(1_000_000))
    except urllib.error.HTTPError as exc:
        try:
            return Response(exc.code, exc.read(1_000_000))
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        raise SendError(f"无法连接：{type(exc.reason).__name__}", code="connect") from None
    except OSError as exc:
        raise SendError(f"无法连接：{type(exc).__name__}", code="connect") from None
