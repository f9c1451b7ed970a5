"""Benchmark the statutory letters (issue 20: "1,000 letters rendered ≤ 60 s").

Run: ``.venv/bin/python bench/bench_letters.py [--write] [--runs N]`` (or ``python -m bench.run letters``).
Three contenders, each on the same letters (receipt, 收费通知 and 答复书 in turn — the short, the computed
and the long kind), median of several runs:

* **baseline** — python-docx opens the same built-in template and saves it, nothing rendered: what any
  DOCX letter costs at the least (unzip, parse the XML, serialise, zip);
* **render** — ``tracker.letters.render.render_docx``: docxtpl in the template sandbox (LetterEnvironment),
  then the GB/T 9704 page, with each letter's context built beforehand;
* **render, stock package** — the same with the built-in templates as they were before they were pruned
  (``build_default_template(kind, prune=False)``: python-docx's 164 style definitions and its
  stylesWithEffects part), to show in the same run what the pruning saves;
* **issue** — ``tracker.letters.service.issue_letter`` on a scratch SQLite database: the reach and fit
  checks, the 文号 from its counter, the context from the ticket and the deadline engine, the render, the
  DOCX stored as an attachment (a file and a row), the event — one transaction per letter, as a request.

``BENCH_SCALE=small`` issues 200 letters a run instead of 1,000 (the rates stay comparable). With
``--write`` the results replace the ``<!-- bench:letters -->`` section of docs/benchmarks.md. The load
average before and after is printed with the figures: on a shared machine they are only comparable with
the baseline of the same run.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TRACKER_PII_KEYS", "bench:YmVuY2ggb25seSAtLSBub3QgYSByZWFsIGtleSEhISE=")

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:letters -->", "<!-- /bench:letters -->"
TARGET_SECONDS_PER_1000 = 60.0
KINDS = ("receipt", "fee", "reply")
CHUNK = 50  # letters per turn of each contender
TICKETS = 50  # the letters are spread over this many applications (the fee counts the applicant's month)
NOW = datetime(2026, 3, 4, 2, 0, tzinfo=UTC)  # a Wednesday; every deadline stays inside the loaded calendar


def load_avg() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def raw_params(kind: str, n: int) -> dict:
    if kind == "fee":
        return {"fee_method": "page", "pages": str(40 + n % 200)}
    if kind == "reply":
        return {
            "outcome": "public",
            "reply_text": f"经查，你申请的第{n}项信息已主动公开，现予提供。\n请登录本机关网站查阅。",
        }
    return {}


def setup(url: str, directory: Path) -> tuple[list[int], int]:
    """A migrated scratch database: one office, its 科室负责人, TICKETS disclosure applications being
    handled. Returns the tickets' ids and the user's id."""
    from tracker.bootstrap import load_reference_data
    from tracker.db import session_scope
    from tracker.migrate import upgrade
    from tracker.people.service import PasswordPolicy, create_department, create_user
    from tracker.tickets.drafts import ContactDraft, TicketDraft
    from tracker.workflow.opening import open_ticket
    from tracker.workflow.transitions import assign_ticket

    upgrade(url)
    with session_scope(url) as session:
        load_reference_data(session)
        create_department(session, code="gkb", name="政务公开科", parent_code=None)
        user = create_user(
            session,
            username="kezhang",
            password="bench-pass-2026",
            role="supervisor",
            department_code="gkb",
            display_name="测试科长",
            now=NOW,
            policy=PasswordPolicy(),
            must_change_password=False,
        )
        ids = []
        for n in range(TICKETS):
            ticket, _ = open_ticket(
                session,
                TicketDraft(
                    channel="disclosure",
                    request_type="政府信息公开申请",
                    subject=f"2025年度中小企业发展专项资金分配结果（第{n}批）",
                    body="请公开2025年度中小企业发展专项资金的分配结果。",
                    arrived_at=NOW - timedelta(hours=1),
                    external_ref=f"YSQ-BENCH-{n}",
                    department_code="gkb",
                    received_via="网络",
                    contact=ContactDraft(name=f"申请人{n}", phone=f"139{n:08d}", id_number=None),
                ),
                actor="测试",
                now=NOW - timedelta(hours=1),
            )
            assign_ticket(session, ticket, user, actor=user, now=NOW - timedelta(minutes=30))
            ids.append(ticket.id)
        return ids, user.id


def contexts(url: str, ticket_ids: list[int], count: int) -> list[tuple[str, dict]]:
    """(kind, context) of each letter, as issue_letter builds them (built outside the timing of `render`)."""
    from tracker.db import session_scope
    from tracker.letters.context import build_context, clean_params
    from tracker.tickets.models import Ticket

    out = []
    with session_scope(url) as session:
        for n in range(count):
            kind = KINDS[n % len(KINDS)]
            ticket = session.get(Ticket, ticket_ids[n % len(ticket_ids)])
            params = clean_params(ticket, kind, raw_params(kind, n), now=NOW)
            out.append(
                (kind, build_context(session, ticket, kind, params, now=NOW, doc_number=f"政信〔2026〕{n}号"))
            )
    return out


class Clock:
    """Wall and CPU seconds of what runs inside it, added up over the chunks of a run."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._wall
        self.cpu += time.process_time() - self._cpu


def run_baseline(letters: list[tuple[str, dict]], span: range) -> None:
    from docx import Document

    from tracker.letters.render import default_template

    for n in span:
        document = Document(io.BytesIO(default_template(letters[n][0])))
        document.save(io.BytesIO())


def run_render(letters: list[tuple[str, dict]], templates: dict[str, bytes], span: range) -> None:
    from tracker.letters.render import render_docx

    for n in span:
        kind, context = letters[n]
        render_docx(templates[kind], context)


def run_issue(url: str, directory: Path, ticket_ids: list[int], user_id: int, span: range) -> None:
    from tracker.db import session_scope
    from tracker.letters.service import issue_letter
    from tracker.people.models import User
    from tracker.tickets.models import Ticket

    for n in span:
        kind = KINDS[n % len(KINDS)]
        with session_scope(url) as session:  # one request, one transaction
            ticket = session.get(Ticket, ticket_ids[n % len(ticket_ids)])
            user = session.get(User, user_id)
            issue_letter(session, ticket, kind, raw_params(kind, n), user=user, now=NOW, directory=directory)


def per_1000(seconds: float, count: int) -> float:
    return seconds * 1000 / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="record the results in docs/benchmarks.md")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile one issuing run, print the top")
    args = parser.parse_args()
    small = os.environ.get("BENCH_SCALE") == "small"
    count = 200 if small else 1000
    load_before = load_avg()

    from tracker.db import dispose_engines
    from tracker.letters.render import build_default_template, default_template

    pruned = {kind: default_template(kind) for kind in KINDS}  # built once per process, as in the server
    stock = {kind: build_default_template(kind, prune=False) for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="bench-letters-") as scratch:
        url = f"sqlite:///{scratch}/bench.sqlite"
        directory = Path(scratch) / "attachments"
        directory.mkdir()
        ticket_ids, user_id = setup(url, directory)
        letters = contexts(url, ticket_ids, count)
        run_render(letters, pruned, range(30))  # compile the parts once, as a running server has
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            run_issue(url, directory, ticket_ids, user_id, range(min(count, 200)))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            dispose_engines()
            return 0
        # The contenders take turns, a chunk of letters each, so that a busy neighbour on a shared machine
        # slows them alike; wall and CPU seconds are both kept (CPU time does not count the waiting).
        names = ("baseline", "render", "stock", "issue")
        wall: dict[str, list[float]] = {name: [] for name in names}
        cpu: dict[str, list[float]] = {name: [] for name in names}
        for _ in range(args.runs):
            clocks = {name: Clock() for name in names}
            for first in range(0, count, CHUNK):
                span = range(first, min(first + CHUNK, count))
                with clocks["baseline"]:
                    run_baseline(letters, span)
                with clocks["render"]:
                    run_render(letters, pruned, span)
                with clocks["stock"]:
                    run_render(letters, stock, span)
                with clocks["issue"]:
                    run_issue(url, directory, ticket_ids, user_id, span)
            for name, clock in clocks.items():
                wall[name].append(per_1000(clock.wall, count))
                cpu[name].append(per_1000(clock.cpu, count))
        dispose_engines()
    load_after = load_avg()
    med = {name: statistics.median(values) for name, values in wall.items()}
    med_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    met = med["issue"] <= TARGET_SECONDS_PER_1000 and med["render"] <= TARGET_SECONDS_PER_1000

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.1f}" for v in values)

    labels = {
        "baseline": "baseline: python-docx opens and saves the same built-in template, nothing rendered",
        "render": "`render_docx` (docxtpl in the sandbox, page set-up)",
        "stock": "`render_docx` with python-docx's whole stock package (the templates before the pruning)",
        "issue": "`issue_letter` on SQLite (checks, 文号, context, render, attachment, event; a transaction each)",
    }
    rows = [
        f"| {labels[name]} | {'**' if name in ('render', 'issue') else ''}{med[name]:.1f}"
        f"{'**' if name in ('render', 'issue') else ''} | {runs(wall[name])} | {med_cpu[name]:.1f} | "
        f"{med[name] / med['baseline']:.1f} |"
        for name in names
    ]
    lines = [
        BEGIN,
        "## Letters: 1,000 rendered",
        "",
        f"`bench/bench_letters.py`, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores; {count:,} letters a run (receipt, 收费通知, 答复书 in turn over {TICKETS} "
        f"applications; the contenders take turns, {CHUNK} letters each), median of {args.runs} runs, "
        f"seconds per 1,000 letters. Load average before {load_before}, after {load_after}"
        + (
            " — a shared machine: compare with the baseline of the same run, and the CPU seconds."
            if float(load_before.split(",")[0]) > 2
            else "."
        )
        + ("" if not small else " `BENCH_SCALE=small`."),
        "",
        "| contender | wall s per 1,000 (median) | runs | CPU s per 1,000 | × baseline (wall) |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Pruning the built-in templates: render {med['stock'] / med['render']:.1f}× faster in this run "
        f"({med_cpu['stock'] / med_cpu['render']:.1f}× in CPU time). "
        f"Target ≤ {TARGET_SECONDS_PER_1000:.0f} s per 1,000 letters: " + ("met." if met else "NOT met."),
        END,
    ]
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
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
