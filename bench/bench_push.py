"""Benchmark: the 12345 push endpoint under gunicorn on loopback.

Measured: POST /api/v1/intake/hotline, each request a new signed work order (HMAC-SHA256 over method, path,
query, timestamp, nonce and body hash; the nonce recorded and committed before the work), sent by a second process with keep-alive connections from several threads; the server writes the
ticket, its contact, the `ticket.created` event, the outbox row and the statutory deadlines per request
(on PostgreSQL in one statement, tracker.workflow.opening.open_if_new). The scratch database is
BENCH_PUSH_DB (default bench_intake_push), the broker BENCH_PUSH_BROKER_URL.
gunicorn runs with the deployment's own settings (gunicorn.conf.py, as the Dockerfile and docker-compose).
Reported: requests/s and p50/p99 latency. Baseline in the same run against the same server: GET
/api/v1/openapi.json (no database, no signature) — the cost of gunicorn + Flask + the loopback itself.
Targets (issue 4): ≥ 300 requests/s with p99 ≤ 100 ms on this 2-core machine.

    python bench/bench_push.py [--write] [--seconds S] [--runs R] [--workers W] [--clients C]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The personal-data key of the scratch databases (tracker.pii; a production database needs one): fixed,
# public, never a real key. A key set in the environment wins.
os.environ.setdefault("TRACKER_PII_KEYS", "bench:YmVuY2ggb25seSAtLSBub3QgYSByZWFsIGtleSEhISE=")

PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
# Its own scratch database: several people may run benchmarks against one PostgreSQL server.
DB_NAME = os.environ.get("BENCH_PUSH_DB", "bench_intake_push")
SECRET_KEY = "bench-push-secret-key"
# Production's broker: each write request relays its outbox rows after the response (web/views/notifications.py).
# A Redis database of its own, emptied of what this benchmark queued when it ends.
BROKER_URL = os.environ.get("BENCH_PUSH_BROKER_URL", "redis://127.0.0.1:6379/13")
TARGET_RPS = 300
TARGET_P99_MS = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database() -> tuple[str, str, str]:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    url = f"{PG_SERVER}/{DB_NAME}"
    from tracker.bootstrap import load_reference_data
    from tracker.clock import utcnow
    from tracker.db import dispose_engines, session_scope
    from tracker.intake.apikeys import create_api_key
    from tracker.migrate import upgrade
    from tracker.people.service import create_department

    upgrade(url)
    with session_scope(url) as session:
        load_reference_data(session)
        create_department(session, code="bureau", name="市工业和信息化局", parent_code=None)
        key, secret = create_api_key(session, SECRET_KEY, name="12345平台", channel="hotline", now=utcnow())
        key_id = key.key_id
    dispose_engines()
    return url, key_id, secret


def analyze(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ANALYZE"))
    engine.dispose()


def drop_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)'))
    admin.dispose()


def start_server(url: str, port: int, workers: int | None, instance: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": url,
        "TRACKER_SECRET_KEY": SECRET_KEY,
        "TRACKER_BROKER_URL": BROKER_URL,
        "TRACKER_INSTANCE_DIR": instance,
        "TRACKER_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            # The deployment's own settings (workers, worker class, keep-alive), only bound to loopback here.
            "-c",
            str(ROOT / "gunicorn.conf.py"),
            *(["-w", str(workers)] if workers else []),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "web.wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("gunicorn did not start")


def gunicorn_settings(workers: int | None) -> str:
    """The worker settings the benchmark ran with, as gunicorn.conf.py (and --workers) set them."""
    conf: dict = {}
    exec((ROOT / "gunicorn.conf.py").read_text(), conf)
    processes = workers or conf["workers"]
    if conf["worker_class"] == "gthread":
        return f"{processes} gthread workers × {conf['threads']} threads, keep-alive {conf['keepalive']} s"
    return f"{processes} {conf['worker_class']} workers"


def _client(port: int, key_id: str, secret: str, mode: str, seconds: float, prefix: str, out: list) -> None:
    from tracker.intake.apikeys import signed_headers

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors, n = [], 0, 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += 1
        started = time.perf_counter()
        if mode == "push":
            body = json.dumps(
                {
                    "order_no": f"{prefix}-{n}",
                    "accepted_at": "2026-11-24 09:30:00",
                    "request_type": "投诉",
                    "content": f"小区旁工厂夜间噪音扰民，第{n}次反映，请尽快处理。",
                    "title": "夜间噪音",
                    "name": "李先生",
                    "phone": f"139{abs(hash(prefix)) % 10000:04d}{n % 10000:04d}",
                },
                ensure_ascii=False,
            ).encode()
            path = "/api/v1/intake/hotline"
            headers = signed_headers(key_id, secret, method="POST", url=path, body=body)
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            expected = 201
        else:
            conn.request("GET", "/api/v1/openapi.json")
            expected = 200
        response = conn.getresponse()
        response.read()
        if response.status != expected:
            errors += 1
        latencies.append(time.perf_counter() - started)
    conn.close()
    out.append((latencies, errors))


def load_process(
    port: int, key_id: str, secret: str, mode: str, seconds: float, clients: int, run: int, queue
) -> None:
    results: list = []
    threads = [
        threading.Thread(
            target=_client, args=(port, key_id, secret, mode, seconds, f"R{run}C{i}-{mode}", results)
        )
        for i in range(clients)
    ]
    started, cpu_started = time.perf_counter(), _own_cpu()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, client_cpu = time.perf_counter() - started, _own_cpu() - cpu_started
    latencies = sorted(x for lat, _ in results for x in lat)
    queue.put(
        {
            "requests": len(latencies),
            "errors": sum(e for _, e in results),
            "seconds": elapsed,
            "rps": len(latencies) / elapsed,
            "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "client_cpu": client_cpu,
        }
    )


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


class CpuMeter:
    """CPU seconds the server spent: gunicorn's processes (workers with their relay threads) and the
    PostgreSQL backends serving the benchmark's database. Unlike wall-clock figures these hardly move
    when other work shares the machine."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def _server_pids(self) -> list[int]:
        try:
            children = Path(f"/proc/{self.server_pid}/task/{self.server_pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.server_pid, *(int(pid) for pid in children)]

    def _backend_pids(self) -> list[int]:
        from sqlalchemy import create_engine, text

        admin = create_engine(f"{PG_SERVER}/postgres")
        with admin.connect() as conn:
            pids = conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"), {"name": DB_NAME}
            ).scalars()
            pids = list(pids)
        admin.dispose()
        return pids

    @staticmethod
    def sessions_opened() -> int:
        """Connections ever opened to the benchmark's database: a backend that started and exited between
        two snapshots spent CPU that `spent` cannot see, so the runs report how many there were."""
        from sqlalchemy import create_engine, text

        admin = create_engine(f"{PG_SERVER}/postgres")
        with admin.connect() as conn:
            opened = conn.execute(
                text("SELECT sessions FROM pg_stat_database WHERE datname = :name"), {"name": DB_NAME}
            ).scalar_one()
        admin.dispose()
        return opened

    def snapshot(self) -> dict[str, dict[int, float]]:
        from bench.run import process_cpu_seconds

        return {
            kind: {pid: process_cpu_seconds(pid) or 0.0 for pid in pids}
            for kind, pids in (("server", self._server_pids()), ("database", self._backend_pids()))
        }

    @staticmethod
    def spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
        """CPU seconds by kind between two snapshots; a process that started in between counts from 0."""
        return {
            kind: sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items()) for kind in after
        }


def measure(meter: CpuMeter, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=load_process, args=(*args, queue))
    before, opened_before = meter.snapshot(), CpuMeter.sessions_opened()
    process.start()
    result = queue.get()
    process.join()
    spent = CpuMeter.spent(before, meter.snapshot())
    result["sessions_opened"] = CpuMeter.sessions_opened() - opened_before
    # CPU milliseconds per request: what the server, PostgreSQL and the load generator each spent.
    for kind, seconds in (*spent.items(), ("client", result["client_cpu"])):
        result[f"{kind}_ms"] = seconds * 1000 / result["requests"]
    return result


def _clear_broker() -> None:
    import redis

    client = redis.Redis.from_url(BROKER_URL)
    keys = [k for k in client.scan_iter() if k == b"celery" or k.startswith(b"_kombu.binding")]
    if keys:
        client.delete(*keys)


CPU_KINDS = ("server", "database", "client")


def _cpu_split(figures: dict) -> str:
    """'12.3 ms (server 8.0 + PostgreSQL 3.1 + load generator 1.2)' from the *_ms figures of a run."""
    server, database, client = (
        figures[kind] if kind in figures else figures[f"{kind}_ms"] for kind in CPU_KINDS
    )
    return (
        f"{server + database + client:.1f} ms (server {server:.1f} + PostgreSQL {database:.1f}"
        f" + load generator {client:.1f})"
    )


def load_avg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", action="store_true")
    small = os.environ.get("BENCH_SCALE") == "small"
    parser.add_argument("--seconds", type=float, default=5 if small else 15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=None, help="default: gunicorn.conf.py's")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    load_before = load_avg()
    url, key_id, secret = prepare_database()
    port = free_port()
    pushes, baselines = [], []
    with tempfile.TemporaryDirectory() as instance:
        server = start_server(url, port, args.workers, instance)
        meter = CpuMeter(server.pid)
        try:
            # Warm-up: every worker loads its lazy parts (the jieba dictionary for the search index, the
            # calendar, the connection pool) before anything is timed.
            measure(meter, port, key_id, secret, "push", 10.0, args.clients, -1)
            # Statistics of the tables the warm-up filled, as autovacuum's ANALYZE has them within its
            # naptime in production: without any, PostgreSQL may find a work order by channel through
            # ix_tickets_channel_received and filter every ticket of the channel (the unique index on
            # channel + external_ref ties with it on estimated cost), a cost that grows run after run.
            analyze(url)
            for run in range(args.runs):
                baselines.append(
                    measure(meter, port, key_id, secret, "baseline", args.seconds, args.clients, run)
                )
                pushes.append(measure(meter, port, key_id, secret, "push", args.seconds, args.clients, run))
                print(
                    f"run {run + 1}: push {pushes[-1]['rps']:.0f} req/s p99 {pushes[-1]['p99']:.1f} ms "
                    f"(errors {pushes[-1]['errors']}); CPU ms/request {_cpu_split(pushes[-1])}, "
                    f"PostgreSQL sessions opened {pushes[-1]['sessions_opened']}; "
                    f"baseline {baselines[-1]['rps']:.0f} req/s p99 {baselines[-1]['p99']:.1f} ms, "
                    f"CPU ms/request {_cpu_split(baselines[-1])}",
                    flush=True,
                )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
            from tracker.db import dispose_engines

            dispose_engines()
            drop_database()
            _clear_broker()
    rps = statistics.median(r["rps"] for r in pushes)
    p99 = statistics.median(r["p99"] for r in pushes)
    p50 = statistics.median(r["p50"] for r in pushes)
    base_rps = statistics.median(r["rps"] for r in baselines)
    base_p99 = statistics.median(r["p99"] for r in baselines)
    errors = sum(r["errors"] for r in pushes)
    sessions_opened = sum(r["sessions_opened"] for r in pushes)
    cpu = {kind: statistics.median(r[f"{kind}_ms"] for r in pushes) for kind in CPU_KINDS}
    base_cpu = {kind: statistics.median(r[f"{kind}_ms"] for r in baselines) for kind in CPU_KINDS}
    met_rps, met_p99 = rps >= TARGET_RPS, p99 <= TARGET_P99_MS
    runs = ", ".join(f"{r['rps']:.0f}" for r in pushes)
    server = gunicorn_settings(args.workers)
    body = f"""## Push: the 12345 intake endpoint under gunicorn

`bench/bench_push.py` — gunicorn with the deployment's `gunicorn.conf.py` ({server}) on loopback against a
freshly migrated PostgreSQL database; a second process sends new signed work orders from {args.clients}
keep-alive connections for {args.seconds:.0f} s per run (after a warm-up); each request checks its
signature, records its nonce and commits (replay refusal), then writes ticket, contact (its personal data
encrypted, with blind indexes), `ticket.created` event, outbox row and the sign/reply deadlines in one
statement prepared on its connection (look-up and phone-duplicate check included; foreign keys checked)
and commits, and after the response wakes its process's relay thread,
which publishes the outbox to the broker (Redis) 50 ms later with what other requests wrote meanwhile, in
one pipeline, as in production. The search index row is left to the `ticket.created` consumer (no Celery worker runs here). Baseline: GET /api/v1/openapi.json on the
same server (no database, no signature). The database is analysed after the warm-up (as autovacuum would
be within its naptime). Median of {args.runs} runs; {errors} failed requests.

| | median | runs | baseline | ratio | target | met |
|---|---|---|---|---|---|---|
| requests/s | {rps:.0f} | {runs} | {base_rps:.0f} | {base_rps / rps:.1f}× fewer than baseline | ≥ {TARGET_RPS} | {"yes" if met_rps else "**no**"} |
| p99 latency | {p99:.1f} ms (p50 {p50:.1f} ms) | | {base_p99:.1f} ms | | ≤ {TARGET_P99_MS} ms | {"yes" if met_p99 else "**no**"} |
| CPU per request | {_cpu_split(cpu)} | | {_cpu_split(base_cpu)} | {sum(cpu.values()) / sum(base_cpu.values()):.1f}× the baseline's | | |

CPU per request is what gunicorn's processes (workers and their relay threads), the PostgreSQL backends and
the load generator each spent, divided by the requests answered: it moves far less than req/s when the
machine is shared. A backend that exits during a run is not counted: {sessions_opened} PostgreSQL sessions
were opened during the timed push runs (each worker keeps its connections, tracker/db.py `POOL_SIZE`). At 300 requests/s two cores allow {2000 / TARGET_RPS:.1f} ms of CPU per request for all three together.

Load average (1, 5, 15 min) before / after: {load_before} / {load_avg()} — the load generator, gunicorn and
PostgreSQL share the machine's 2 cores.
"""
    print(body)
    if args.write:
        from bench.run import write_section

        write_section("push", body)
    return 0 if (met_rps and met_p99 and errors == 0) else 1


if __name__ == "__main__":
    sys.exit(main())
