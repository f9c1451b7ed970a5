"""Run every benchmark and rewrite docs/benchmarks.md: `make bench` (= `python -m bench.run`).

Each ``bench/bench_<name>.py`` has a ``main()`` that measures, prints, and rewrites only its own section
of docs/benchmarks.md, between ``<!-- bench:<name> -->`` and ``<!-- /bench:<name> -->``. This runner calls
each one in a fresh process (a benchmark may pin itself to a core or change process state), in name
order, passing ``--write`` to those that take it, then rewrites the ``<!-- bench:header -->`` section:
the machine (cores, memory, CPU, PostgreSQL and Redis server versions, Python), the date, the load
before and after, how long each benchmark took and whether it met its targets, and how to read the
figures.

    python -m bench.run                 # everything
    python -m bench.run calendar sweep  # only these (by <name>)
    python -m bench.run --list

Environment: ``BENCH_PG_URL`` (server for the scratch databases, default
postgresql+psycopg://postgres@127.0.0.1:5432), ``BENCH_REDIS_URL`` (default redis://127.0.0.1:6379/0),
``BENCH_SCALE`` (``full`` by default; ``small`` asks benchmarks that honour it for their small sizes —
used while developing on a shared machine). The exit status is non-zero when a benchmark failed or
missed a target (its own exit status), after every benchmark has run.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
DOCS = ROOT / "docs" / "benchmarks.md"
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# The personal-data key of the scratch databases (tracker.pii; a production database needs one): fixed,
# public, never a real key. A key set in the environment wins.
os.environ.setdefault("TRACKER_PII_KEYS", "bench:YmVuY2ggb25seSAtLSBub3QgYSByZWFsIGtleSEhISE=")
TIMEOUT = int(os.environ.get("BENCH_TIMEOUT", "3600"))  # seconds per benchmark


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def write_section(name: str, body: str, path: Path = DOCS) -> None:
    """Replace the section `name` of docs/benchmarks.md (or append it), leaving the rest intact.

    `body` is the Markdown between the markers. The header section always stays first.
    """
    begin, end = markers(name)
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    section = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    elif name == "header":
        title, sep, rest = text.partition("\n")
        if not title.startswith("# "):
            title, sep, rest = "# Benchmarks", "\n", text
        text = f"{title}\n\n{section}\n{sep}{rest.lstrip()}" if rest.strip() else f"{title}\n\n{section}\n"
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def process_cpu_seconds(pid: int) -> float | None:
    """CPU seconds (user + system) process ``pid`` has used — e.g. the PostgreSQL backend serving a
    benchmark's connection (``pg_backend_pid()``); None when it does not run on this machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def discover() -> dict[str, Path]:
    return {p.stem.removeprefix("bench_"): p for p in sorted(BENCH_DIR.glob("bench_*.py"))}


@dataclass
class Outcome:
    name: str
    returncode: int
    seconds: float
    tail: str

    @property
    def verdict(self) -> str:
        if self.returncode == 0:
            return "ok — targets met"
        if self.returncode == 1:
            return "ran — a target NOT met (see its section)"
        if self.returncode == 124:
            return f"timed out after {TIMEOUT} s"
        return f"failed (exit {self.returncode})"


def run_one(name: str, path: Path) -> Outcome:
    """Run one benchmark's main() in a fresh interpreter; its output streams to ours."""
    source = path.read_text(encoding="utf-8")
    argv = [str(path), "--write"] if "--write" in source else [str(path)]
    # Imported as the module it is (bench.bench_NAME), not run from its path: a benchmark that spawns
    # children (multiprocessing) pickles its functions by module name, and a child imports them so.
    code = (
        "import importlib, sys\n"
        f"sys.argv = {argv!r}\n"
        f"module = vars(importlib.import_module('bench.{path.stem}'))\n"
        "result = module['main']()\n"
        "sys.exit(result if isinstance(result, int) else 0)\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "BENCH_PG_URL": PG_URL,
        "BENCH_REDIS_URL": REDIS_URL,
    }
    started = time.perf_counter()
    print(f"\n=== bench:{name} ({path.relative_to(ROOT)}) ===", flush=True)
    lines: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        deadline = time.monotonic() + TIMEOUT
        assert process.stdout is not None
        for line in process.stdout:  # stream the benchmark's own output as it comes
            print(line, end="", flush=True)
            lines.append(line)
            if time.monotonic() > deadline:
                process.kill()
                break
        try:
            returncode = process.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            returncode = 124
        if time.monotonic() > deadline:
            returncode = 124
    output = "".join(lines)
    tail = "\n".join(output.strip().splitlines()[-3:])
    return Outcome(name, returncode, time.perf_counter() - started, tail)


# -- machine facts ---------------------------------------------------------------------------------


def _meminfo_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _postgres_version() -> str:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("+psycopg", "") + "/postgres", connect_timeout=3) as conn:
            return conn.execute("SHOW server_version").fetchone()[0]
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def _redis_version() -> str:
    try:
        import redis

        return redis.Redis.from_url(REDIS_URL, socket_timeout=3).info("server")["redis_version"]
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def _load() -> str:
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def machine_facts() -> dict[str, str]:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} ({usable} usable by this process)",
        "memory": _meminfo_gib(),
        "PostgreSQL": _postgres_version(),
        "Redis": _redis_version(),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "OS": f"{platform.system()} {platform.release()}",
    }


HOW_TO_READ = """\
**How to read the figures.** Every figure is the *median* of several runs, with the spread (the runs
themselves, or min–max) beside it. Every figure stands next to a *baseline measured in the same run on the
same machine* — the naive way of doing the same work (a day-by-day calendar loop, a raw `COPY` into a bare
table, a hand-written `GROUP BY`, the bare SQL of a page) — and the ratio between the two; ratios move far
less than absolute times when the machine is busy. Each figure also names its *target* from the issue that
asked for it, and says whether it was met.

**Growth with size.** Where a cost depends on the amount of data, a benchmark measures it at two or more
sizes (e.g. 100k → 1M tickets) and reports the growth factor: ~1× means the cost does not grow with the
data (an index does the work), ~10× for 10× the data means it is linear. Scale data comes from
`bench/generate.py` (`generate(url, n_tickets, seed=…, year=…, open_fraction=…, due_fraction=…)`), the
same seeded generator for every benchmark, loaded with `COPY`.

**Reproduce.** `make bench` runs everything and rewrites this file; `python -m bench.run NAME …` runs some;
`BENCH_SCALE=small` asks for the small sizes. Benchmarks never run in `make test` (no timed assertions
there). Absolute figures depend on the machine and on what else runs on it: the load averages before and
after the run are recorded above."""


def header(outcomes: list[Outcome], started_at: datetime, load_before: str) -> str:
    facts = machine_facts()
    lines = [
        "## Machine and run",
        "",
        f"Regenerated by `make bench` (`bench/run.py`) on {started_at:%Y-%m-%d %H:%M} UTC.",
        "",
        "| | |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in facts.items()),
        f"| load average before / after (1, 5, 15 min) | {load_before} / {_load()} |",
        f"| scale | `BENCH_SCALE={os.environ.get('BENCH_SCALE', 'full')}` |",
        "",
    ]
    if outcomes:
        lines += [
            "| benchmark | section | wall time | result |",
            "|---|---|---|---|",
            *(
                f"| `bench/bench_{o.name}.py` | `bench:{o.name}` | {o.seconds:,.0f} s | {o.verdict} |"
                for o in outcomes
            ),
            "",
        ]
        skipped = sorted(set(discover()) - {o.name for o in outcomes})
        if skipped:
            lines += [
                f"Not re-run this time: {', '.join(f'`{n}`' for n in skipped)} — their sections below are from "
                "their own earlier runs and state their own conditions.",
                "",
            ]
    lines.append(HOW_TO_READ)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks and rewrite docs/benchmarks.md.")
    parser.add_argument("names", nargs="*", help="only these benchmarks (bench_<name>.py)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument("--header-only", action="store_true", help="rewrite only the header section")
    args = parser.parse_args(argv)
    found = discover()
    if args.list:
        for name, path in found.items():
            print(f"{name}\t{path.relative_to(ROOT)}")
        return 0
    unknown = [n for n in args.names if n not in found]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; known: {', '.join(found)}")
    started_at = datetime.now(UTC)
    load_before = _load()
    outcomes: list[Outcome] = []
    if not args.header_only:
        for name, path in found.items():
            if args.names and name not in args.names:
                continue
            outcomes.append(run_one(name, path))
    write_section("header", header(outcomes, started_at, load_before))
    print("\n=== summary ===")
    for outcome in outcomes:
        print(f"{outcome.name:>12}: {outcome.verdict} in {outcome.seconds:,.0f} s")
    print(f"docs/benchmarks.md rewritten ({DOCS.relative_to(ROOT)})")
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
