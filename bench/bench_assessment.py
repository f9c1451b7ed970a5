"""Benchmark the 12345 assessment of one month against a plain GROUP BY over the same month (issue 19).

Run: ``.venv/bin/python bench/bench_assessment.py [--write] [--tickets N] [--keep]``. Loads N hotline
orders received over 2026 (default 2,000,000: about 170,000 a month) for 300 units into a scratch
PostgreSQL database of its own, with every row the assessment reads, then times in the same run:

* **assessment** — `tracker.reports.assessment.build_assessment` for November 2026 with the trend (so
  November and October: five GROUP BYs each — orders dispatched with their sign deadline and accepted
  send-backs, reply deadlines due, call-backs (the last per order), orders closed with their redos,
  supervisions — repeats counted once, scores, ranking);
* **assessment without trend** — November alone;
* **baseline** — one hand-written ``GROUP BY department_id`` over November's hotline orders
  (`plain_group_by_baseline`: count and count closed; what anyone would write first).

Target (issue 19): assessment ≤ 2 s. Medians of RUNS rounds (BENCH_ASSESSMENT_RUNS, default 5) after a
warm-up round, the contenders back to back in each round. With ``--write`` the results replace the
``<!-- bench:assessment -->`` section of docs/benchmarks.md.

The data is written by SQL on the server (INSERT … SELECT over generate_series with a seeded random()),
not by bench.generate: the assessment reads none of the events, contacts, topics or search rows that
generator spends its time on, and this machine's two cores are shared. Per order: a sign deadline (due
a day after dispatch, met within 0–30 hours: about 80 % on time) and a reply deadline (due after 10
days, met at 办结 1–12 days after dispatch), 97 % closed; call-backs for 70 % of the closed orders (one
in ten called twice), accepted or refused send-backs for 4 %, redos for 3 % of the closed, supervisions
for 2 %, repeat links for 3 %.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRACKER_PII_KEYS", "bench:YmVuY2ggb25seSAtLSBub3QgYSByZWFsIGtleSEhISE=")

from sqlalchemy import delete  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "bench_assessment_wo"
RUNS = int(os.environ.get("BENCH_ASSESSMENT_RUNS", "5"))
UNITS = 300
PERIOD = "2026-11"

GENERATE_SQL = [
    "SELECT setseed(0.19)",
    f"""INSERT INTO departments (code, name, is_active)
        SELECT 'bu' || lpad(g::text, 3, '0'), '承办单位' || g, true FROM generate_series(1, {UNITS}) g""",
    """CREATE TEMP TABLE gen AS
        SELECT g AS n,
               timestamptz '2026-01-01 00:00+08' + (g - 1) * (interval '365 days' / :n) AS received_at,
               (random() * 30)::int AS sign_hours,
               1 + (random() * 11)::int AS close_days,
               random() AS r1, random() AS r2, random() AS r3, random() AS r4,
               1 + floor(random() * 300)::int AS unit
        FROM generate_series(1, :n) g""",
    """INSERT INTO tickets (number, channel, request_type, subject, body, arrived_at, received_at,
                            department_id, status, is_publishable, extra, created_at, updated_at,
                            has_several_topics, closed_at, external_ref)
        SELECT 'H' || gen.n, 'hotline', '投诉', '夜间施工噪音扰民', '某工地每晚十点后仍在施工，请处理。',
               gen.received_at, gen.received_at, d.id,
               CASE WHEN gen.n <= :n * 0.97 THEN 'closed' ELSE 'in_progress' END, false, '{}',
               gen.received_at, gen.received_at, false,
               CASE WHEN gen.n <= :n * 0.97 THEN gen.received_at + gen.close_days * interval '1 day' END,
               'bench-' || gen.n
        FROM gen JOIN departments d ON d.code = 'bu' || lpad(gen.unit::text, 3, '0')
        ORDER BY gen.n""",
    "CREATE TEMP TABLE tick AS SELECT t.id, t.closed_at, t.department_id, gen.* FROM tickets t "
    "JOIN gen ON t.number = 'H' || gen.n",
    """INSERT INTO deadlines (ticket_id, kind, label, policy_code, policy_version, starts_on, due_at, state,
                              pauses, extensions, version, explanation, met_at)
        SELECT id, 'sign', '签收', 'hotline.sign', '1', received_at, received_at + interval '1 day', 'met',
               '[]', '[]', 1, '', received_at + sign_hours * interval '1 hour' FROM tick""",
    """INSERT INTO deadlines (ticket_id, kind, label, policy_code, policy_version, starts_on, due_at, state,
                              pauses, extensions, version, explanation, met_at)
        SELECT id, 'reply', '答复', 'hotline.reply', '1', received_at, received_at + interval '10 days',
               CASE WHEN closed_at IS NULL THEN 'running' ELSE 'met' END, '[]', '[]', 1, '', closed_at
        FROM tick""",
    """INSERT INTO revisits (ticket_id, visited_at, result, is_resolved, was_contacted, citizen_words, source,
                             external_ref, created_at)
        SELECT id, closed_at + interval '1 day',
               CASE WHEN r2 < 0.85 THEN 'satisfied' WHEN r2 < 0.95 THEN 'basically_satisfied' ELSE 'unsatisfied' END,
               r3 < 0.93, r4 < 0.98, '', 'platform', 'rv1-' || n, closed_at + interval '1 day'
        FROM tick WHERE closed_at IS NOT NULL AND r1 < 0.70""",
    """INSERT INTO revisits (ticket_id, visited_at, result, is_resolved, was_contacted, citizen_words, source,
                             external_ref, created_at)
        SELECT id, closed_at + interval '3 days', 'satisfied', true, true, '', 'platform', 'rv2-' || n,
               closed_at + interval '3 days'
        FROM tick WHERE closed_at IS NOT NULL AND r1 < 0.07""",
    """INSERT INTO send_backs (ticket_id, department_id, reason_code, reason_text, requested_at, state)
        SELECT id, department_id, 'not_our_duty', '', received_at + interval '2 hours',
               CASE WHEN r2 < 0.5 THEN 'accepted' ELSE 'refused' END
        FROM tick WHERE r1 >= 0.70 AND r1 < 0.74""",
    """INSERT INTO redos (ticket_id, reason, redone_at, due_at, ordered_by_label)
        SELECT id, '不满意', closed_at + interval '2 days', closed_at + interval '9 days', '12345平台'
        FROM tick WHERE closed_at IS NOT NULL AND r1 >= 0.74 AND r1 < 0.77""",
    """INSERT INTO supervisions (ticket_id, department_id, kind, text, issued_by_label, issued_at, due_at, state,
                                 answered_at)
        SELECT id, department_id, 'supervise', '请加快办理', '12345平台', received_at + interval '5 days',
               received_at + interval '7 days', CASE WHEN r3 < 0.8 THEN 'answered' ELSE 'open' END,
               CASE WHEN r3 < 0.8 THEN received_at + interval '6 days' END
        FROM tick WHERE r1 >= 0.77 AND r1 < 0.79""",
    """INSERT INTO repeat_links (ticket_id, repeat_of_id, basis, linked_at, linked_by_label)
        SELECT t.id, earlier.id, 'same_citizen', t.received_at, '系统'
        FROM tick t JOIN tickets earlier ON earlier.number = 'H' || (t.n - 1000)
        WHERE t.r4 >= 0.97 AND t.n > 1000""",
]


def database_url() -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def prepare(n_tickets: int, *, keep: bool) -> tuple[str, float | None]:
    """Create the scratch database (migrated) and load n orders; reuse a kept one of the same size."""
    import psycopg

    from tracker.migrate import upgrade

    url = database_url()
    admin = _libpq(ADMIN_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone()
    if exists:
        with psycopg.connect(_libpq(url)) as conn:
            row = conn.execute("SELECT count(*) FROM tickets").fetchone()
        if keep and row and row[0] == n_tickets:
            upgrade(url)  # a migration added since the load (an index) applies to the kept data too
            return url, None
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {DB_NAME}")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    upgrade(url)
    started = time.perf_counter()
    with psycopg.connect(_libpq(url)) as conn:
        for statement in GENERATE_SQL:
            sql = statement.replace(":n", str(int(n_tickets)))
            step = time.perf_counter()
            conn.execute(sql)
            print(f"  {time.perf_counter() - step:6.1f} s  {' '.join(sql.split())[:70]}", file=sys.stderr)
        conn.commit()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return url, time.perf_counter() - started


def time_all(url: str) -> tuple[dict[str, list[float]], dict]:
    from tracker.db import make_engine
    from tracker.reports.assessment import build_assessment, plain_group_by_baseline
    from tracker.reports.assessment_rules import DEFAULT_RULES, parse_period
    from tracker.reports.models import AssessmentSnapshot

    engine = make_engine(url)
    period = parse_period(PERIOD)
    summary: dict = {}

    def assessment(with_trend: bool):
        def run() -> None:
            with Session(engine) as session:
                data = build_assessment(session, period, DEFAULT_RULES, with_trend=with_trend)
                session.rollback()
            if with_trend:
                summary.update(
                    units=len(data["units"]),
                    ranked=data["ranked_units"],
                    received=data["bureau"]["received"],
                    bureau=data["bureau"]["rates"],
                    supervised=data["bureau"]["supervised"],
                )

        return run

    def with_prepared_trend() -> None:
        """The month as the page computes it once last month's assessment was prepared (the beat task's
        snapshot): the trend reads the snapshot. The snapshot is written and rolled back untimed."""
        with Session(engine) as session:
            october = build_assessment(session, period.previous(), DEFAULT_RULES, with_trend=False)
            session.add(
                AssessmentSnapshot(
                    period=period.previous().key,
                    prepared_at=datetime.now(UTC),
                    rules_source=DEFAULT_RULES.source,
                    data=json.loads(json.dumps(october)),
                )
            )
            session.flush()
            session.commit()
        try:
            started = time.perf_counter()
            with Session(engine) as session:
                data = build_assessment(session, period, DEFAULT_RULES)
                session.rollback()
            timed["prepared"] = time.perf_counter() - started
            assert data["trend_basis"] == "prepared"
        finally:
            with Session(engine) as session:
                session.execute(delete(AssessmentSnapshot))
                session.commit()

    def baseline() -> None:
        with Session(engine) as session:
            rows = plain_group_by_baseline(session, period)
            session.rollback()
        summary["baseline_groups"] = len(rows)

    contenders = {
        "assessment": assessment(True),
        "prepared": with_prepared_trend,
        "month": assessment(False),
        "baseline": baseline,
    }
    timed: dict[str, float] = {}
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(RUNS + 1):
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            elapsed = timed.pop(name, time.perf_counter() - started)  # a contender may time only its part
            if i:  # the first round warms the caches
                runs[name].append(elapsed)
    engine.dispose()
    return runs, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    parser.add_argument("--tickets", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database for the next run")
    args = parser.parse_args()
    n = args.tickets or (200_000 if os.environ.get("BENCH_SCALE") == "small" else 2_000_000)
    load_before = os.getloadavg()
    url, load_seconds = prepare(n, keep=args.keep)
    try:
        runs, summary = time_all(url)
    finally:
        from tracker.db import dispose_engines

        dispose_engines()
        if not args.keep:
            import psycopg

            with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME}")
    load_after = os.getloadavg()
    medians = {name: statistics.median(values) for name, values in runs.items()}
    ratio = medians["assessment"] / medians["baseline"]
    met = medians["assessment"] <= 2.0
    met_prepared = medians["prepared"] <= 2.0

    def fmt(values: list[float]) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    rates = ", ".join(f"{k} {v['num']:,}/{v['den']:,}" for k, v in summary["bureau"].items())
    body = "\n".join(
        [
            "## 12345 assessment: one month vs a plain GROUP BY",
            "",
            f"`bench/bench_assessment.py`; {n:,} hotline orders received over 2026 for {UNITS} units "
            f"(about {n // 12:,} a month) with their sign and reply deadlines, call-backs, send-backs, redos, "
            "supervisions and repeat links, written by SQL on the server (seeded); assessment of "
            f"{PERIOD} for the whole bureau; median of {RUNS} rounds after a warm-up round"
            + (
                f"; data loaded in {load_seconds:.0f} s"
                if load_seconds
                else "; data reused from a kept database"
            )
            + f". Load average before / after: {', '.join(f'{x:.2f}' for x in load_before)} / "
            f"{', '.join(f'{x:.2f}' for x in load_after)} (2 shared cores).",
            "",
            "| contender | median (s) | runs (s) |",
            "|---|---|---|",
            f"| `build_assessment` with the trend ({PERIOD} and the month before: 2 × five GROUP BYs, scores, "
            f"ranking) | **{medians['assessment']:.2f}** | {fmt(runs['assessment'])} |",
            f"| `build_assessment` with the trend read from last month's prepared snapshot (the page and the "
            f"export once the beat task has run: {PERIOD}'s five GROUP BYs, the month before from its row) | "
            f"**{medians['prepared']:.2f}** | {fmt(runs['prepared'])} |",
            f"| `build_assessment` without the trend ({PERIOD} alone) | {medians['month']:.2f} | "
            f"{fmt(runs['month'])} |",
            "| baseline: one `GROUP BY department_id` over the month's hotline orders (count, count closed) | "
            f"{medians['baseline']:.2f} | {fmt(runs['baseline'])} |",
            "",
            f"Ratio: assessment with trend **{ratio:.2f}×** the plain GROUP BY; one month alone "
            f"{medians['month'] / medians['baseline']:.2f}×. Target ≤ 2 s: with the trend computed "
            f"{'met' if met else 'NOT met'}, with the trend from the prepared month {'met' if met_prepared else 'NOT met'}.",
            f"Figures computed: {summary['units']} units ({summary['ranked']} ranked), {summary['received']:,} "
            f"orders dispatched in the month, {summary['supervised']:,} supervisions; {rates}.",
        ]
    )
    print(body)
    if args.write:
        from bench.run import write_section

        write_section("assessment", body)
    return 0 if met_prepared else 1


if __name__ == "__main__":
    raise SystemExit(main())
