"""Fixtures for task bodies and real workers: a committed scratch database, a real local SMTP server
(aiosmtpd), a local HTTP server speaking the robots' protocol, a private redis-server."""

from __future__ import annotations

import os
import shutil
import socket
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
        self.on_rcpt = None
        self.lock = threading.Lock()

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


class RobotServer:
    """Answers like a DingTalk/WeCom robot (errcode 0), or fails when told to."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict, dict]] = []
        self.fail_paths: set[str] = set()

    def start(self) -> None:
        import json

        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.requests.append((self.path, dict(self.headers), json.loads(body or b"{}")))
                if any(self.path.startswith(p) for p in sink.fail_paths):
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

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
        **extra,
    }
    return Settings.from_env(env), env


def start_worker(
    env: dict, *, name: str, lease_seconds: float = 3, visibility_timeout: int = 4
) -> subprocess.Popen:
    """A real Celery worker subprocess (prefork, one child) with a short lease and visibility timeout."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("run_worker.py")),
            str(lease_seconds),
            str(visibility_timeout),
            "worker",
            "--loglevel=WARNING",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            f"--hostname={name}@%h",
        ],
        env=full_env,
        cwd=str(ROOT),
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
