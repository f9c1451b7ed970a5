"""Benchmark the scale-data generator: tickets per second into PostgreSQL, beside a raw COPY baseline.

Run: ``python bench/bench_generate.py [--write]`` (or ``make bench``). Two sizes (``BENCH_SCALE=small``:
20,000 → 100,000 tickets; full: 100,000 → 1,000,000), each into a fresh scratch database of its own; the
baseline is a raw ``COPY`` of exactly the rows the generator wrote (tickets, contacts, topics, deadlines,
events, as text) into bare tables with no index, constraint or trigger — the floor for getting those
bytes into PostgreSQL. Target (issue 8): 2,000,000 tickets "in minutes" — ≥ 3,333 tickets/s, i.e. ≤ 10 min.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.generate import TABLE_COLUMNS, generate, libpq_url, scratch_database  # noqa: E402
from bench.run import write_section  # noqa: E402

PG = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
TARGET_TICKETS_PER_S = 2_000_000 / 600


def raw_copy_rows_per_second(url: str) -> tuple[float, int]:
    """COPY every generated row out as text, then time COPYing it into bare unindexed tables."""
    dumps: dict[str, bytes] = {}
    with psycopg.connect(libpq_url(url)) as conn:
        for table, columns in TABLE_COLUMNS.items():
            buffer = io.BytesIO()
            with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) TO STDOUT") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
        rows = sum(d.count(b"\n") for d in dumps.values())
        for table in TABLE_COLUMNS:
            conn.execute(f"CREATE TABLE bare_{table} (LIKE {table} INCLUDING DEFAULTS)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for table, columns in TABLE_COLUMNS.items():
                with cursor.copy(f"COPY bare_{table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(dumps[table])
        conn.commit()
        seconds = time.perf_counter() - started
    return rows / seconds, rows


def measure(n_tickets: int, runs: int) -> dict:
    rates, row_rates, baselines, seconds = [], [], [], []
    rows = 0
    for run in range(runs):
        url = f"{PG}/bench_generate_{os.getpid()}_{run}"
        with scratch_database(url):
            # Migrating the empty database is setup, not load: do it first, untimed.
            from tracker.bootstrap import load_reference_data
            from tracker.db import session_scope
            from tracker.migrate import upgrade

            upgrade(url)
            with session_scope(url) as session:
                load_reference_data(session)
            summary = generate(url, n_tickets, seed=1 + run, analyze=False, migrate=False)
            rows = summary.tickets + summary.contacts + summary.events + summary.deadlines + summary.topics
            rates.append(summary.tickets / summary.seconds)
            row_rates.append(rows / summary.seconds)
            seconds.append(summary.seconds)
            baseline, _ = raw_copy_rows_per_second(url)
            baselines.append(baseline)
    return {
        "tickets": n_tickets,
        "rows": rows,
        "tickets_per_s": statistics.median(rates),
        "runs": rates,
        "rows_per_s": statistics.median(row_rates),
        "baseline_rows_per_s": statistics.median(baselines),
        "seconds": statistics.median(seconds),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    small = os.environ.get("BENCH_SCALE") == "small"
    parser.add_argument("--sizes", default="20000,100000" if small else "100000,1000000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    results = [measure(n, args.runs if n <= 200_000 else 1) for n in sizes]
    big = results[-1]
    minutes_for_2m = 2_000_000 / big["tickets_per_s"] / 60
    met = big["tickets_per_s"] >= TARGET_TICKETS_PER_S
    lines = [
        "## Scale data: `bench/generate.py`",
        "",
        f"Generated tickets (with contacts, topics, deadlines and events) COPYed into a fresh PostgreSQL database; "
        f"median of the runs; load average at the start: {load}.",
        "",
        "| tickets | rows written | tickets/s (median) | runs (tickets/s) | rows/s | baseline: raw COPY of the same rows into bare tables, rows/s | ratio to baseline |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['tickets']:,} | {r['rows']:,} | **{r['tickets_per_s']:,.0f}** | "
            + ", ".join(f"{x:,.0f}" for x in r["runs"])
            + f" | {r['rows_per_s']:,.0f} | {r['baseline_rows_per_s']:,.0f} | "
            f"{r['rows_per_s'] / r['baseline_rows_per_s']:.2f}× |"
        )
    growth = (results[-1]["seconds"] / results[0]["seconds"]) / (
        results[-1]["tickets"] / results[0]["tickets"]
    )
    lines += [
        "",
        f"Growth {results[0]['tickets']:,} → {results[-1]['tickets']:,} tickets: time per ticket ×{growth:.2f} "
        "(1.00 = linear; above 1, each ticket costs more as the tables and their indexes outgrow memory; the load average moves between the runs too).",
        f"Target: 2,000,000 tickets in ≤ 10 minutes (≥ {TARGET_TICKETS_PER_S:,.0f} tickets/s) — at the larger size's "
        f"rate, 2,000,000 take **{minutes_for_2m:.1f} min**: " + ("met." if met else "NOT met."),
        "The gap to the baseline is the product's indexes and the Python that builds realistic rows; "
        "foreign-key triggers are skipped during the load (`session_replication_role = replica`), the rows "
        "being consistent by construction.",
    ]
    body = "\n".join(lines)
    print(body)
    if args.write:
        write_section("generate", body)
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
