"""Benchmark the whole annual aggregation against one hand-written GROUP BY over the same rows.

Run: ``.venv/bin/python bench/bench_report.py [--write] [--tickets N] [--keep]``. Loads N tickets of one
year (default 2,000,000; ``BENCH_SCALE=small``: 200,000) into a scratch PostgreSQL database of its own
with `bench.generate.generate` (COPY, seeded), then times, in the same run:

* **report** — `tracker.reports.annual.build_annual_report(session, year)` for the whole bureau: the
  interaction figures of the four channels (received, replied, on time against the reply deadline,
  rated, satisfied, working days to reply with median and mean on the working-day calendar) and the top
  topics (one scan, `ticket_figures`), section 三 (the state of every disclosure application on 1 January and 31 December: from its
  row's facts, or from its events when received earlier or changed since), the registers, section 四
  and the cross-checks;
* **baseline** — one hand-written ``GROUP BY channel`` over the same year's tickets counting received,
  replied, rated and satisfied (what anyone would write first; no deadlines, no calendar, no history).

Targets (issue 7): report ≤ 5 s, and ≤ 1.5 × the baseline. Each figure is the median of RUNS rounds (BENCH_REPORT_RUNS, default 5)
after one warm-up run. With ``--write`` the results replace the ``<!-- bench:report -->`` section of
docs/benchmarks.md. The scratch database is dropped at the end unless ``--keep`` (then it is reused by
the next run with the same size).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB_NAME = "bench_report_helper5"
YEAR = 2025
RUNS = int(os.environ.get("BENCH_REPORT_RUNS", "5"))

BASELINE_SQL = """
SELECT channel,
       count(*) AS received,
       count(*) FILTER (WHERE replied_at IS NOT NULL AND replied_at < :end_at) AS replied,
       count(*) FILTER (WHERE satisfaction IS NOT NULL) AS rated,
       count(*) FILTER (WHERE satisfaction IN ('满意', '基本满意')) AS satisfied
FROM tickets
WHERE received_at >= :start_at AND received_at < :end_at AND merged_into_id IS NULL
GROUP BY channel
"""

# The same interaction figures written by hand as one GROUP BY over tickets ⋈ reply deadlines (what the
# report's interaction query computes, minus the working-day histogram).
BASELINE_JOIN_SQL = """
SELECT t.channel,
       count(*) AS received,
       count(*) FILTER (WHERE t.replied_at < :end_at) AS replied,
       count(*) FILTER (WHERE t.replied_at < :end_at AND t.replied_at <= d.due_at) AS on_time,
       count(*) FILTER (WHERE t.satisfaction IS NOT NULL) AS rated,
       count(*) FILTER (WHERE t.satisfaction IN ('满意', '基本满意')) AS satisfied
FROM tickets t LEFT JOIN deadlines d ON d.ticket_id = t.id AND d.kind = 'reply'
WHERE t.received_at >= :start_at AND t.received_at < :end_at AND t.merged_into_id IS NULL
GROUP BY t.channel
"""


def database_url() -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME


def prepare(n_tickets: int) -> tuple[str, float | None]:
    """Create (or reuse) the scratch database with n tickets of YEAR; return its URL and the load time."""
    import psycopg

    from bench.generate import libpq_url, reuse_or_generate

    url = database_url()
    seconds = reuse_or_generate(url, n_tickets, seed=7, year=YEAR, open_fraction=0.02, due_fraction=0.0)
    # Measure a settled database, as autovacuum leaves one soon after a load: the visibility map lets
    # section 三 read the applications' index alone (a no-op when already vacuumed).
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tickets")
    return url, seconds


def time_all(url: str) -> tuple[dict[str, list[float]], dict]:
    """Time the report, its two big parts and the two baselines, RUNS times after one warm-up round.

    Each round runs the five contenders back to back, so a change in what else the machine is doing
    falls on all of them alike and the ratios (which the targets are) stay comparable even when the
    absolute times move.
    """
    from tracker.db import make_engine
    from tracker.reports.annual import build_annual_report
    from tracker.reports.disclosure import disclosure_counts
    from tracker.reports.interactions import ticket_figures
    from tracker.reports.scope import period_scope

    engine = make_engine(url)
    summary: dict = {}

    def report() -> None:
        with Session(engine) as session:
            built = build_annual_report(session, YEAR, now=datetime.now(UTC))
        summary.update(
            received={c: f.received for c, f in built.interaction.items()},
            disclosure_new=built.disclosure.total("new"),
            checks_passed=built.is_valid,
            median_workdays_hotline=built.interaction["hotline"].median_workdays,
        )

    def part(function):
        def run() -> None:
            with Session(engine) as session:
                function(session, period_scope(session, YEAR))

        return run

    with Session(engine) as session:
        scope = period_scope(session, YEAR)

    def baseline(sql: str):
        def run() -> None:
            with engine.begin() as conn:
                # The same session settings as the report (tracker.reports.scope.tune_for_reporting):
                # the ratio compares the queries, not the settings.
                conn.execute(text("SET LOCAL jit = off"))
                conn.execute(text("SET LOCAL work_mem = '64MB'"))
                conn.execute(text(sql), {"start_at": scope.start_at, "end_at": scope.end_at}).all()

        return run

    contenders = {
        "report": report,
        "interaction": part(ticket_figures),
        "disclosure": part(disclosure_counts),
        "baseline": baseline(BASELINE_SQL),
        "join": baseline(BASELINE_JOIN_SQL),
    }
    runs: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(RUNS + 1):
        for name, run in contenders.items():
            started = time.perf_counter()
            run()
            elapsed = time.perf_counter() - started
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
    small = os.environ.get("BENCH_SCALE") == "small"
    n = args.tickets or (200_000 if small else 2_000_000)
    load_before = os.getloadavg()
    url, load_seconds = prepare(n)
    try:
        runs, summary = time_all(url)
        report_runs, interaction_runs, disclosure_runs = (
            runs["report"],
            runs["interaction"],
            runs["disclosure"],
        )
        baseline_runs, join_runs = runs["baseline"], runs["join"]
    finally:
        if not args.keep:
            from tracker.db import dispose_engines

            dispose_engines()
            from bench.generate import drop_database

            drop_database(database_url())
    load_after = os.getloadavg()
    report_median = statistics.median(report_runs)
    baseline_median = statistics.median(baseline_runs)
    join_median = statistics.median(join_runs)
    interaction_median = statistics.median(interaction_runs)
    disclosure_median = statistics.median(disclosure_runs)
    ratio = report_median / baseline_median
    # The same rounds paired: each round's report against the baseline timed right after it.
    round_ratios = sorted(r / b for r, b in zip(report_runs, baseline_runs, strict=True))
    met_time = report_median <= 5.0
    met_ratio = ratio <= 1.5

    def fmt(runs: list[float]) -> str:
        return ", ".join(f"{r:.2f}" for r in runs)

    body = "\n".join(
        [
            "## Annual report: the whole aggregation vs one GROUP BY",
            "",
            f"`bench/bench_report.py`; {n:,} tickets received in {YEAR} (all four channels, with deadlines and "
            f"event history, `bench.generate`, seed 7) in PostgreSQL; bureau-wide report; median of {RUNS} runs "
            "after a warm-up round, the five contenders timed back to back in each round"
            + (
                f"; data loaded in {load_seconds:.0f} s"
                if load_seconds
                else "; data reused from a kept database"
            )
            + f". Load average before / after: {', '.join(f'{x:.2f}' for x in load_before)} / "
            f"{', '.join(f'{x:.2f}' for x in load_after)} (the machine's 2 cores; nothing else ran unless the load says so).",
            "",
            "| contender | median (s) | runs (s) |",
            "|---|---|---|",
            f"| `build_annual_report` — interaction figures (on time vs deadlines, working days on the calendar, "
            f"median/mean), top topics, section 三, registers, 四, cross-checks | "
            f"**{report_median:.2f}** | {fmt(report_runs)} |",
            f"| — of which `ticket_figures`: interaction figures and top topics (one scan of the unmerged tickets "
            f"grouped by channel × working days × topic label id; due time, working days and label id read from "
            f"the row; merged applications read apart by index) | "
            f"{interaction_median:.2f} | {fmt(interaction_runs)} |",
            f"| — of which `disclosure_counts` (section 三 from the application rows; event history only for "
            f"those received earlier or changed after 31 December, found by index) | "
            f"{disclosure_median:.2f} | {fmt(disclosure_runs)} |",
            f"| baseline: one hand-written `GROUP BY channel` over the year's tickets (received, replied, rated, "
            f"satisfied) | {baseline_median:.2f} | {fmt(baseline_runs)} |",
            f"| baseline with the reply deadlines joined (adds on time) — the hand-written form of the interaction "
            f"figures | {join_median:.2f} | {fmt(join_runs)} |",
            "",
            f"Ratio: whole report **{ratio:.2f}×** the plain GROUP BY (target ≤ 1.5×: "
            f"{'met' if met_ratio else 'not met'}); {report_median / join_median:.2f}× the GROUP BY with deadlines; "
            f"interaction figures and top topics {interaction_median / baseline_median:.2f}× the plain GROUP BY. "
            f"Whole aggregation {report_median:.2f} s (target ≤ 5 s: {'met' if met_time else 'not met'}). "
            f"Round by round (each report against the baseline timed in the same round): "
            f"{round_ratios[0]:.2f}×–{round_ratios[-1]:.2f}×, median {statistics.median(round_ratios):.2f}×.",
            f"Figures computed: received per channel {summary['received']}, disclosure applications new "
            f"{summary['disclosure_new']:,}, cross-checks {'passed' if summary['checks_passed'] else 'FAILED'}, "
            f"median working days to reply (hotline) {summary['median_workdays_hotline']}.",
            "",
            "Method (issue 7): the facts the report needs are written on the ticket row when they happen, in "
            "the same transaction, by `tracker.reports.facts.refresh_facts` — the reply deadline's due time "
            "(kept current by the deadline engine on extension, pause, override, calendar load), the working "
            "days to reply (at the reply; re-counted when a calendar year is loaded), and for applications "
            "the time of the last status change and the result row their history gives — and, by an ORM hook "
            "at every flush that changes a ticket's topics or 诉求分类, the label it counts as in the top "
            "topics (its only topic, or its category) as the integer id of that label in the dictionary "
            "`topic_labels` (tickets with several topics are flagged and counted from `ticket_topics` "
            "through a partial index). Migrations 0011, 0012 and 0021 backfill them; the "
            "generator writes them with each row (a test checks them against the SQL definitions). So the "
            "interaction figures and the top topics are one parallel scan of `tickets` without joins "
            "(aggregates as `count(*) FILTER`), and section 三 reads the year's applications by an "
            "index-only scan of a partial covering index, each half of it hashed into its cells on its own, "
            "and event history only for applications received before the year or changed after it (two "
            "index ranges). The cross-checks reuse the counts (they query only to name the tickets of a "
            "failing check). Both baselines use the same session settings and may run in parallel workers "
            "like the report's queries.",
            "",
            "History (same benchmark): 12.65 s against 0.59 s for the plain GROUP BY (21.5×) before the facts "
            "were kept on the rows (2026-11-25 11:15 UTC, load 4–7); 2.28 s against 0.46 s (4.96×) with the "
            "facts but the top topics still a hash join of the year's tickets with `ticket_topics` (most of "
            "the 1.35 s beyond the interaction figures and section 三) and section 三 sorting the year's "
            "applications (14:22 UTC, idle); 1.43 s against 0.72 s (1.98×) on a slower machine while the "
            "interaction scan's WHERE still listed the four channels and OR-ed in the merged applications, "
            "and section 三 worked out its cell expressions once per application (17:18 UTC, idle) — on "
            "PostgreSQL every condition of a scan's WHERE and FILTERs is evaluated for each of a year's rows; "
            "1.18 s against 0.75 s (1.58×) while the scan grouped by the topic label's text, not its integer "
            "id (20:30 UTC, idle; hashing the text cost about a tenth of the plain GROUP BY). "
            "What remains above the plain GROUP BY is the report's own aggregation over the same scan — six "
            "counts instead of four (two of them compare the reply with its due time), grouped by channel × "
            "working days × topic label id instead of channel, reading the fact columns at the end of the wide "
            "ticket row — and section 三's index-only scan of the year's applications.",
        ]
    )
    print(body)
    if args.write:
        from bench.run import write_section

        write_section("report", body)
    return 0 if met_time and met_ratio else 1  # bench.run reports a missed target by the exit status


if __name__ == "__main__":
    raise SystemExit(main())
