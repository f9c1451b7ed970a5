"""Benchmark the dashboard's queue pages and the ticket page, rendered server-side, against the bare SQL.

Run: ``.venv/bin/python bench/bench_queues.py [--write] [--tickets N] [--keep]``. Loads N tickets (default
1,000,000; ``BENCH_SCALE=small``: 100,000) into a scratch PostgreSQL database of its own with
`bench.generate.generate` (COPY, seeded, 20 % still open), then requests, through the whole Flask app (the
test client: routing, sign-in check, queries, the queue counts beside the menu, Jinja rendering, CSP
headers — everything but the socket):

* a department supervisor's 本部门 queue sorted by due time — first page and a deep page (keyset cursor
  ~5,000 rows in);
* an administrator's 全部工单 filtered to open 12345 orders, sorted by due time — first and deep page;
* the administrator's 已超期 queue (first page);
* the ticket page of random tickets (fields, masked contact, deadlines with working days left, timeline,
  the actions the state machine and the role allow).

Baseline, in the same run: the bare SQL each page is built on (the page's main SELECT … LIMIT 51, or the
ticket's row plus its deadlines and events), executed on the same engine. Targets (issue 6): queue pages
≤ 150 ms p95, ticket page ≤ 100 ms p95. With ``--write`` the results replace the ``<!-- bench:queues -->``
section of docs/benchmarks.md. The scratch database is dropped at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

# The personal-data key of the scratch databases (tracker.pii; a production database needs one): fixed,
# public, never a real key. A key set in the environment wins.
os.environ.setdefault("TRACKER_PII_KEYS", "bench:YmVuY2ggb25seSAtLSBub3QgYSByZWFsIGtleSEhISE=")

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "bench_queues_helper4"
REQUESTS = 40  # per scenario, after warm-up
DEEP_ROWS = 5_000
QUEUE_TARGET_MS, TICKET_TARGET_MS = 150.0, 100.0


def database_url() -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME


def prepare(n_tickets: int) -> tuple[str, float | None]:
    """Create (or reuse) the scratch database with n tickets; return its URL and the load time."""
    from bench.generate import reuse_or_generate

    url = database_url()
    return url, reuse_or_generate(url, n_tickets, seed=6, open_fraction=0.2, due_fraction=0.05)


def vacuum(url: str) -> None:
    """VACUUM ANALYZE the big tables, as autovacuum does after a bulk load (index-only scans need it)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for table in ("tickets", "deadlines", "ticket_events", "ticket_topics"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
    engine.dispose()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _time(call, n: int = REQUESTS) -> list[float]:
    for _ in range(3):
        call()  # warm-up: caches, the calendar, Jinja's compiled templates
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        runs.append((time.perf_counter() - started) * 1000)
    return runs


def run(url: str) -> tuple[list[dict], dict]:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from tracker.clock import utcnow
    from tracker.config import Settings
    from tracker.db import engine_for
    from tracker.people.models import Department, User
    from tracker.people.passwords import PasswordPolicy
    from tracker.people.service import create_user
    from tracker.tickets.models import Ticket
    from tracker.tickets.queries import TicketFilter, queue_page
    from web import create_app

    engine = engine_for(url)
    now = utcnow()
    with Session(engine) as session:
        admin = session.scalar(select(User).where(User.username == "bench_admin"))
        if admin is None:
            admin = create_user(
                session,
                username="bench_admin",
                password="bench-pass-2026",
                role="admin",
                department_code="office",
                display_name="基准管理员",
                now=now,
                policy=PasswordPolicy(),
                must_change_password=False,
            )
            session.commit()
        sme = session.scalar(select(Department).where(Department.code == "sme"))
        supervisor = session.scalar(
            select(User).where(User.department_id == sme.id, User.role == "supervisor").order_by(User.id)
        )
        users = {"admin": admin.id, "supervisor": supervisor.id}
        # Deep-page cursors: walk the keyset to ~DEEP_ROWS rows in (setup only, not timed).
        deep = {}
        for name, user, code, filters in (
            ("department", supervisor, "department", TicketFilter()),
            ("hotline", admin, "all", TicketFilter(channel="hotline", status="open")),
        ):
            cursor = None
            for _ in range(DEEP_ROWS // 500):
                page = queue_page(session, user, code, filters, now=now, cursor=cursor, limit=500)
                cursor = page.next_cursor or cursor
            deep[name] = cursor
        total = session.scalar(select(Ticket.id).order_by(Ticket.id.desc()).limit(1))
        rng = random.Random(6)
        ticket_ids = [rng.randint(1, total) for _ in range(REQUESTS + 3)]

    settings = Settings.from_env(
        {
            "TRACKER_DATABASE_URL": url,
            "TRACKER_SECRET_KEY": "bench",
            "TRACKER_INSTANCE_DIR": "/tmp/bench_queues",
            # The scratch database's personal-data key (bench/generate.py sealed its contacts with it).
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    app = create_app({"TESTING": True}, settings=settings)
    clients = {}
    from tracker.people.sessions import open_session
    from web.database import db
    from web.security import CSRF_FIELD, SESSION_TOKEN, clock_now, session_policy

    for role, user_id in users.items():
        client = app.test_client()
        # Signed in as the sign-in page does it: a server-side session row, its token in the cookie.
        with app.app_context():
            token = open_session(db(), db().get(User, user_id), now=clock_now(), policy=session_policy())
            db().commit()
        with client.session_transaction() as web_session:
            web_session[SESSION_TOKEN] = token
            web_session[CSRF_FIELD] = "bench"
        clients[role] = client

    def get(role: str, path: str):
        def call():
            response = clients[role].get(path)
            assert response.status_code == 200, (path, response.status_code)
            response.close()

        return call

    ticket_iter = iter(ticket_ids * 2)

    def ticket_page():
        response = clients["admin"].get(f"/tickets/{next(ticket_iter)}")
        assert response.status_code == 200
        response.close()

    # The bare SQL under each page (what a hand-written page would at least have to run).
    queue_sql = """
        SELECT t.*, d.due_at, d.state FROM tickets t
        LEFT JOIN deadlines d ON d.ticket_id = t.id AND d.kind = 'reply'
        WHERE {where} AND d.state <> 'met' AND d.state <> 'cancelled' AND d.due_at IS NOT NULL {after}
        ORDER BY d.due_at, d.ticket_id LIMIT 51
    """
    open_statuses = "('received','assigned','in_progress','waiting_applicant','consulting','transferred')"
    dept_where = f"t.department_id = {sme.id} AND t.status IN {open_statuses}"
    hot_where = f"t.channel = 'hotline' AND t.status IN {open_statuses}"

    def after_clause(cursor: str | None) -> tuple[str, dict]:
        if not cursor:
            return "", {}
        _tag, due, ident = cursor.split("~")
        return "AND (d.due_at, d.ticket_id) > (:due, :id)", {
            "due": datetime.fromisoformat(due),
            "id": int(ident),
        }

    def sql(where: str, cursor: str | None = None, extra: str = ""):
        after, params = after_clause(cursor)
        statement = text(queue_sql.format(where=where + extra, after=after))

        def call():
            with engine.connect() as conn:
                conn.execute(statement, params).all()

        return call

    overdue_sql = f""" AND t.status IN {open_statuses} AND EXISTS (SELECT 1 FROM deadlines x WHERE x.ticket_id = t.id
        AND x.state IN ('running','breached') AND x.due_at < now())"""
    sql_ids = iter(ticket_ids * 2)

    def ticket_sql():
        ticket_id = next(sql_ids)
        with engine.connect() as conn:
            conn.execute(
                text("SELECT * FROM tickets t LEFT JOIN contacts c ON c.id = t.contact_id WHERE t.id = :i"),
                {"i": ticket_id},
            ).all()
            conn.execute(text("SELECT * FROM deadlines WHERE ticket_id = :i"), {"i": ticket_id}).all()
            conn.execute(
                text("SELECT * FROM ticket_events WHERE ticket_id = :i ORDER BY occurred_at, id"),
                {"i": ticket_id},
            ).all()

    scenarios = [
        (
            "本部门 (supervisor), by due time, first page",
            "queue",
            get("supervisor", "/queues/department"),
            sql(dept_where),
        ),
        (
            f"本部门 (supervisor), deep page (~{DEEP_ROWS:,} rows in)",
            "queue",
            get("supervisor", f"/queues/department?after={deep['department']}".replace("+", "%2B")),
            sql(dept_where, deep["department"]),
        ),
        (
            "全部工单 (admin), filter 12345 + open, by due time, first page",
            "queue",
            get("admin", "/queues/all?channel=hotline&status=open"),
            sql(hot_where),
        ),
        (
            f"全部工单 (admin), filter 12345 + open, deep page (~{DEEP_ROWS:,} rows in)",
            "queue",
            get(
                "admin",
                f"/queues/all?channel=hotline&status=open&after={deep['hotline']}".replace("+", "%2B"),
            ),
            sql(hot_where, deep["hotline"]),
        ),
        (
            "已超期 (admin), first page",
            "queue",
            get("admin", "/queues/overdue"),
            sql("TRUE", extra=overdue_sql),
        ),
        ("ticket page (admin), random tickets", "ticket", ticket_page, ticket_sql),
    ]
    results = []
    for label, kind, page_call, sql_call in scenarios:
        page_runs = _time(page_call)
        sql_runs = _time(sql_call)
        results.append(
            {
                "label": label,
                "kind": kind,
                "p50": statistics.median(page_runs),
                "p95": _percentile(page_runs, 0.95),
                "sql_p50": statistics.median(sql_runs),
                "sql_p95": _percentile(sql_runs, 0.95),
            }
        )
        print(
            f"{label}: page p50 {results[-1]['p50']:.1f} ms p95 {results[-1]['p95']:.1f} ms; "
            f"SQL p50 {results[-1]['sql_p50']:.1f} ms p95 {results[-1]['sql_p95']:.1f} ms",
            flush=True,
        )
    return results, {"now": now}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database for the next run")
    args = parser.parse_args()
    small = os.environ.get("BENCH_SCALE") == "small"
    n = args.tickets or (100_000 if small else 1_000_000)
    load_before = os.getloadavg()
    url, load_seconds = prepare(n)
    try:
        vacuum(url)
        results, _info = run(url)
    finally:
        from tracker.db import dispose_engines

        dispose_engines()
        if not args.keep:
            from bench.generate import drop_database

            drop_database(database_url())
    load_after = os.getloadavg()
    met_all = True
    rows = []
    for r in results:
        target = QUEUE_TARGET_MS if r["kind"] == "queue" else TICKET_TARGET_MS
        met = r["p95"] <= target
        met_all &= met
        ratio = r["p50"] / r["sql_p50"] if r["sql_p50"] else float("inf")
        rows.append(
            f"| {r['label']} | **{r['p95']:.1f}** | {r['p50']:.1f} | {r['sql_p95']:.1f} | {r['sql_p50']:.1f} | "
            f"{ratio:.1f}× | ≤ {target:.0f} ms: {'met' if met else 'NOT met'} |"
        )
    body = "\n".join(
        [
            "## Dashboard: queue pages and the ticket page, rendered server-side",
            "",
            f"`bench/bench_queues.py`; {n:,} tickets (four channels, 20 % open, deadlines and event history, "
            "`bench.generate`, seed 6) in PostgreSQL; each page requested "
            f"{REQUESTS} times through the whole Flask app (test client: routing, sign-in, object-level access, "
            "the queries, the queue's count, Jinja rendering, headers) after 3 warm-up requests; "
            "baseline = the bare SQL the page is built on, on the same engine, same number of runs; "
            "tables VACUUM ANALYZEd after the load, as autovacuum would"
            + (
                f"; data loaded in {load_seconds:.0f} s"
                if load_seconds
                else "; data reused from a kept database"
            )
            + f". Load average before / after: {', '.join(f'{x:.2f}' for x in load_before)} / "
            f"{', '.join(f'{x:.2f}' for x in load_after)} (the machine's 2 cores; nothing else ran unless the load says so).",
            "",
            "| page | p95 (ms) | median (ms) | bare SQL p95 (ms) | bare SQL median (ms) | page ÷ SQL (median) | target (p95) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
            "Queue pages are keyset-paginated (the cursor is the last row's due time and id; no OFFSET), so the "
            "deep page costs what the first costs; the queue counts stop at 1,000 (shown as 1000+).",
        ]
    )
    print(body)
    if args.write:
        from bench.run import write_section

        write_section("queues", body)
    return 0 if met_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
