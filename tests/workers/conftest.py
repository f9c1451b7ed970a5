"""Fixtures for task bodies and real workers: a committed scratch database, a real local SMTP server
(aiosmtpd), a local HTTP server speaking the robots' protocol, a private redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import create_scratch_pg_database, drop_pg_database
from tracker.clock import BUSINESS_TZ
from tracker.config import Settings
from tracker.migrate import upgrade

ROOT = Path(__file__).resolve().parents[2]


def at(day: str, hhmm: str = "09:00") -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(date.fromisoformat(day), dtime(h, m), tzinfo=BUSINESS_TZ).astimezone(UTC)


def end_of(day: str) -> datetime:
    return at(day, "00:00") + timedelta(days=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _migrated(url: str) -> str:
    from tracker.bootstrap import load_reference_data
    from tracker.db import session_scope

    upgrade(url)
    with session_scope(url) as session:
        load_reference_data(session)
    return url


@pytest.fixture
def scratch_url(blank_database_url):
    """A migrated database whose commits are real (task bodies open their own sessions)."""
    return _migrated(blank_database_url)


@pytest.fixture
def pg_scratch_url(pg_admin_url):
    from tracker.db import dispose_engines

    url = create_scratch_pg_database(pg_admin_url, prefix="tracker_workers")
    try:
        yield _migrated(url)
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, url)


class SmtpSink:
    """A real SMTP server (aiosmtpd) that keeps what it received. `on_rcpt` lets a test act while a
    client is in the middle of a transaction."""

    def __init__(self) -> None:
        self.messages: list = []
        self.encrypted: list[bool] = []  # per message: whether it came over TLS
        self.logins: list[tuple[str, bool]] = []  # (user, over TLS) of every login attempted
        self.on_rcpt = None
        self.lock = threading.Lock()
        # An implicit-TLS listener speaks nothing but TLS (aiosmtpd sets `session.ssl` only on STARTTLS).
        self.tls_only = False

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.on_rcpt is not None:
            delay = self.on_rcpt(len(self.messages))
            if delay:
                import asyncio

                await asyncio.sleep(delay)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
            self.encrypted.append(self.tls_only or session.ssl is not None)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sink.port = port
    yield sink
    controller.stop()


SMTP_USER, SMTP_PASSWORD = "tracker", "smtp-pass-2026"


@pytest.fixture
def tls_smtp(tmp_path):
    """Start SMTP servers as mail services run them, with a certificate from a private CA:
    `tls_smtp("implicit")` speaks TLS from the first byte (port 465, RFC 8314); `tls_smtp("starttls")`
    offers STARTTLS and refuses mail until it is used; `tls_smtp("plain")` offers no TLS at all.
    `login=True` asks for a user (only over TLS, as aiosmtpd does by default); `hosts` are the names the
    certificate is for. Returns the sink, with `.port` and `.certificate` (its `ca_file` to configure)."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    from tests.workers.tls import make_certificate

    controllers = []

    def start(mode: str, *, login: bool = False, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")):
        sink = SmtpSink()
        certificate = make_certificate(tmp_path / f"tls-{len(controllers)}", hosts=hosts)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate.cert_file, certificate.key_file)

        def authenticator(server, session, envelope, mechanism, auth_data):
            user = auth_data.login.decode()
            sink.logins.append((user, sink.tls_only or session.ssl is not None))
            return AuthResult(success=user == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD)

        options: dict = {"authenticator": authenticator, "auth_required": login}
        if mode == "implicit":
            # aiosmtpd counts only STARTTLS as "TLS" when deciding to offer AUTH; here every byte is
            # encrypted from the start, so the requirement holds by construction.
            # (aiosmtpd then warns against *requiring* AUTH, so it is offered, and the test checks it
            # was used.)
            options.update(ssl_context=context, auth_require_tls=False, auth_required=False)
            sink.tls_only = True
        elif mode == "starttls":
            options.update(tls_context=context, require_starttls=True)
        port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=port, **options)
        controller.start()
        controllers.append(controller)
        sink.port, sink.certificate = port, certificate
        return sink

    yield start
    for controller in controllers:
        controller.stop()


class RobotServer:
    """Answers like a DingTalk/WeCom robot: errcode 0, until a robot (a path) has taken `per_minute`
    messages in a minute — then, as the real ones do, errcode 130101 (DingTalk, paths starting /ding,
    throttled for 10 minutes) or 45009 (WeCom, /wecom) with HTTP 200. `throttled` throttles every robot
    now; `fail_paths` answer HTTP 500."""

    THROTTLE = {
        "/ding": (130101, "send too fast, exceed 20 times per minute", 600),
        "/wecom": (45009, "api freq out of limit", 60),
    }

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail_paths: set[str] = set()
        self.per_minute = 20
        self.throttled = False
        self.sent: dict[str, list[float]] = {}  # robot path → when each message was accepted
        self.throttled_until: dict[str, float] = {}

    def robot_answer(self, path: str) -> dict:
        robot = path.split("?")[0]
        kind = next((k for k in self.THROTTLE if robot.startswith(k)), None)
        if kind is None:
            return {"errcode": 0, "errmsg": "ok"}
        code, text, seconds = self.THROTTLE[kind]
        moment = time.monotonic()
        recent = [t for t in self.sent.get(robot, []) if moment - t < 60]
        if self.throttled or moment < self.throttled_until.get(robot, 0) or len(recent) >= self.per_minute:
            self.throttled_until.setdefault(robot, moment + seconds)
            return {"errcode": code, "errmsg": text}
        self.sent[robot] = [*recent, moment]
        return {"errcode": 0, "errmsg": "ok"}

    def accepted(self, prefix: str) -> list[dict]:
        """The bodies the robots under ``prefix`` accepted (errcode 0)."""
        return [body for path, _, body, ok in self.answered if path.startswith(prefix) and ok]

    def start(self) -> None:
        import json

        sink = self
        sink.answered: list[tuple[str, dict, dict, bool]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = json.loads(body or b"{}")
                sink.requests.append((self.path, dict(self.headers), payload))
                if any(self.path.startswith(p) for p in sink.fail_paths):
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = sink.robot_answer(self.path)
                sink.answered.append((self.path, dict(self.headers), payload, answer["errcode"] == 0))
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def robot_server():
    server = RobotServer()
    server.start()
    yield server
    server.stop()


class RedisProcess:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def private_redis():
    if shutil.which("redis-server") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("redis-server is required when CI=true")
        pytest.skip("redis-server binary not installed")
    redis = RedisProcess(free_port())
    redis.start()
    yield redis
    redis.stop()


def worker_settings(
    tmp_path: Path, database_url: str, broker_url: str, **extra: str
) -> tuple[Settings, dict]:
    env = {
        "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
        "TRACKER_DATABASE_URL": database_url,
        "TRACKER_BROKER_URL": broker_url,
        "TRACKER_SECRET_KEY": "test-secret-key",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        **extra,
    }
    return Settings.from_env(env), env


def start_worker(
    env: dict,
    *,
    name: str,
    lease_seconds: float = 3,
    visibility_timeout: int = 4,
    loglevel: str = "WARNING",
    stderr=None,
) -> subprocess.Popen:
    """A real Celery worker subprocess (prefork, one child) with a short lease and visibility timeout,
    consuming every queue (as `tracker run` does)."""
    from workers.queues import QUEUES

    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("run_worker.py")),
            str(lease_seconds),
            str(visibility_timeout),
            "worker",
            f"--loglevel={loglevel}",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={name}@%h",
            f"--queues={','.join(QUEUES)}",
        ],
        env=full_env,
        cwd=str(ROOT),
        stderr=stderr,
        start_new_session=True,
    )


def stop_process(proc: subprocess.Popen, sig=None) -> None:
    import signal

    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig or signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_for(predicate, timeout: float = 60, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")
