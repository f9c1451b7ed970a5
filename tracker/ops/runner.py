"""`tracker run`: web server, one Celery worker and beat, together, for the embedded default.

Production runs them as separate services (docker-compose.yml); this is the one-command version.
Ctrl-C (or SIGTERM) stops all three; if the worker or beat dies, everything stops rather than
running half a product.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tracker.config import Settings

STOP_GRACE_SECONDS = 20


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "workers.celery_app:celery", *args]


def worker_command(settings: Settings) -> list[str]:
    """One worker for every queue (production gives the imports a worker of their own)."""
    from workers.queues import QUEUES

    # SQLite allows one writer at a time: one worker process with a solo pool avoids lock contention.
    pool = ["--pool=solo"] if settings.is_embedded else ["--concurrency=2"]
    return _celery("worker", "--loglevel=INFO", f"--queues={','.join(QUEUES)}", *pool)


def run_all(settings: Settings, *, host: str, port: int) -> int:
    from web import create_app
    from web.server import make_embedded_server

    env = {**os.environ, "TRACKER_INSTANCE_DIR": str(settings.instance_dir)}
    beat_pid = str(settings.instance_dir / "beat.pid")
    children = {
        "worker": subprocess.Popen(worker_command(settings), env=env),
        "beat": subprocess.Popen(_celery("beat", "--loglevel=INFO", "--pidfile", beat_pid), env=env),
    }
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    server = make_embedded_server(host, port, create_app(settings=settings))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"政民互动工单系统已启动：http://{host}:{port}  （Ctrl-C 停止）", flush=True)

    exit_code = 0
    while not stop.wait(1):
        for name, child in children.items():
            if child.poll() is not None:
                print(
                    f"{name} 已退出（返回码 {child.returncode}），正在停止全部服务。",
                    file=sys.stderr,
                    flush=True,
                )
                exit_code = 1
                stop.set()

    print("正在停止……", flush=True)
    server.shutdown()
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return exit_code
