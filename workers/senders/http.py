"""A JSON POST over the standard library (no extra dependency), with timeouts and no redirects."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass

from workers.senders import SendError

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
        raise SendError(f"HTTP {exc.code}") from None
