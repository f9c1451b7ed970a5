"""Benchmark add-workdays: the precomputed calendar vs a day-by-day loop over chinese_calendar.is_workday.

Run: ``.venv/bin/python bench/bench_calendar.py [--write]``. Pins itself to one core, runs each
contender several times on the same random (date, N) pairs and reports medians and their ratio; also
times ``tracker calendar add-workdays -`` on 100,000 stdin lines against a scratch SQLite database.
With ``--write`` the results replace the ``<!-- bench:calendar -->`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import chinese_calendar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tracker.calendar.store import bundled_calendar  # noqa: E402

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:calendar -->", "<!-- /bench:calendar -->"
CALLS = 200_000
LOOP_CALLS = 20_000  # the day-by-day loop is slow; fewer calls keep the run short, rates stay comparable
RUNS = 5
CLI_LINES = 100_000


def sample(count: int, seed: int = 2026) -> list[tuple[date, int]]:
    rng = random.Random(seed)
    first = date(2004, 1, 1).toordinal()
    last = date(2025, 10, 31).toordinal()  # +30 working days stays inside 2004–2026
    return [(date.fromordinal(rng.randint(first, last)), rng.randint(0, 30)) for _ in range(count)]


def day_by_day(day: date, count: int) -> date:
    while count > 0:
        day += timedelta(days=1)
        if chinese_calendar.is_workday(day):
            count -= 1
    return day


def _agree(calendar, day: date, count: int) -> bool:
    """Compare with the loop, except across 2005-12-31 (a working day by the notice, not by chinese_calendar)."""
    ours, theirs = calendar.add_workdays(day, count), day_by_day(day, count)
    return ours == theirs or day < date(2005, 12, 31) <= max(ours, theirs)


def rate(function, pairs: list[tuple[date, int]]) -> float:
    started = time.perf_counter()
    for day, count in pairs:
        function(day, count)
    return len(pairs) / (time.perf_counter() - started)


def bench_cli() -> float | None:
    """Return seconds for 100,000 lines through the CLI, or None if the database layer is unavailable."""
    try:
        from tracker.calendar.store import load_bundled_calendar
        from tracker.db import session_scope
        from tracker.migrate import upgrade
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/bench.sqlite"
        upgrade(url)
        with session_scope(url) as session:
            load_bundled_calendar(session)
        lines = "".join(f"{d.isoformat()} {n}\n" for d, n in sample(CLI_LINES, seed=7))
        env = {**os.environ, "TRACKER_DATABASE_URL": url, "TRACKER_INSTANCE_DIR": scratch}
        command = [
            sys.executable,
            "-c",
            "from tracker.cli.main import main; main()",
            "calendar",
            "add-workdays",
            "-",
        ]
        started = time.perf_counter()
        done = subprocess.run(
            command, input=lines, capture_output=True, text=True, env=env, cwd=ROOT, check=False
        )
        elapsed = time.perf_counter() - started
        if done.returncode != 0 or done.stdout.count("\n") != CLI_LINES:
            print(done.stderr, file=sys.stderr)
            return None
        return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    calendar = bundled_calendar()
    pairs = sample(CALLS)
    loop_pairs = pairs[:LOOP_CALLS]
    mismatches = sum(1 for d, n in loop_pairs[:2000] if not _agree(calendar, d, n))
    fast = [rate(calendar.add_workdays, pairs) for _ in range(RUNS)]
    slow = [rate(day_by_day, loop_pairs) for _ in range(RUNS)]
    fast_median, slow_median = statistics.median(fast), statistics.median(slow)
    cli_seconds = bench_cli()

    lines = [
        BEGIN,
        "## Calendar: add-workdays",
        "",
        f"`bench/bench_calendar.py`, one core pinned, Python {platform.python_version()}, {platform.machine()}; "
        f"random (date, N) pairs 2004–2025 with N = 0…30; median of {RUNS} runs.",
        "",
        "| contender | calls per run | add-workdays per second (median) | runs |",
        "|---|---|---|---|",
        f"| `WorkCalendar.add_workdays` (sorted working-day ordinals + bisect) | {CALLS:,} | **{fast_median:,.0f}** | "
        + ", ".join(f"{r:,.0f}" for r in fast)
        + " |",
        f"| day-by-day loop over `chinese_calendar.is_workday` | {LOOP_CALLS:,} | {slow_median:,.0f} | "
        + ", ".join(f"{r:,.0f}" for r in slow)
        + " |",
        "",
        f"Ratio: **{fast_median / slow_median:,.1f}×** faster. Target ≥ 500,000/s: "
        + ("met." if fast_median >= 500_000 else "NOT met."),
        f"Agreement check on 2,000 pairs: {mismatches} mismatches.",
    ]
    if cli_seconds is not None:
        lines.append(
            f"`tracker calendar add-workdays -` with {CLI_LINES:,} stdin lines (SQLite, process start included): "
            f"{cli_seconds:.2f} s."
        )
    lines.append(END)
    section = "\n".join(lines)
    print(section)
    if args.write:
        text = DOCS.read_text(encoding="utf-8") if DOCS.exists() else "# Benchmarks\n"
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + section + rest.split(END, 1)[1]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        DOCS.write_text(text, encoding="utf-8")
    return 0 if fast_median >= 500_000 and mismatches == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
