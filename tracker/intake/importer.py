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
import secrets
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from operator import attrgetter
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sqlalchemy import ARRAY, JSON, any_, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from tracker import reference
from tracker.calendar.store import load_calendar
from tracker.cells import safe_row
from tracker.clock import BUSINESS_TZ, local
from tracker.db import session_scope
from tracker.deadlines import engine as deadline_engine
from tracker.deadlines import policies as deadline_policies
from tracker.deadlines import service as deadline_service
from tracker.errors import CalendarYearMissing, ValidationError
from tracker.intake import disclosure, hotline, website, weibo
from tracker.intake.duplicates import WINDOW
from tracker.intake.formats import FileFormatError, open_table
from tracker.intake.records import FieldError, IntakeRecord, RecordError, apply_record, find_existing_id
from tracker.ops.logs import current_request_id
from tracker.people.access import EVERYTHING, NOTHING, Reach, reach_of
from tracker.people.models import Department, User
from tracker.reminders.schedule import first_check_at, rule_for
from tracker.reminders.sweep import active_rules
from tracker.reports.facts import refresh_facts
from tracker.search import reindex, write_index
from tracker.sql.bulk import id_in
from tracker.tickets import topics as topic_labels
from tracker.tickets.channels import channel as channel_of
from tracker.tickets.history import Actor
from tracker.tickets.models import Contact, Deadline, Ticket, TicketEvent, TicketNumberAllocation, topic_facts
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow.transitions import CONTACT_FIELDS, TicketDraft, draft_subject
from tracker.workflow.transitions import _validate as validate_draft  # the one set of draft rules

CHANNELS = ("hotline", "website", "weibo", "disclosure")
TABLE_MODULES = {"hotline": hotline, "website": website, "disclosure": disclosure}
BATCH_SIZE = 1000
COPY_THRESHOLD = 50
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
            tickets.c.channel == channel, _is_in(session, tickets.c.external_ref, list(rows))
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
        _BatchWriter(session),
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
        writer: _BatchWriter,
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
                    " contacts (phone)"
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
    writer: _BatchWriter,
) -> None:
    written(report.created)
    channel = batch[0].draft.channel
    refs = [r.draft.external_ref for r in batch if r.draft.external_ref]
    existing = (
        dict(
            session.execute(
                select(Ticket.external_ref, Ticket.department_id).where(
                    Ticket.channel == channel, _is_in(session, Ticket.external_ref, refs)
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
        is_plain = not (record.history.reply_text or record.history.satisfaction)
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
            result = apply_record(session, record, actor=actor, reach=reach, now=now, fast=open_if_new)
            if result.status == "created":
                report.created += 1
            elif result.status == "updated":
                report.updated += 1
            else:
                report.unchanged += 1
        session.flush()


def _is_in(session: Session, column: Any, values: Collection[Any]) -> Any:
    """`column IN values`; on PostgreSQL as `= ANY(array)`, one parameter: the driver spends longer
    preparing a statement with 1,000 placeholders than the database spends running it. One value (the
    push) is a plain equality, without an array to build and send."""
    if len(values) == 1:
        return column == next(iter(values))
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _actor_label(actor: Actor | None) -> tuple[int | None, str]:
    if isinstance(actor, User):
        return actor.id, actor.display_name
    return None, actor or "系统"


def _allocate_numbers(session: Session, count: int) -> list[int]:
    """Draw `count` ticket numbers. On PostgreSQL straight from the allocation table's sequence, without
    a row per number: the sequence alone hands out each number once, whoever draws it (`open_ticket`'s
    INSERT takes its default from the same sequence)."""
    if session.get_bind().dialect.name == "postgresql":
        return _new_ids(session, TicketNumberAllocation.__tablename__, count)
    return [
        session.execute(
            insert(TicketNumberAllocation).values().returning(TicketNumberAllocation.id)
        ).scalar_one()
        for _ in range(count)
    ]


def _new_ids(session: Session, table: str, count: int) -> list[int]:
    """Draw `count` ids from the sequence of `table`'s id column (PostgreSQL)."""
    return _draw_ids(session, {table: count})[table]


def _draw_ids(session: Session, counts: Mapping[str, int]) -> dict[str, list[int]]:
    """Draw ids from the sequences of several tables' id columns, `counts[table]` of each, in one
    statement (PostgreSQL); each table's ids in ascending order.

    Each sequence is looked up once per statement (OFFSET 0 keeps the subquery from being merged into
    the outer query, where it was evaluated once per id), and the ids are read through the driver's
    cursor: a thousand rows through the ORM's result machinery cost more than drawing them.
    """
    tables = [table for table, count in counts.items() if count]
    drawn: dict[str, list[int]] = {table: [] for table in counts}
    if not tables:
        return drawn
    cursor = session.connection().connection.driver_connection.cursor(binary=True)
    cursor.execute(
        "SELECT s.i, nextval(s.seq) FROM (SELECT u.i, u.n, pg_get_serial_sequence(u.name, 'id')::regclass"
        " AS seq FROM unnest(%s::text[], %s::int[]) WITH ORDINALITY AS u(name, n, i) OFFSET 0) s,"
        " generate_series(1, s.n)",
        (tables, [counts[table] for table in tables]),
    )
    for i, value in cursor.fetchall():
        drawn[tables[i - 1]].append(value)
    for ids in drawn.values():
        ids.sort()
    return drawn


class _BatchWriter:
    """Writes the rows of a batch of new tickets, a table at a time, each table's rows a list of tuples.

    On PostgreSQL, from COPY_THRESHOLD rows, the ids of all the batch's rows are drawn first in one
    statement (`start`: COPY hands back no ids, and the rows name each other), and each table goes as one
    COPY (psycopg's `Cursor.copy`, which ends the COPY and raises its error before it returns). Elsewhere (SQLite, a handful of rows) each table is one INSERT, returning the new ids.
    """

    def __init__(self, session: Session):
        self.session = session
        self.is_postgres = session.get_bind().dialect.name == "postgresql"
        self.is_copy = False
        self._ids: dict[str, list[int]] = {}

    def start(self, count: int, rows: Mapping[Any, int]) -> None:
        """Begin a batch of `count` tickets; with COPY, draw the ids its rows will take (`rows`: how many
        of each model)."""
        # COPY costs a few round trips of its own: for a handful of rows (the push) one INSERT is cheaper.
        self.is_copy = self.is_postgres and count >= COPY_THRESHOLD
        if self.is_copy:
            self._ids = _draw_ids(self.session, {model.__tablename__: n for model, n in rows.items()})

    def numbers(self, count: int) -> list[int]:
        """Draw `count` ticket numbers."""
        if self.is_copy:
            return self._ids.pop(TicketNumberAllocation.__tablename__)
        return _allocate_numbers(self.session, count)

    def write(
        self, model: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]], *, return_ids: bool = False
    ) -> list[int]:
        """Insert `rows` (tuples in `columns` order) into `model`'s table; the new ids, in row order, when
        asked (COPY: the ids `start` drew for this table)."""
        if not rows:
            return []
        table = model.__table__
        if self.is_copy:
            ids = self._ids.pop(table.name) if return_ids else []
            if return_ids:
                columns = ("id", *columns)
                rows = [(new_id, *row) for new_id, row in zip(ids, rows, strict=True)]
            _copy(self.session, table, columns, rows)
            return ids
        params = [dict(zip(columns, row, strict=True)) for row in rows]
        if len(params) == 1:  # a plain INSERT, without the executemany machinery
            if return_ids:
                return [self.session.execute(insert(table).returning(table.c.id), params[0]).scalar_one()]
            self.session.execute(insert(table), params[0])
            return []
        if return_ids:
            statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
            return list(self.session.scalars(statement, params))
        self.session.execute(insert(table), params)
        return []


def _copy(session: Session, table: Any, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Insert `rows` into `table` with one COPY; an error in it is raised here, the COPY ended, so the
    connection is free for the caller's rollback."""
    json_at = [i for i, name in enumerate(columns) if isinstance(table.c[name].type, JSON)]
    # Serialised once per object: the deadline events of one plan share one data dict. The map keeps
    # each object it has seen alive, so an id is never reused while it lives.
    dumped: dict[int, tuple[str, Any]] = {}
    cursor = session.connection().connection.driver_connection.cursor()
    quoted = ", ".join(f'"{name}"' for name in columns)
    types = _binary_copy_types(session, table.name, columns)
    binary = " (FORMAT BINARY)" if types else ""
    with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN{binary}') as copy:
        if types:
            copy.set_types(types)
        for row in rows:
            if json_at:
                row = list(row)
                for i in json_at:
                    value = row[i]
                    if value is not None:
                        known = dumped.get(id(value))
                        if known is None:
                            known = dumped[id(value)] = (orjson.dumps(value).decode(), value)
                        row[i] = known[0]
            copy.write_row(row)


# The binary COPY form of the column types these tables use: a value goes over as its binary form (a
# timestamp as 8 bytes, not formatted as text and parsed again). Texts and JSON (sent as its text, already
# serialised) share the binary form of text. A column of another type sends the table in text form.
_BINARY_COPY_FORMS = {
    "integer": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "boolean": "bool",
    "timestamp with time zone": "timestamptz",
    "date": "date",
    "text": "text",
    "character varying": "text",
    "json": "text",
}
_copy_types: dict[tuple[str, str], dict[str, str | None]] = {}


def _binary_copy_types(session: Session, table: str, columns: tuple[str, ...]) -> list[str] | None:
    """The binary COPY types of `columns` of `table` (read once per database and table), or None when
    one of them has no binary form here."""
    key = (str(session.get_bind().engine.url), table)
    forms = _copy_types.get(key)
    if forms is None:
        rows = session.execute(
            text(
                "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute "
                "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped"
            ),
            {"table": table},
        )
        forms = _copy_types[key] = {name: _BINARY_COPY_FORMS.get(kind) for name, kind in rows}
    types = [forms.get(name) for name in columns]
    return None if None in types else types


TICKET_COLUMNS = (
    "number",
    "channel",
    "external_ref",
    "request_type",
    "subject",
    "body",
    "category",
    "urgency",
    "incident_address",
    "contact_id",
    "applicant_type",
    "received_via",
    "arrived_at",
    "received_at",
    "department_id",
    "status",
    "is_publishable",
    "query_code",
    "extra",
    "reply_due_at",
    "topic_label_id",
    "has_several_topics",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = (
    "ticket_id",
    "kind",
    "occurred_at",
    "status_before",
    "status_after",
    "data",
    "actor_id",
    "actor_label",
)
# request_id: the request (a push) or task (an upload) that wrote the row, for the consumers' logs.
OUTBOX_COLUMNS = ("topic", "event_id", "ticket_id", "payload", "created_at", "attempts", "request_id")
DEADLINE_COLUMNS = (
    "ticket_id",
    "kind",
    "label",
    "policy_code",
    "policy_version",
    "starts_on",
    "due_at",
    "state",
    "pauses",
    "extensions",
    "override",
    "version",
    "explanation",
    "next_check_at",
    "breached_at",
)
_contact_values = attrgetter(*CONTACT_FIELDS)
_NOTHING_YET: list[Any] = []  # a new deadline's pauses and extensions; one object, serialised once a batch


class OpenedTicket(NamedTuple):
    id: int
    number: str
    possible_duplicate_of: str | None  # the earlier ticket's number, when flagged by phone


def bulk_open(session: Session, drafts: list[TicketDraft], **options: Any) -> list[int]:
    """Open many new tickets at once (`open_new`, same options); return their ids in draft order."""
    return [ticket.id for ticket in open_new(session, drafts, **options)]


def open_new(
    session: Session,
    drafts: list[TicketDraft],
    *,
    actor: Actor | None,
    now: datetime,
    flag_duplicates: bool = True,
    index_search: bool = True,
    planner: DeadlinePlanner | None = None,
    writer: _BatchWriter | None = None,
) -> list[OpenedTicket]:
    """Open many new tickets at once: the same rows `open_ticket` writes — contact, ticket, the
    `ticket.created` event and outbox row, the statutory deadlines with their events, the
    possible-duplicate flag by phone, the search index — in a few statements per batch (COPY on
    PostgreSQL). Returns id, number and the phone duplicate found of each ticket, in draft order: the push
    answers with them without reading the ticket back.

    The caller guarantees the drafts' external references are new (the importer checks in one query).
    An import passes one `planner` for all its batches, so deadlines are computed once per distinct input,
    and one `writer`.
    """
    for draft in drafts:
        validate_draft(draft)
    planner = planner or DeadlinePlanner(session, now=now)
    departments = _departments(session, {d.department_code for d in drafts}, planner.stamp)
    count = len(drafts)
    planned = [planner.plan_draft(draft) for draft in drafts]
    labels = topic_labels.label_ids(session, (topic_facts(d.topics, d.category)[0] for d in drafts))
    duplicates = _phone_duplicates(session, drafts) if flag_duplicates else {}
    actor_id, actor_label = _actor_label(actor)
    writer = writer or _BatchWriter(session)
    writer.start(
        count,
        {
            Contact: count,
            TicketNumberAllocation: count,
            Ticket: count,
            TicketEvent: count + sum(map(len, planned)) + len(duplicates),
        },
    )
    contact_ids = writer.write(
        Contact, CONTACT_FIELDS, [_contact_values(d.contact) for d in drafts], return_ids=True
    )
    numbers = [
        f"{_number_prefix(draft)}{allocated:07d}"
        for draft, allocated in zip(drafts, writer.numbers(count), strict=True)
    ]
    ticket_rows = [
        _ticket_row(draft, number, contact_id, departments[draft.department_code], deadlines, now, labels)
        for draft, number, contact_id, deadlines in zip(drafts, numbers, contact_ids, planned, strict=True)
    ]
    ticket_ids = writer.write(Ticket, TICKET_COLUMNS, ticket_rows, return_ids=True)
    event_data = [
        {"channel": draft.channel, "number": number, "external_ref": draft.external_ref}
        for draft, number in zip(drafts, numbers, strict=True)
    ]
    # Each ticket's `ticket.created` event, its deadlines' `deadline.opened` events and its
    # `ticket.possible_duplicate` event in one statement; the first `count` ids are the
    # `ticket.created` events, which the outbox rows name.
    deadline_rows, deadline_events = planner.rows(ticket_ids, planned, actor=(actor_id, actor_label))
    flagged = {
        ticket_ids[i]: other
        if isinstance(other, _EarlierTicket)
        else _EarlierTicket(ticket_ids[other], numbers[other], drafts[other].channel)
        for i, other in duplicates.items()
    }
    event_ids = writer.write(
        TicketEvent,
        EVENT_COLUMNS,
        [
            *(
                (tid, "ticket.created", now, None, "received", data, actor_id, actor_label)
                for tid, data in zip(ticket_ids, event_data, strict=True)
            ),
            *deadline_events,
            *(
                (
                    tid,
                    "ticket.possible_duplicate",
                    now,
                    None,
                    None,
                    {"of": other.number, "of_id": other.id, "of_channel": other.channel},
                    None,
                    "系统",
                )
                for tid, other in flagged.items()
            ),
        ],
        return_ids=True,
    )[:count]
    request_id = current_request_id()
    writer.write(
        OutboxMessage,
        OUTBOX_COLUMNS,
        [
            ("ticket.created", eid, tid, {"ticket_id": tid, "event_id": eid, **data}, now, 0, request_id)
            for tid, eid, data in zip(ticket_ids, event_ids, event_data, strict=True)
        ],
    )
    if flagged:
        tickets = Ticket.__table__
        session.execute(
            update(tickets)
            .where(tickets.c.id == bindparam("flagged"))
            .values(possible_duplicate_of_id=bindparam("of")),
            [{"flagged": tid, "of": other.id} for tid, other in flagged.items()],
        )
    writer.write(Deadline, DEADLINE_COLUMNS, deadline_rows)
    applications = [tid for tid, d in zip(ticket_ids, drafts, strict=True) if d.channel == "disclosure"]
    # The reply facts went into the ticket rows above (a fresh ticket has no reply yet); an application's
    # history facts come from the one definition in tracker.reports.facts.
    if applications:
        refresh_facts(session, id_in(session, Ticket.id, applications))
    if index_search:
        _index_for_search(session, ticket_ids, ticket_rows)
    return [
        OpenedTicket(tid, number, flagged[tid].number if tid in flagged else None)
        for tid, number in zip(ticket_ids, numbers, strict=True)
    ]


def _number_prefix(draft: TicketDraft) -> str:
    """What a ticket's number starts with: the channel's prefix and the year of receipt."""
    return f"{channel_of(draft.channel).number_prefix}{local(draft.received_at or draft.arrived_at).year}"


def _ticket_row(
    draft: TicketDraft,
    number: str | None,
    contact_id: int | None,
    department_id: int,
    deadlines: list[PlannedDeadline],
    now: datetime,
    labels: Mapping[str, int],
) -> tuple[Any, ...]:
    """The ticket row of a new ticket from `draft`, in TICKET_COLUMNS order; `labels` holds the id of
    its topic label (`topic_labels.label_ids`)."""
    label, several_topics = topic_facts(draft.topics, draft.category)
    return (
        number,
        draft.channel,
        draft.external_ref,
        draft.request_type,
        draft_subject(draft),
        draft.body,
        draft.category,
        draft.urgency,
        draft.incident_address,
        contact_id,
        draft.applicant_type,
        draft.received_via,
        draft.arrived_at,
        draft.received_at or draft.arrived_at,
        department_id,
        "received",
        draft.is_publishable,
        secrets.token_hex(6).upper() if draft.with_query_code else None,
        dict(draft.extra),
        reply_due_at(deadlines),
        # Written with the row: COPY passes no ORM hook (only drafts without topics come here).
        None if label is None else labels[label],
        several_topics,
        now,
        now,
    )


def open_if_new(
    session: Session,
    draft: TicketDraft,
    *,
    actor: Actor | None,
    now: datetime,
    flag_duplicates: bool = True,
    index_search: bool = True,
) -> OpenedTicket | None:
    """Open a ticket from `draft` as `open_new` does, unless its channel and external reference have one
    already: None then, and nothing written.

    On PostgreSQL the 12345 push's case (an order with its number, no search index row in the request, not
    an application) is one statement, `_open_one_postgres`; elsewhere a look-up, then `open_new`.
    """
    is_postgres = session.get_bind().dialect.name == "postgresql"
    if is_postgres and draft.external_ref and not index_search and draft.channel != "disclosure":
        validate_draft(draft)
        for _ in range(STAMP_ATTEMPTS):
            opened = _open_one_postgres(session, draft, actor=actor, now=now, flag_duplicates=flag_duplicates)
            if opened is not _STALE:
                return opened
        # The reference data kept changing under us (an administrator loading a calendar meanwhile):
        # the path that reads the stamp first.
    if draft.external_ref and find_existing_id(session, draft.channel, draft.external_ref) is not None:
        return None
    (opened,) = open_new(
        session, [draft], actor=actor, now=now, flag_duplicates=flag_duplicates, index_search=index_search
    )
    return opened


STAMP_ATTEMPTS = 3
_STALE: Any = object()  # `_open_one_postgres` computed with reference data that has changed since


def _open_one_postgres(
    session: Session, draft: TicketDraft, *, actor: Actor | None, now: datetime, flag_duplicates: bool
) -> OpenedTicket | None:
    """Write what `open_new` writes for one draft — number, contact, ticket, its events, outbox row,
    deadlines, the possible-duplicate flag by phone — in one statement (ONE_TICKET_SQL), unless a ticket
    with the draft's channel and external reference exists (None).

    The deadlines are computed before anything is read, with this process's copy of the reference data
    under the stamp it last read (tracker.reference.last_stamp); the statement writes nothing unless that
    is still the stored stamp, and hands back the stored one, under which the caller computes again
    (`_STALE`). A look-up, a stamp read and nine writes cost one round trip instead of eleven.
    """
    stamp = reference.last_stamp(session)
    label, _several = topic_facts(draft.topics, draft.category)
    # The copy under the last stamp this process saw. That stamp may be one a rolled-back transaction
    # gave (its copy holding a label that was never committed): the statement then writes nothing, as
    # for any stamp that is not the stored one, and the push computes again under the stored stamp.
    labels = topic_labels.dictionary(session, stamp)
    if label is not None and label not in labels:
        labels = topic_labels.label_ids(session, [label])  # added, or added by another process since `stamp`
        stamp = reference.last_stamp(session)  # read by label_ids
    try:
        department_id = _departments(session, {draft.department_code}, stamp)[draft.department_code]
    except ValidationError:
        # Perhaps only unknown to this process's copy (a department added since): ask the database.
        if reference.current_stamp(session) == stamp:
            raise
        return _STALE
    planner = DeadlinePlanner(session, now=now, stamp=stamp)
    planned = planner.plan_draft(draft)
    actor_id, actor_label = _actor_label(actor)
    ticket = _ticket_row(draft, None, None, department_id, planned, now, labels)
    deadline_rows, event_rows = planner.rows([None], [planned], actor=(actor_id, actor_label))
    # Its data names the number, which the statement draws: written there.
    created = (None, "ticket.created", now, None, "received", None, actor_id, actor_label)
    row = session.execute(
        ONE_TICKET_SQL,
        {
            "channel": draft.channel,
            "external_ref": draft.external_ref,
            "stamp": stamp.value,
            "number_prefix": _number_prefix(draft),
            # No phone, nothing to compare: the look-up finds nothing.
            "phone": draft.contact.phone if flag_duplicates else None,
            "received_at": draft.received_at or draft.arrived_at,
            "window": WINDOW,
            "now": now,
            "contact": _json_record(CONTACT_FIELDS, _contact_values(draft.contact)),
            "ticket": _json_record(TICKET_COLUMNS, ticket),
            "events": _json_records(EVENT_COLUMNS, [created, *event_rows]),
            "deadlines": _json_records(DEADLINE_COLUMNS, deadline_rows),
            "request_id": current_request_id(),
        },
    ).one()
    if row.ticket_id is not None:
        return OpenedTicket(row.ticket_id, row.number, row.duplicate_of)
    if row.stamp == stamp.value:
        return None  # the ticket exists
    reference.seen_stamp(reference.Stamp(stamp.database, row.stamp))
    return _STALE


def _json_record(columns: tuple[str, ...], row: tuple[Any, ...]) -> str:
    return json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=_json_scalar)


def _json_records(columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    return json.dumps(
        [dict(zip(columns, row, strict=True)) for row in rows], ensure_ascii=False, default=_json_scalar
    )


def _json_scalar(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()  # aware times keep their offset: timestamptz reads them exactly
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _columns(names: tuple[str, ...], skip: tuple[str, ...] = (), prefix: str = "") -> str:
    return ", ".join(f"{prefix}{name}" for name in names if name not in skip)


# The rows arrive as JSON records read into each table's own row type (json_populate_record), so every
# column takes the table's type and the statement names no column twice. `new` draws the ids and the
# number only when the order is new and the reference stamp is the one the deadlines were computed under;
# every write reads from it, so otherwise nothing is written. Data-modifying CTEs all run to completion;
# the foreign keys between the rows are checked at the end of the statement. Events are inserted in the
# order `open_new` writes them (ticket.created, deadline.opened…, ticket.possible_duplicate), so ids and
# history order agree.
ONE_TICKET_SQL = text(
    " ".join(  # one line: psycopg converts a statement of up to 4 KB to PostgreSQL's form once per process
        f"""
WITH new AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence('contacts', 'id')) AS contact_id,
           nextval(pg_get_serial_sequence('tickets', 'id')) AS ticket_id,
           nextval(pg_get_serial_sequence('ticket_number_allocations', 'id')) AS allocated,
           CAST(:channel AS text) AS channel, CAST(:external_ref AS text) AS external_ref
    WHERE NOT EXISTS (SELECT FROM tickets WHERE channel = :channel AND external_ref = :external_ref)
      AND (SELECT value FROM reference_stamp WHERE id = 1) = :stamp
),
allocation AS (INSERT INTO ticket_number_allocations (id) SELECT allocated FROM new),
earlier AS (
    SELECT t.id, t.number, t.channel
    FROM new, tickets t JOIN contacts c ON c.id = t.contact_id
    WHERE c.phone = :phone AND t.merged_into_id IS NULL
      AND t.received_at >= CAST(:received_at AS timestamptz) - CAST(:window AS interval)
      AND (t.received_at, t.id) < (CAST(:received_at AS timestamptz), new.ticket_id)
    ORDER BY t.received_at, t.id
    LIMIT 1
),
contact AS (
    INSERT INTO contacts (id, {_columns(CONTACT_FIELDS)})
    SELECT new.contact_id, {_columns(CONTACT_FIELDS, prefix="r.")}
    FROM new, json_populate_record(NULL::contacts, CAST(:contact AS json)) r
),
ticket AS (
    INSERT INTO tickets (id, number, contact_id, possible_duplicate_of_id, {_columns(TICKET_COLUMNS, skip=("number", "contact_id"))})
    SELECT new.ticket_id, :number_prefix || lpad(new.allocated::text, greatest(7, length(new.allocated::text)), '0'),
           new.contact_id, (SELECT id FROM earlier), {_columns(TICKET_COLUMNS, skip=("number", "contact_id"), prefix="r.")}
    FROM new, json_populate_record(NULL::tickets, CAST(:ticket AS json)) r
    RETURNING id, number
),
event AS (
    INSERT INTO ticket_events ({_columns(EVENT_COLUMNS)})
    SELECT ticket.id, e.kind, e.occurred_at, e.status_before, e.status_after,
           CASE WHEN e.kind = 'ticket.created' THEN json_build_object(
               'channel', new.channel, 'number', ticket.number, 'external_ref', new.external_ref
           ) ELSE e.data END,
           e.actor_id, e.actor_label
    FROM new, ticket, (
        SELECT r.ordinality, {_columns(EVENT_COLUMNS, skip=("ticket_id",), prefix="r.")}
        FROM json_populate_recordset(NULL::ticket_events, CAST(:events AS json)) WITH ORDINALITY r
        UNION ALL
        SELECT 1000000, 'ticket.possible_duplicate', CAST(:now AS timestamptz), NULL, NULL,
               json_build_object('of', number, 'of_id', id, 'of_channel', channel), NULL, '系统'
        FROM earlier
    ) e
    ORDER BY e.ordinality
    RETURNING id, kind
),
outbox AS (
    INSERT INTO outbox ({_columns(OUTBOX_COLUMNS)})
    SELECT 'ticket.created', event.id, ticket.id, json_build_object(
               'ticket_id', ticket.id, 'event_id', event.id, 'channel', new.channel,
               'number', ticket.number, 'external_ref', new.external_ref
           ), :now, 0, CAST(:request_id AS varchar)
    FROM new, ticket, event
    WHERE event.kind = 'ticket.created'
),
deadline AS (
    INSERT INTO deadlines ({_columns(DEADLINE_COLUMNS)})
    SELECT ticket.id, {_columns(DEADLINE_COLUMNS, skip=("ticket_id",), prefix="r.")}
    FROM ticket, json_populate_recordset(NULL::deadlines, CAST(:deadlines AS json)) r
)
SELECT (SELECT id FROM ticket) AS ticket_id,
       (SELECT number FROM ticket) AS number,
       (SELECT number FROM earlier) AS duplicate_of,
       (SELECT value FROM reference_stamp WHERE id = 1) AS stamp
""".split()
    )
)


def _index_for_search(session: Session, ticket_ids: list[int], ticket_rows: list[tuple[Any, ...]]) -> None:
    """What the ORM's after-flush hook does for tickets it sees: the search index rows (tracker.search)."""
    subject_at, body_at = TICKET_COLUMNS.index("subject"), TICKET_COLUMNS.index("body")
    write_index(
        session.connection(),
        [(tid, row[subject_at], row[body_at]) for tid, row in zip(ticket_ids, ticket_rows, strict=True)],
    )


def _departments(session: Session, codes: set[str | None], stamp: reference.Stamp) -> dict[str | None, int]:
    """The department ids of `codes` (None: the root department), from this process's copy of the
    departments (tracker.reference)."""
    by_code, root = reference.cached(stamp, "department ids", lambda: _read_departments(session))
    unknown = {c for c in codes if c} - set(by_code)
    if unknown:
        code = sorted(unknown)[0]
        raise ValidationError(f"未知部门 {code!r}", fields={"department": "未知部门"})
    result: dict[str | None, int] = {c: by_code[c] for c in codes if c}
    if None in codes:
        if root is None:
            raise ValidationError("尚未建立部门，请先创建部门", fields={"department": "无部门"})
        result[None] = root
    return result


def _read_departments(session: Session) -> tuple[dict[str, int], int | None]:
    """Every department's id by code, and the root's (the first department without a parent)."""
    rows = session.execute(
        select(Department.code, Department.id, Department.parent_id).order_by(Department.id)
    )
    by_code, root = {}, None
    for code, department_id, parent_id in rows:
        by_code[code] = department_id
        if parent_id is None and root is None:
            root = department_id
    return by_code, root


class _EarlierTicket(NamedTuple):
    id: int
    number: str
    channel: str


def _phone_duplicates(session: Session, drafts: list[TicketDraft]) -> dict[int, _EarlierTicket | int]:
    """The batched form of duplicates.flag_possible_duplicate, by phone (text similarity is per row): for
    each draft whose phone an earlier ticket within WINDOW has, that ticket — one already stored, or the
    position of an earlier draft of the batch —, by the draft's position. Asked before the batch is
    written: the look-up then finds only the few stored tickets that match, not the batch's own.

    "Earlier" is by receipt time, then by id, as `flag_possible_duplicate` has it: a stored ticket comes
    before a draft received at the same moment, and drafts in batch order (their ids are drawn in order).
    """
    phones = {d.contact.phone for d in drafts if d.contact.phone}
    if not phones:
        return {}
    earliest = min(d.received_at or d.arrived_at for d in drafts) - WINDOW
    # (received at, 0 for a stored ticket / 1 for a draft, id / position): the order of "earlier".
    candidates: dict[str, list[tuple[datetime, int, int, _EarlierTicket | int]]] = {}
    for row in session.execute(
        select(Contact.phone, Ticket.id, Ticket.number, Ticket.channel, Ticket.received_at)
        .join(Ticket, Ticket.contact_id == Contact.id)
        .where(
            _is_in(session, Contact.phone, phones),
            Ticket.received_at >= earliest,
            Ticket.merged_into_id.is_(None),
        )
    ):
        candidates.setdefault(row.phone, []).append(
            (row.received_at, 0, row.id, _EarlierTicket(row.id, row.number, row.channel))
        )
    for position, draft in enumerate(drafts):
        if draft.contact.phone:
            received = draft.received_at or draft.arrived_at
            candidates.setdefault(draft.contact.phone, []).append((received, 1, position, position))
    found: dict[int, _EarlierTicket | int] = {}
    for entries in candidates.values():
        if len(entries) < 2:
            continue
        entries.sort(key=lambda entry: entry[:3])
        # The earliest entry within the window before each draft's: one walk, however many tickets share
        # the number (a platform's placeholder number may be on every anonymous order).
        first = 0
        for at, (received, kind, position, _) in enumerate(entries):
            while received - entries[first][0] > WINDOW:
                first += 1
            if kind == 1 and first < at:
                found[position] = entries[first][3]
    return found


class PlannedDeadline(NamedTuple):
    """One deadline of a ticket about to be bulk-created: what `DeadlinePlanner.plan` computed for it."""

    kind: str
    policy: Any
    starts_on: datetime
    override: dict[str, Any] | None
    plan: tuple[Any, ...]  # (due time, state, explanation, first check, the event's data)


def reply_due_at(planned: list[PlannedDeadline]) -> datetime | None:
    return next((d.plan[0] for d in planned if d.kind == "reply"), None)


class DeadlinePlanner:
    """The statutory deadlines of bulk-created tickets: the rows and `deadline.opened` events that
    `tracker.deadlines.service.open_deadlines` writes, computed with the engine's own pure functions (policy
    selection, `compute_due`, the reminder schedule) and inserted a batch at a time.

    One planner serves a whole import: the calendar, the policies and the reminder rules are read once,
    and every result is memoised under exactly the inputs that determine it (those three being fixed):
    the policy by (channel, kind, receipt day, request type, urgency); the due time and explanation by
    (policy, receipt day — the receipt moment for clock-hour periods —, the work order's own due time);
    the first reminder check by (due time, channel, kind). A year of work orders has a few hundred receipt
    days, so the arithmetic runs a few hundred times, not once per row. Those three memos belong to the
    reference data the planner computes with (its stamp), not to the planner: the process keeps them
    across planners until the stamp changes, so the 12345 push — a planner per request, the day's orders
    mostly received today — computes a day's deadlines once, not per order. Only the state (running or
    breached), which depends on `now`, is the planner's own. Each memo is emptied when it reaches
    MAX_ENTRIES, which bounds memory on any file and any stream of pushes.

    tests/intake/test_bulk_deadlines.py checks this against `open_deadlines` field by field.
    """

    MAX_ENTRIES = 4096

    def __init__(self, session: Session, *, now: datetime, stamp: reference.Stamp | None = None):
        self.now = now
        # One read of the reference stamp (unless the caller checks the one it passes in its own
        # statement); what it stands for is read again only when it changed.
        self.stamp = stamp or reference.current_stamp(session)
        self.calendar = load_calendar(session, self.stamp)
        self.policies = deadline_service.policies_for(session, self.stamp)
        self.rules = active_rules(session, self.stamp)
        self.end_of_day = deadline_service.default_end_of_day()
        # Shared by the process's planners of this stamp (and end of day), as the data they derive from.
        self._policy, self._due, self._check = reference.cached(
            self.stamp, f"deadline planner memos {self.end_of_day}", lambda: ({}, {}, {})
        )
        self._plan: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def plan_draft(self, draft: TicketDraft) -> list[PlannedDeadline]:
        """The deadlines a new ticket from `draft` opens, computed before the ticket row is written (its
        `reply_due_at` report fact is the reply deadline's due time)."""

        received_at = draft.received_at or draft.arrived_at
        received_on = local(received_at).date()
        result = []
        for kind in deadline_policies.INITIAL_KINDS.get(draft.channel, (deadline_policies.REPLY,)):
            policy = self.policy(draft.channel, kind, received_on, draft.request_type, draft.urgency)
            if policy is None:
                continue
            override = deadline_service.work_order_due(draft.extra, kind)
            plan = self.plan(policy, draft.channel, received_at, received_on, override)
            result.append(PlannedDeadline(kind, policy, received_at, override, plan))
        return result

    def rows(
        self,
        ticket_ids: list[int],
        planned: list[list[PlannedDeadline]],
        *,
        actor: tuple[int | None, str],
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The rows of the planned deadlines of the tickets just written, and of their `deadline.opened`
        events, in DEADLINE_COLUMNS and EVENT_COLUMNS order."""

        actor_id, actor_label = actor
        now = self.now
        deadline_rows, event_rows = [], []
        for ticket_id, deadlines in zip(ticket_ids, planned, strict=True):
            for d in deadlines:
                due_at, state, explanation, next_check, event_data = d.plan
                deadline_rows.append(
                    (
                        ticket_id,
                        d.kind,
                        d.policy.label,
                        d.policy.code,
                        d.policy.version,
                        d.starts_on,
                        due_at,
                        state,
                        _NOTHING_YET,
                        _NOTHING_YET,
                        d.override,
                        1,
                        explanation,
                        next_check,
                        now if state == deadline_policies.BREACHED else None,
                    )
                )
                event_rows.append(
                    (ticket_id, "deadline.opened", now, None, None, event_data, actor_id, actor_label)
                )
        return deadline_rows, event_rows

    def policy(
        self, channel: str, kind: str, received_on: date, request_type: str, urgency: str | None
    ) -> Any:

        key = (channel, kind, received_on, request_type, urgency)
        # Read once, not tested then read: another thread may empty the shared memo in between.
        policy = self._policy.get(key, _NOT_MEMOISED)
        if policy is _NOT_MEMOISED:
            policy = deadline_policies.select_policy(
                self.policies,
                channel=channel,
                kind=kind,
                received_on=received_on,
                request_type=request_type,
                urgency=urgency,
            )
            _bounded(self._policy)
            self._policy[key] = policy
        return policy

    def plan(
        self,
        policy: Any,
        channel: str,
        received_at: datetime,
        received_on: date,
        override: dict[str, Any] | None,
    ) -> tuple[Any, ...]:
        """(due time, state, explanation, first check, the event's data) — the event data is one shared
        dict per plan, serialised once per batch by `_write_rows`."""
        # compute_due reads the start as a day, except for clock-hour periods (and their start phrase).
        start = received_at if policy.unit == deadline_policies.CLOCK_HOURS else received_on
        key = (policy, start, tuple(sorted(override.items())) if override else None)
        cached = self._plan.get(key)
        if cached is not None:
            return cached
        due = self._due.get(key)
        if due is None:
            inputs = deadline_engine.DeadlineInput(
                policy=policy,
                starts_at=received_at,
                fixed_due=deadline_engine.FixedDue.from_json(override) if override else None,
            )
            try:
                result = deadline_engine.compute_due(inputs, self.calendar, end_of_day=self.end_of_day)
                due = (result.due_at, result.explanation, result.is_paused)
            except CalendarYearMissing as missing:
                phrase = deadline_engine.start_phrase(inputs, received_at.astimezone(BUSINESS_TZ))
                explanation = f"{phrase}；{missing.message}，暂无法计算截止时间，导入后自动重新计算"
                due = (None, explanation, False)
            _bounded(self._due)
            self._due[key] = due
        due_at, explanation, is_paused = due
        state = deadline_engine.state_at(due_at, is_paused=is_paused, now=self.now)
        next_check = (
            self.first_check(due_at, channel, policy.kind)
            if state in (deadline_policies.RUNNING, deadline_policies.BREACHED)
            else None
        )
        event_data = {
            "deadline": policy.kind,
            "label": policy.label,
            "due_at_before": None,
            "due_at": deadline_engine.iso_utc(due_at),
            "state": state,
            "version": 1,
            "policy": f"{policy.code}@{policy.version}",
            "explanation": explanation,
        }
        _bounded(self._plan)
        self._plan[key] = planned = (due_at, state, explanation, next_check, event_data)
        return planned

    def first_check(self, due_at: datetime | None, channel: str, kind: str) -> datetime | None:
        key = (due_at, channel, kind)
        check = self._check.get(key, _NOT_MEMOISED)
        if check is _NOT_MEMOISED:
            check = first_check_at(due_at, rule_for(self.rules, channel, kind), self.calendar)
            _bounded(self._check)
            self._check[key] = check
        return check


_NOT_MEMOISED: Any = object()  # a memo's "no entry" (None is a result: no policy, no due time)


def _bounded(memo: dict[Any, Any]) -> None:
    if len(memo) >= DeadlinePlanner.MAX_ENTRIES:
        memo.clear()


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
