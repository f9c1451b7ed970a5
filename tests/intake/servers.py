"""Local HTTP servers speaking the platforms' protocols: the Weibo open API (recorded responses) and the
12345 platform's callback endpoint."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

WEIBO_DATA = Path(__file__).parents[1] / "data" / "weibo"
# path → (recorded file, list key, default count): the endpoints the poller reads.
WEIBO_LISTS = {
    "/2/comments/to_me.json": ("comments_to_me.json", "comments", 50),
    "/2/statuses/mentions.json": ("mentions.json", "statuses", 20),
    "/2/comments/mentions.json": ("comment_mentions.json", "comments", 50),
    "/2/direct_messages.json": ("direct_messages.json", "direct_messages", 50),
}
BUSINESS_ONLY = {"/2/direct_messages.json"}
MAX_COUNT = 200
# The API's refusals as it sends them: a 4xx status and a JSON body {"error", "error_code", "request"}.
WEIBO_ERRORS = {
    21327: (403, "expired_token"),
    21332: (401, "invalid_access_token"),
    10014: (403, "Insufficient app permissions!"),
    10023: (403, "User requests out of rate limit!"),
    10024: (403, "User requests for (comments/to_me) out of rate limit!"),
}


@contextmanager
def serve(handler_class, **attributes):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.requests = []
    for name, value in attributes.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def weibo_items() -> dict[str, list[dict]]:
    """The recorded items of each list, to serve (a test may add more)."""
    return {
        path: list(json.loads((WEIBO_DATA / name).read_text(encoding="utf-8"))[key])
        for path, (name, key, _count) in WEIBO_LISTS.items()
    }


def weibo_comment(ident: int, text: str = "咨询：技改补贴何时申报？") -> dict:
    """A comment on the bureau's post, shaped as comments/to_me returns it."""
    return {
        "created_at": "Fri Jun 03 09:00:00 +0800 2011",
        "id": ident,
        "idstr": str(ident),
        "text": text,
        "user": {"id": 1600000000 + ident % 1000, "screen_name": f"网友{ident % 1000}"},
        "status": {"id": 11488058246, "idstr": "11488058246", "user": {"id": 2803301701}},
    }


class WeiboHandler(BaseHTTPRequestHandler):
    """The Weibo open API as documented, on the public host (api.weibo.com) unless `server.business`:

    * lists newest first; `since_id` keeps ids above it, `max_id` ids at or below it, `count` (at most
      200) and `page` cut one page — so with `since_id` alone a backlog's newest page comes back;
    * the business-only private messages are refused on the public host (10014, HTTP 403);
    * errors: a 4xx status and a JSON body. `server.fail_with` = an error code (every call), or
      `server.fail_paths` = {path: code} (calls of that path), or 500 (a bare server error);
    * `server.quota`: calls a token may make (per hour) before 10023;
    * POST /oauth2/get_token_info answers `expire_in` = `server.expire_in` seconds.
    """

    def log_message(self, *args):  # keep test output clean
        pass

    def _answer(self, status: int, document) -> None:
        body = json.dumps(document, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, code: int, path: str) -> None:
        status, error = WEIBO_ERRORS[code]
        self._answer(status, {"error": error, "error_code": code, "request": path})

    def _counted(self, path: str, query: dict) -> bool:
        """Count the call against the token's quota; False (and 10023 sent) when it is spent."""
        token = (query.get("access_token") or [""])[0]
        calls = self.server.__dict__.setdefault("calls", {})
        calls[token] = calls.get(token, 0) + 1
        quota = getattr(self.server, "quota", None)
        if quota is not None and calls[token] > quota:
            self._refuse(10023, path)
            return False
        return True

    def do_POST(self):
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        query = parse_qs(self.rfile.read(length).decode())
        self.server.requests.append((parts.path, query))
        if parts.path != "/oauth2/get_token_info" or getattr(self.server, "no_token_info", False):
            self._answer(404, {"error": "Request Api not found!", "error_code": 10020, "request": parts.path})
            return
        failure = getattr(self.server, "fail_with", None)
        if failure in WEIBO_ERRORS:
            self._refuse(failure, parts.path)
            return
        expire_in = getattr(self.server, "expire_in", 157_679_471)
        self._answer(
            200,
            {"uid": 2803301701, "appkey": "123456", "scope": None, "create_at": 1, "expire_in": expire_in},
        )

    def do_GET(self):
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.server.requests.append((parts.path, query))
        failure = getattr(self.server, "fail_paths", {}).get(
            parts.path, getattr(self.server, "fail_with", None)
        )
        if failure == 500:
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if failure in WEIBO_ERRORS:
            self._refuse(failure, parts.path)
            return
        if parts.path not in WEIBO_LISTS:
            self._answer(404, {"error": "Request Api not found!", "error_code": 10020, "request": parts.path})
            return
        if parts.path in BUSINESS_ONLY and not getattr(self.server, "business", False):
            self._refuse(10014, parts.path)
            return
        if not self._counted(parts.path, query):
            return
        _name, list_key, default_count = WEIBO_LISTS[parts.path]

        def number(name: str, default: int) -> int:
            return int((query.get(name) or [default])[0])

        since_id, max_id = number("since_id", 0), number("max_id", 0)
        count = min(number("count", default_count), MAX_COUNT)
        page = max(1, number("page", 1))
        if not hasattr(self.server, "items"):
            self.server.items = weibo_items()
        items = sorted(self.server.items[parts.path], key=lambda item: int(item["id"]), reverse=True)
        items = [i for i in items if int(i["id"]) > since_id and (not max_id or int(i["id"]) <= max_id)]
        chosen = items[(page - 1) * count : page * count]
        self._answer(
            200,
            {list_key: chosen, "previous_cursor": 0, "next_cursor": 0, "total_number": len(items)},
        )


class CallbackHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, dict(self.headers), body))
        status = getattr(self.server, "status", 200)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b'{"ok": true}')
