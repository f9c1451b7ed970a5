"""File imports, common to every channel: check every row first, then write.

By default a file with any bad row imports nothing (every bad row is named: 第12行 受理时间 "2016/13/01"
无法识别). With skip_bad_rows the good rows are imported and the bad ones written to a CSV next to the
input. Importing the same file again adds nothing: rows are matched by channel + external reference.
New rows without history go through a batched path (a few statements per batch, not per row) that
writes exactly what `open_ticket` writes — ticket, contact, `ticket.created` event, outbox row — after
the same draft validation; rows that update a ticket or carry history go through `apply_record`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tracker.cells import safe_row
from tracker.db import session_scope
from tracker.deadlines.planner import DeadlinePlanner
from tracker.errors import ValidationError
from tracker.intake import disclosure, hotline, website, weibo
from tracker.intake.formats import FileFormatError, open_table
from tracker.intake.records import FieldError, IntakeRecord, RecordError, apply_record
from tracker.people.access import EVERYTHING, NOTHING, Reach, reach_of
from tracker.people.models import Department, User
from tracker.search import reindex
from tracker.sql.bulk import is_in
from tracker.tickets.drafts import validate_draft as validate_draft
from tracker.tickets.history import Actor
from tracker.tickets.models import Ticket
from tracker.workflow.batch_writer import BatchWriter
from tracker.workflow.opening import bulk_open

CHANNELS = ("hotline", "website", "weibo", "disclosure")
TABLE_MODULES = {"hotline": hotline, "website": website, "disclosure": disclosure}
BATCH_SIZE = 1000
MAX_STORED_ERRORS = 500

Progress = Callable[[int], None]


@dataclass
class ImportReport:
    channel: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[FieldError] = field(default_factory=list)
    rejected_path: Path | None = None
    # Tickets created through the batched path: their search index rows are written after the commit
    # (`index_imported`), so the import itself does not wait for word segmentation.
    unindexed_ids: list[int] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return f"导入 {self.created} 条，更新 {self.updated} 条，拒绝 {self.rejected} 条"


class ImportRejected(ValidationError):
    """The file has bad rows and skip_bad_rows was not asked for: nothing was written."""

    def __init__(self, report: ImportReport):
        self.report = report
        lines = [str(e) for e in report.errors[:MAX_STORED_ERRORS]]
        more = len(report.errors) - len(lines)
        super().__init__(
            f"{report.rejected} 行有错误，未导入任何数据：\n"
            + "\n".join(lines)
            + (f"\n……另有{more}处" if more > 0 else ""),
            fields={"file": f"{report.rejected} 行有错误"},
        )


# --- reading ---------------------------------------------------------------------------------------------

RowItem = tuple[int, dict[str, Any], IntakeRecord | None, list[FieldError]]


def iter_rows(channel: str, path: str | Path, *, department_code: str | None = None) -> Iterator[RowItem]:
    """Yield (row number, raw row, record or None, errors) for every row of the file."""
    if channel not in CHANNELS:
        raise ValidationError(
            f"未知渠道 {channel!r}（应为 {'/'.join(CHANNELS)}）", fields={"channel": "未知"}
        )
    path = Path(path)
    if channel == "weibo":
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise ValidationError(f"无法读取文件：{exc.strerror}", fields={"file": "无法读取"}) from None
        for number, item, kind in weibo.records_from_json(raw):
            try:
                yield (
                    number,
                    item,
                    weibo.record_from_item(kind, item, number=number, department_code=department_code),
                    [],
                )
            except RecordError as exc:
                yield number, item, None, exc.errors
        return
    module = TABLE_MODULES[channel]
    try:
        table = open_table(path)
    except FileFormatError as exc:
        raise ValidationError(str(exc), fields={"file": str(exc)}) from None
    missing = [h for h in module.REQUIRED_HEADERS if h not in table.header]
    if missing:
        message = f"缺少必需的列：{'、'.join(missing)}（第1行为表头）"
        raise ValidationError(message, fields={"file": message})
    try:
        for number, row in table.rows():
            try:
                yield (
                    number,
                    row,
                    module.record_from_row(row, number=number, department_code=department_code),
                    [],
                )
            except RecordError as exc:
                yield number, row, None, exc.errors
    except FileFormatError as exc:
        raise ValidationError(str(exc), fields={"file": str(exc)}) from None


def check_file(
    channel: str,
    path: str | Path,
    *,
    department_code: str | None = None,
    progress: Progress | None = None,
    session: Session | None = None,
    reach: Reach | None = None,
) -> ImportReport:
    """Read every row and collect every error; write nothing.

    With `session` and `reach`, a row that would update a ticket outside the importer's reach is an
    error too (`out_of_reach`), so an import that commits batch by batch (the worker) refuses the file
    before it writes anything.
    """
    report = ImportReport(channel)
    seen: set[str] = set()
    pending: dict[str, int] = {}  # external reference → row, checked against the reach a batch at a time

    def check_reach() -> None:
        if session is not None and reach is not None and pending:
            refused = out_of_reach(session, channel, pending, reach)
            report.rejected += len(refused)
            report.errors.extend(refused)
        pending.clear()

    for number, _row, record, errors in iter_rows(channel, path, department_code=department_code):
        report.total += 1
        if record is not None:
            try:
                validate_draft(record.draft)
            except ValidationError as exc:
                errors = [FieldError(k, v, None, number) for k, v in exc.fields.items()]
        if record is not None and record.draft.external_ref in seen and not errors:
            pass  # the same order twice in one file: the later row updates the earlier ticket
        if errors:
            report.rejected += 1
            report.errors.extend(errors)
        elif record is not None and record.draft.external_ref:
            seen.add(record.draft.external_ref)
            pending.setdefault(record.draft.external_ref, number)
            if len(pending) >= BATCH_SIZE:
                check_reach()
        if progress:
            progress(1)
    check_reach()
    return report


def batch_reach(session: Session, batch: Any) -> Reach:
    """The tickets an uploaded file (an ImportBatch) may update: its uploader's (tracker.people.access); a
    batch queued without one (by an operator) those of the department it imports into, or every
    ticket when that is the bureau as a whole."""
    creator = session.get(User, batch.created_by_id) if batch.created_by_id else None
    if creator is not None:
        return reach_of(creator)
    if batch.department_code is None:
        return EVERYTHING
    department_id = session.scalar(select(Department.id).where(Department.code == batch.department_code))
    return Reach(department_id=department_id) if department_id is not None else NOTHING


# The column of each channel's file that holds the external reference (for the rows' error messages).
REFERENCE_COLUMNS = {"hotline": "工单编号", "website": "留言编号", "disclosure": "申请编号", "weibo": "id"}


def out_of_reach(session: Session, channel: str, rows: Mapping[str, int], reach: Reach) -> list[FieldError]:
    """The rows (external reference → row number) that would update a ticket outside `reach`, as row
    errors: an import may change only the tickets its importer may act on (tracker.people.access)."""
    if reach.is_everything or not rows:
        return []
    tickets = Ticket.__table__
    found = session.execute(
        select(tickets.c.external_ref, tickets.c.department_id).where(
            tickets.c.channel == channel, is_in(session, tickets.c.external_ref, list(rows))
        )
    )
    return [
        refused_row(channel, ref, rows[ref])
        for ref, department_id in found
        if not reach.allows(department_id, channel)
    ]


def refused_row(channel: str, ref: str, row: int | None) -> FieldError:
    return FieldError(REFERENCE_COLUMNS[channel], "已有本部门以外的工单使用该编号，无权更新", ref, row)


def write_rejected(channel: str, path: Path, report: ImportReport) -> Path:
    """Write the rejected rows, as read plus the row number and the reasons, next to the input."""
    by_row: dict[int, list[str]] = {}
    for error in report.errors:
        by_row.setdefault(error.row or 0, []).append(str(error))
    target = path.with_name(path.stem + ".rejected.csv")
    header: list[str] | None = None
    with target.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        for number, row, _record, _errors in iter_rows(channel, path):
            if number not in by_row:
                continue
            if header is None:
                header = [k for k in row if k != "__extra__"] if channel != "weibo" else ["JSON"]
                writer.writerow(safe_row(["行号", "错误", *header]))
            values = (
                [json.dumps(row, ensure_ascii=False)] if channel == "weibo" else [row.get(h) for h in header]
            )
            writer.writerow(safe_row([number, "；".join(by_row[number]), *values]))
    report.rejected_path = target
    return target


# --- writing ---------------------------------------------------------------------------------------------


def import_file(
    session: Session,
    channel: str,
    path: str | Path,
    *,
    actor: Actor | None,
    reach: Reach,
    now: datetime,
    skip_bad_rows: bool = False,
    department_code: str | None = None,
    progress: Progress | None = None,
    after_batch: Callable[[ImportReport], None] | None = None,
    checked: ImportReport | None = None,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import a file in batches; flush only (the caller commits, or rolls back on ImportRejected).

    With `checked` (the result of `check_file`, as the worker does to know the total first) bad rows are
    already known. Without it the file is read once: rows are checked as they are written, and the first
    bad row stops all writing while the rest of the file is still checked, so every error is reported —
    then ImportRejected is raised and the caller's rollback leaves nothing written.
    `after_batch` is called after each batch (the worker commits there and records progress; a re-run
    after an interruption resumes, because rows already imported are recognised).
    A row that would update a ticket outside `reach` (the importer's, tracker.people.access) is a bad row like
    any other; the worker finds such rows before writing (`check_file` with the reach).
    """
    report = ImportReport(channel)
    batches = _Batches(
        partial(
            _write_batch,
            session,
            actor=actor,
            reach=reach,
            now=now,
            planner=DeadlinePlanner(session, now=now),
            written=_plan_for_growing_tables(session, batch_size),
        ),
        BatchWriter(session),
        report,
        batch_size=batch_size,
        after_batch=after_batch,
    )
    path = Path(path)
    if checked is None:
        return _import_single_pass(
            batches,
            channel,
            path,
            skip_bad_rows=skip_bad_rows,
            department_code=department_code,
            progress=progress,
        )
    if checked.rejected and not skip_bad_rows:
        raise ImportRejected(checked)
    report.total, report.rejected, report.errors = checked.total, checked.rejected, checked.errors
    if checked.rejected:
        write_rejected(channel, path, report)
    bad_rows = {e.row for e in checked.errors}
    for number, _row, record, errors in iter_rows(channel, path, department_code=department_code):
        if record is not None and not errors and number not in bad_rows:
            batches.add(record)
        if progress:
            progress(1)
    batches.finish()
    if report.rejected > checked.rejected:
        # A ticket moved out of reach between the check and the write (its row was not written).
        if not skip_bad_rows:
            raise ImportRejected(report)
        write_rejected(channel, path, report)
    return report


class _Batches:
    """Collects the records to write and writes them `batch_size` at a time. `after_batch` — the worker
    commits there — runs after each batch is written (once at the end when nothing was)."""

    def __init__(
        self,
        write: Callable[..., None],
        writer: BatchWriter,
        report: ImportReport,
        *,
        batch_size: int,
        after_batch: Callable[[ImportReport], None] | None,
    ):
        self.write, self.writer, self.report = write, writer, report
        self.batch_size, self.after_batch = batch_size, after_batch
        self.records: list[IntakeRecord] = []
        self.written = False

    def add(self, record: IntakeRecord) -> None:
        self.records.append(record)
        if len(self.records) >= self.batch_size:
            self._write()

    def drop(self) -> None:
        """Forget the records not written yet (the import is refused)."""
        self.records = []

    def finish(self) -> None:
        if self.records:
            self._write()
        elif not self.written and self.after_batch:
            self.after_batch(self.report)

    def _write(self) -> None:
        records, self.records = self.records, []
        self.write(records, self.report, writer=self.writer)
        self.written = True
        if self.after_batch:
            self.after_batch(self.report)


def _plan_for_growing_tables(session: Session, batch_size: int) -> Callable[[int], None]:
    """Keep the plans of each batch's look-ups right on PostgreSQL while the import grows the tables; return
    what `_write_batch` calls with the number of rows the import has written so far.

    An import grows `tickets` and `contacts` inside its own transaction, where autovacuum cannot see the
    new rows. Two things then go wrong. A generic plan made while the tables were still small would be a
    sequential scan: the engine's driver prepares no statement (tracker/db.py), so each look-up is
    planned afresh with its values. And the planner, without statistics of the new rows, takes `phone = ANY(1,000
    numbers)` for the whole table and `channel = 'hotline'` for a handful of rows: it scanned every
    hotline ticket for the "already imported?" look-up and every ticket of the last 30 days for the phone
    look-up, a batch's cost growing with the rows before it (docs/benchmarks.md, import). So the columns
    those look-ups filter on are analysed whenever the import has doubled the rows it wrote (a batch,
    two, four …: seven times for 100,000 rows, each a sample of at most 30,000 rows), and the phone look-up
    goes from the contacts to their tickets by `ix_tickets_contact_id`. ANALYZE counts the transaction's
    own new rows, and statistics are only estimates: a rollback leaves nothing wrong. ANALYZE keeps a lock
    on both tables until the transaction ends that only another ANALYZE or VACUUM waits for: a second
    import in one transaction (the CLI) waits at its second batch for the first to commit, and autovacuum
    leaves the tables alone meanwhile; the worker commits after every batch.
    """
    if session.get_bind().dialect.name != "postgresql":
        return lambda written: None
    analysed_at = 0

    def refresh(written: int) -> None:
        nonlocal analysed_at
        # For this transaction (a worker's import commits after each batch, so each batch sets it).
        # The look-ups read pages the import has just written, in shared buffers: an index probe costs
        # about what a page of a scan does, which the default random_page_cost (4) does not assume.
        session.execute(text("SELECT set_config('random_page_cost', '1.1', true)"))
        if written >= max(2 * analysed_at, batch_size):
            session.execute(
                text(
                    "ANALYZE tickets (channel, external_ref, received_at, merged_into_id, contact_id),"
                    " contacts (phone_bidx)"
                )
            )
            analysed_at = written

    return refresh


def _import_single_pass(
    batches: _Batches,
    channel: str,
    path: Path,
    *,
    skip_bad_rows: bool,
    department_code: str | None,
    progress: Progress | None,
) -> ImportReport:
    report = batches.report
    is_refused = False
    for number, _row, record, errors in iter_rows(channel, path, department_code=department_code):
        report.total += 1
        if record is not None and not errors:
            try:
                validate_draft(record.draft)
            except ValidationError as exc:
                errors = [FieldError(k, v, None, number) for k, v in exc.fields.items()]
        if errors or record is None:
            report.rejected += 1
            report.errors.extend(errors)
            if not skip_bad_rows and not is_refused:
                is_refused = True
                batches.drop()
        elif not is_refused:
            batches.add(record)
        if progress:
            progress(1)
    if is_refused:
        raise ImportRejected(report)
    batches.finish()
    if report.rejected and not skip_bad_rows:
        raise ImportRejected(report)  # rows that would update tickets outside the reach (`_write_batch`)
    if report.rejected:
        write_rejected(channel, path, report)
    return report


def _write_batch(
    session: Session,
    batch: list[IntakeRecord],
    report: ImportReport,
    *,
    actor: Actor | None,
    reach: Reach,
    now: datetime,
    planner: DeadlinePlanner,
    written: Callable[[int], None],
    writer: BatchWriter,
) -> None:
    written(report.created)
    channel = batch[0].draft.channel
    refs = [r.draft.external_ref for r in batch if r.draft.external_ref]
    existing = (
        dict(
            session.execute(
                select(Ticket.external_ref, Ticket.department_id).where(
                    Ticket.channel == channel, is_in(session, Ticket.external_ref, refs)
                )
            ).all()
        )
        if refs
        else {}
    )
    fresh: list[IntakeRecord] = []
    slow: list[IntakeRecord] = []
    claimed: set[str] = set()
    for record in batch:
        ref = record.draft.external_ref
        if ref in existing and not reach.allows(existing[ref], channel):
            # Not this importer's ticket: the row is refused, as apply_record would refuse it.
            report.rejected += 1
            report.errors.append(refused_row(channel, ref, record.row))
            continue
        is_plain = not record.history.has_steps
        if ref and ref not in existing and ref not in claimed and is_plain:
            claimed.add(ref)
            fresh.append(record)
        else:
            slow.append(record)
    if fresh:
        report.unindexed_ids.extend(
            bulk_open(
                session,
                [r.draft for r in fresh],
                actor=actor,
                now=now,
                index_search=False,
                planner=planner,
                writer=writer,
            )
        )
        report.created += len(fresh)
    if slow:
        for record in slow:
            result = apply_record(session, record, actor=actor, reach=reach, now=now, fast=True)
            if result.status == "created":
                report.created += 1
            elif result.status == "updated":
                report.updated += 1
            else:
                report.unchanged += 1
        session.flush()


def index_imported(
    url: str, ticket_ids: list[int], *, batch: int = 2000, progress: Progress | None = None
) -> int:
    """Write the search index rows of imported tickets, a transaction per batch (after the import's commit).

    Until then the tickets are complete in every other way; only full-text search does not find them yet.
    """
    done = 0
    for start in range(0, len(ticket_ids), batch):
        chunk = ticket_ids[start : start + batch]
        with session_scope(url) as session:
            done += reindex(session, chunk)
        if progress:
            progress(len(chunk))
    return done


def count_tickets(session: Session, channel: str) -> int:
    return session.scalar(select(func.count()).select_from(Ticket).where(Ticket.channel == channel)) or 0
