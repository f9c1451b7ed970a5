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
ROUTES = {
    "/2/comments/to_me.json": "comments_to_me.json",
    "/2/statuses/mentions.json": "mentions.json",
    "/2/direct_messages.json": "direct_messages.json",
}


@contextmanager
def serve(handler_class):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


class WeiboHandler(BaseHTTPRequestHandler):
    """Serves the recorded responses; `server.fail_with` switches to an API error or HTTP 500."""

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        parts = urlsplit(self.path)
        self.server.requests.append((parts.path, parse_qs(parts.query)))
        failure = getattr(self.server, "fail_with", None)
        if failure == 500:
            self.send_response(500)
            self.end_headers()
            return
        if failure == "token":
            body = (WEIBO_DATA / "error_expired_token.json").read_bytes()
        elif parts.path in ROUTES and "since_id" not in parse_qs(parts.query):
            body = (WEIBO_DATA / ROUTES[parts.path]).read_bytes()
        elif parts.path in ROUTES:
            list_key = {"comments_to_me.json": "comments", "mentions.json": "statuses"}.get(
                ROUTES[parts.path], "direct_messages"
            )
            body = json.dumps({list_key: [], "total_number": 0}).encode()
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.end_headers()
        self.wfile.write(body)


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
