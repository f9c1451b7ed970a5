"""Optional error reporting: with TRACKER_SENTRY_DSN set, an unhandled error of a request reaches a
Sentry-compatible server as an envelope — here a local HTTP stand-in that receives what GlitchTip or
Sentry would (POST /api/<project>/envelope/). What is sent leaves out the request body, cookies and
local variables (personal data); it names the request id."""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tracker.ops.errorreport import shutdown_error_reporting
from web import create_app


class SentryStandIn:
    """Receives envelopes as a Sentry server's ingest endpoint does and answers 200."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[str, dict, list[dict]]] = []
        self.received = threading.Event()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli

                    body = brotli.decompress(body)
                lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                stand_in.envelopes.append((self.path, dict(self.headers), lines))
                stand_in.received.set()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://publickey@127.0.0.1:{self.server.server_address[1]}/42"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [line for _, _, lines in self.envelopes for line in lines if "exception" in line]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stand_in():
    server = SentryStandIn()
    yield server
    shutdown_error_reporting()
    server.close()


def test_an_unhandled_error_reaches_the_stand_in(settings, session_factory, stand_in):
    configured = dataclasses.replace(settings, sentry_dsn=stand_in.dsn)
    app = create_app({"SESSION_FACTORY": session_factory}, settings=configured)

    def broken():
        citizen_phone = "13812345678"  # a local variable holding personal data
        raise RuntimeError(f"broken view {len(citizen_phone)}")

    # Under /api/, where no CSRF token is asked for: the body reaches the view.
    app.add_url_rule("/api/_test/broken", view_func=broken, methods=["POST"])
    client = app.test_client()
    client.set_cookie("tracker_session", "secret-session-cookie")
    response = client.post(
        "/api/_test/broken?phone=13812345678",
        json={"body": "李建国 身份证110105194912310021"},
        headers={"X-Request-ID": "req-sentry-77"},
    )
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-sentry-77"
    shutdown_error_reporting()  # flushes what is queued

    assert stand_in.envelopes, "no envelope reached the stand-in"
    path, headers, _ = stand_in.envelopes[0]
    assert path == "/api/42/envelope/"
    assert "sentry_key=publickey" in headers.get("X-Sentry-Auth", "")
    (event,) = stand_in.events()
    (exception,) = event["exception"]["values"]
    assert exception["type"] == "RuntimeError" and exception["value"] == "broken view 11"
    assert event["tags"]["request_id"] == "req-sentry-77"
    sent = json.dumps(stand_in.envelopes, ensure_ascii=False)
    for personal in ("13812345678", "李建国", "110105194912310021", "secret-session-cookie"):
        assert personal not in sent, f"{personal} left the server"


def test_without_a_dsn_nothing_is_sent(settings, session_factory, stand_in):
    app = create_app({"SESSION_FACTORY": session_factory}, settings=settings)

    def broken():
        raise RuntimeError("nobody hears this")

    app.add_url_rule("/_test/broken", view_func=broken)
    assert app.test_client().get("/_test/broken").status_code == 500
    shutdown_error_reporting()
    assert stand_in.envelopes == []
