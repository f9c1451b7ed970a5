"""Benchmark the deadline sweep: its cost follows the number of deadlines due, not the number open.

Run: ``.venv/bin/python bench/bench_sweep.py [--write] [--keep]`` (``BENCH_SCALE=small``: 10,000 → 100,000
open tickets with 1,000 due). Into a scratch PostgreSQL database of its own, `bench.generate.generate`
loads 100,000 open tickets of which 10,000 have a running deadline whose next check has come; the sweep is
measured; then 900,000 more open tickets, none due, are added (1,000,000 open, still 10,000 due) and the
sweep is measured again.

One sweep = what the `reminders.sweep` task does: `tracker.reminders.sweep.sweep_due` in batches of 1,000 until
nothing is due (lock with SKIP LOCKED, mark breaches, one in-app notification per reminder and recipient —
its own "sent once" ledger entry —, move next_check_at on) plus `tracker.notify.service.plan_for` (the e-mail
deliveries of the notifications just made), in the task's two lanes on PostgreSQL (two threads, each with
its own connection and batches: `sweep_all(lanes=…)`) — each lane in one transaction that is rolled back
afterwards, so every run sweeps the same 10,000, and the written tables are vacuumed before the next run
(untimed, as autovacuum would between sweeps). Median of several runs. Beside the wall time, the CPU time
of the sweep process and of its PostgreSQL backends (from /proc, when the server runs on this machine):
those move far less than wall time on a busy machine.

Baselines, in the same run, on the same data: (1) a plain ``SELECT`` of the due rows through the index —
the least any sweep must do; (2) the same ``SELECT`` with index scans disabled (what a sweep without the
partial index would cost: a scan of every deadline). Target (issue 5): one sweep ≤ 2 s at 1,000,000 open,
and flat from 100,000 to 1,000,000.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from bench.run import process_cpu_seconds  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = os.environ.get("BENCH_SWEEP_DB", "bench_sweep")  # helpers sharing a server pick their own
RUNS = 5
TARGET_SECONDS = 2.0
SECTION = "sweep"
DOC = ROOT / "docs" / "benchmarks.md"
DUE_SQL = (
    "SELECT id FROM deadlines WHERE state IN ('running', 'breached') AND next_check_at <= :now "
    "ORDER BY next_check_at"
)


def database_url() -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME


def _admin(sql: str) -> None:
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def _sweep_once(url: str, now: datetime) -> tuple[float, dict[str, int]]:
    """One whole sweep as the task runs it (its batch size and lanes), in transactions rolled back after.

    Each lane (thread) gets a session of its own, kept for all its batches and rolled back at the end, so
    every run sweeps the same rows; the PostgreSQL CPU is that of every lane's backend.
    """
    import threading
    from dataclasses import asdict

    from tracker.db import session_factory
    from tracker.reminders.sweep import sweep_all
    from workers.tasks.reminders import SWEEP_BATCH, sweep_lanes

    make_session, lanes = session_factory(url), sweep_lanes(url)
    sessions = [make_session() for _ in range(lanes)]
    free, taken, lock = list(sessions), {}, threading.Lock()

    def transaction():
        with lock:
            if threading.get_ident() not in taken:
                taken[threading.get_ident()] = free.pop()
            return contextlib.nullcontext(taken[threading.get_ident()])

    try:
        pids = [s.scalar(text("SELECT pg_backend_pid()")) for s in sessions]
        servers = [process_cpu_seconds(pid) for pid in pids]
        started, cpu = time.perf_counter(), time.process_time()
        totals = asdict(sweep_all(transaction, now=now, batch=SWEEP_BATCH, media=("email",), lanes=lanes))
        elapsed = time.perf_counter() - started
        totals["client_cpu"] = time.process_time() - cpu
        after_servers = [process_cpu_seconds(pid) for pid in pids]
        if None not in servers and None not in after_servers:
            totals["server_cpu"] = sum(after_servers) - sum(servers)
    finally:
        for session in sessions:
            session.rollback()  # every run sweeps the same rows
            session.close()
    return elapsed, totals


def _vacuum(url: str) -> None:
    """Clear what a rolled-back run leaves behind (untimed): what autovacuum does between real sweeps.

    Each run's inserts and updates are rolled back, but their dead row versions stay in the tables and
    indexes; without this every later run reads through the earlier runs' garbage, and the statistics of
    the tables the sweep writes (empty before the first run) would mislead the planner.
    """
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM (ANALYZE) deadlines, notifications, deliveries, ticket_events"))
    engine.dispose()


def _select_due(url: str, now: datetime, *, without_index: bool) -> float:
    engine = create_engine(url)
    with engine.connect() as conn:
        if without_index:
            conn.execute(text("SET enable_indexscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
        started = time.perf_counter()
        rows = conn.execute(text(DUE_SQL), {"now": now}).all()
        elapsed = time.perf_counter() - started
        conn.rollback()
    engine.dispose()
    assert rows
    return elapsed


def settle(url: str, now: datetime) -> None:
    """Give the generator's breached deadlines the state a running sweep leaves them in.

    The generator writes ``next_check_at = due_at`` for breached carry-overs (as the deadline engine does);
    a sweep that has been running would have visited them already and moved them to their next daily repeat.
    Without this, every breached deadline would count as due, not only the running ones meant to be.
    """
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE deadlines SET next_check_at = :later WHERE state = 'breached' AND next_check_at <= :now"
            ),
            {"now": now, "later": now + timedelta(days=1)},
        )
        conn.execute(text("ANALYZE deadlines"))
    engine.dispose()


def measure(url: str, now: datetime) -> dict:
    engine = create_engine(url)
    with engine.connect() as conn:
        open_tickets = conn.scalar(
            text(
                "SELECT count(*) FROM tickets WHERE status NOT IN ('closed','merged','withdrawn','returned')"
            )
        )
        due = conn.scalar(
            text(DUE_SQL.replace("SELECT id", "SELECT count(*)").split(" ORDER BY")[0]), {"now": now}
        )
        plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + DUE_SQL + " LIMIT 1000"), {"now": now}))
    engine.dispose()
    _sweep_once(url, now)  # warm-up (calendar cache, plans)
    sweeps, totals, cpus = [], {}, []
    for _ in range(RUNS):
        _vacuum(url)
        elapsed, totals = _sweep_once(url, now)
        sweeps.append(elapsed)
        cpus.append((totals["client_cpu"], totals.get("server_cpu")))
    selects = [_select_due(url, now, without_index=False) for _ in range(RUNS)]
    scans = [_select_due(url, now, without_index=True) for _ in range(RUNS)]
    return {
        "open": open_tickets,
        "due": due,
        "sweep": statistics.median(sweeps),
        "select": statistics.median(selects),
        "scan": statistics.median(scans),
        "totals": totals,
        "client_cpu": statistics.median(c for c, _ in cpus),
        "server_cpu": statistics.median(s for _, s in cpus) if all(s is not None for _, s in cpus) else None,
        "uses_index": "ix_deadlines_next_check" in plan,
    }


def render(results: list[dict], load_avg: tuple[str, str], loads: list[float]) -> str:
    from workers.tasks.reminders import SWEEP_LANES

    lines = [
        "### Deadline sweep (issue 5)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/bench_sweep.py`, PostgreSQL, medians of {RUNS}"
        " runs; one sweep = `sweep_due` in batches of 1,000 + `plan_for` (e-mail deliveries), in the task's"
        f" {SWEEP_LANES} lanes (threads, each with its own connection), rolled back after"
        " each run and the written tables vacuumed (untimed) before the next; CPU = the sweep process + its PostgreSQL backends (from /proc), which moves far less than the"
        " wall time when the machine is busy."
        f" Load average before / after: {load_avg[0]} / {load_avg[1]} (the machine's 2 cores).",
        "",
        "| open tickets | due | one sweep | CPU: sweep + PostgreSQL | target | plain SELECT of the due rows (index) | ratio | same SELECT without the index (full scan) | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        server = "?" if r.get("server_cpu") is None else f"{r['server_cpu']:.2f}"
        lines.append(
            f"| {r['open']:,} | {r['due']:,} | {r['sweep']:.2f} s | {r['client_cpu']:.2f} + {server} s"
            f" | ≤ {TARGET_SECONDS:.0f} s | {r['select'] * 1000:.0f} ms"
            f" | sweep = {r['sweep'] / r['select']:.0f}× | {r['scan'] * 1000:.0f} ms | scan = {r['scan'] / r['select']:.1f}× |"
        )
    if len(results) == 2:
        a, b = results
        lines += [
            "",
            f"Growth from {a['open']:,} to {b['open']:,} open: the sweep {b['sweep'] / a['sweep']:.2f}×,"
            f" the indexed SELECT {b['select'] / a['select']:.2f}×, the full scan {b['scan'] / a['scan']:.2f}×"
            " — the sweep reads through the partial index on `next_check_at`, so its time follows the due rows,"
            " not the open ones.",
        ]
    t = results[-1]["totals"]
    lines += [
        "",
        f"Per sweep at the largest size: {t.get('visited', 0):,} deadlines visited, {t.get('breached', 0):,} breaches"
        f" recorded, {t.get('reminders', 0):,} reminders (in-app notifications, each its own ledger entry),"
        f" {t.get('deliveries', 0):,}"
        " e-mail deliveries planned. Data loads (COPY, `bench/generate.py`): "
        + ", ".join(f"{s:.0f} s" for s in loads)
        + ".",
        "",
        f"Target ≤ {TARGET_SECONDS:.0f} s: {'met' if results[-1]['sweep'] <= TARGET_SECONDS else 'not met'}"
        f" ({results[-1]['sweep']:.2f} s); flat from the first size to the last:"
        f" {'met' if len(results) < 2 or results[-1]['sweep'] <= 1.5 * results[0]['sweep'] else 'not met'}.",
    ]
    return "\n".join(lines)


def write_section(body: str) -> None:
    start, end = f"<!-- bench:{SECTION} -->", f"<!-- /bench:{SECTION} -->"
    content = DOC.read_text(encoding="utf-8") if DOC.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}\n{end}"
    if start in content and end in content:
        content = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, content, flags=re.S)
    else:
        content = content.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(content, encoding="utf-8")


def _kept_now() -> str:
    return (ROOT / "instance" / "bench_sweep_now.txt").read_text().strip()


def _loadavg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="rewrite the bench:sweep section of docs/benchmarks.md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--measure-only",
        action="store_true",
        help="measure the kept database again (no loading); implies --keep",
    )
    args = parser.parse_args(argv)
    small = os.environ.get("BENCH_SCALE") == "small"
    first, total, due = (10_000, 100_000, 1_000) if small else (100_000, 1_000_000, 10_000)

    from bench.generate import generate

    if args.measure_only:
        result = measure(database_url(), datetime.fromisoformat(_kept_now()))
        print(result)
        return 0
    before = _loadavg()
    _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{DB_NAME}"')
    url = database_url()
    now = datetime.now(UTC).replace(microsecond=0)
    results, loads = [], []
    try:
        started = time.perf_counter()
        (ROOT / "instance").mkdir(exist_ok=True)
        (ROOT / "instance" / "bench_sweep_now.txt").write_text(now.isoformat())
        generate(url, first, seed=5, open_fraction=1.0, due_fraction=due / first, now=now)
        loads.append(time.perf_counter() - started)
        settle(url, now)
        results.append(measure(url, now))
        print(results[-1], flush=True)
        started = time.perf_counter()
        generate(url, total - first, seed=55, open_fraction=1.0, due_fraction=0.0, now=now, migrate=False)
        loads.append(time.perf_counter() - started)
        settle(url, now)
        results.append(measure(url, now))
        print(results[-1], flush=True)
    finally:
        from tracker.db import dispose_engines

        dispose_engines()
        if not args.keep:
            _admin(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
    body = render(results, (before, _loadavg()), loads)
    print(body)
    if args.write:
        write_section(body)
    worst = results[-1]["sweep"]
    flat = results[-1]["sweep"] / results[0]["sweep"]
    print(f"target: one sweep ≤ {TARGET_SECONDS} s → {worst:.2f} s; growth 100k→1M: {flat:.2f}×")
    return 0 if worst <= TARGET_SECONDS and flat <= 1.5 else 1  # bench.run reports a missed target


if __name__ == "__main__":
    sys.exit(main())
