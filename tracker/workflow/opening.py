"""Opening tickets: the one way a new ticket is written, whatever brings it.

Each new ticket is planned once — its number, contact, ticket row with its report facts (the reply
deadline's due time, the topic label), its statutory deadlines with their first reminder check
(tracker.deadlines.planner), its `ticket.created` event and outbox row (tracker.tickets.history), its
topics and search row — and the planned rows go to one of two writers: a batch (`open_new`, written by
`tracker.workflow.batch_writer`: one INSERT per table, or COPY on PostgreSQL from COPY_THRESHOLD rows), or,
for the 12345 push on PostgreSQL, one statement (`_open_one_postgres`, look-up included). `open_ticket`, the
door for one ticket that callers work on afterwards (staff entry, the portal, art. 39 conversion, records
with history), is a batch of one read back as an ORM object.

Over 600 lines on purpose: the rows a batch writes and the one-statement form of the same rows are read
together, so a column added to one is seen beside the other.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from datetime import date, datetime
from operator import attrgetter
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import namedtuple_row
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tracker import reference
from tracker.clock import local
from tracker.deadlines.planner import DEADLINE_COLUMNS, DeadlinePlanner, PlannedDeadline, reply_due_at
from tracker.errors import ValidationError
from tracker.intake.duplicates import WINDOW
from tracker.ops.logs import current_request_id
from tracker.people.models import Department
from tracker.pii.cipher import (
    CONTACT_INDEXES,
    blinds,
    contact_indexes,
    normalise_phone,
    seal_row,
)
from tracker.reports.facts import refresh_facts
from tracker.search import write_index
from tracker.sql.bulk import id_in, is_in
from tracker.tickets import topics as topic_labels
from tracker.tickets.channels import channel as channel_of
from tracker.tickets.drafts import CONTACT_FIELDS, TicketDraft, draft_subject, validate_draft
from tracker.tickets.history import Actor, actor_columns
from tracker.tickets.models import (
    Contact,
    Deadline,
    Ticket,
    TicketEvent,
    TicketNumberAllocation,
    TicketTopic,
    topic_facts,
)
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow.batch_writer import BatchWriter

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
_contact_values = attrgetter(*CONTACT_FIELDS)
# The contacts' stored columns: the attributes' columns (the encrypted ones are `*_ct`), then the blind
# indexes. Rows hold the plain values: SQLAlchemy's bind processing (tracker.pii.cipher.EncryptedText)
# seals them on an INSERT, `batch_writer._copy` and the one-statement push through `seal_row`.
CONTACT_COLUMNS = (
    *(Contact.__mapper__.attrs[name].columns[0].name for name in CONTACT_FIELDS),
    *CONTACT_INDEXES,
)


def _contact_row(contact: Any) -> tuple[Any, ...]:
    return (*_contact_values(contact), *contact_indexes(contact.phone, contact.id_number, contact.email))


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
    writer: BatchWriter | None = None,
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
    actor_id, actor_label = actor_columns(actor)
    writer = writer or BatchWriter(session)
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
        Contact, CONTACT_COLUMNS, [_contact_row(d.contact) for d in drafts], return_ids=True
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
    writer.write(
        TicketTopic,
        ("ticket_id", "topic"),
        [(tid, t) for tid, d in zip(ticket_ids, drafts, strict=True) for t in dict.fromkeys(d.topics)],
    )
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
        # The topic facts (tracker.tickets.topics), written with the row.
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
    actor_id, actor_label = actor_columns(actor)
    ticket = _ticket_row(draft, None, None, department_id, planned, now, labels)
    deadline_rows, event_rows = planner.rows([None], [planned], actor=(actor_id, actor_label))
    # Its data names the number, which the statement draws: written there.
    created = (None, "ticket.created", now, None, "received", None, actor_id, actor_label)
    row = _execute_prepared(
        session,
        {
            "channel": draft.channel,
            "external_ref": draft.external_ref,
            "stamp": stamp.value,
            "number_prefix": _number_prefix(draft),
            # The phone's blind index under each key (rows not yet rotated carry an older key's); no phone,
            # nothing to compare: the look-up finds nothing.
            "phones": blinds("phone", draft.contact.phone) if flag_duplicates else [],
            "received_at": draft.received_at or draft.arrived_at,
            "window": WINDOW,
            "now": now,
            "contact": _json_record(
                CONTACT_COLUMNS, seal_row(Contact.__table__, CONTACT_COLUMNS, _contact_row(draft.contact))
            ),
            "ticket": _json_record(TICKET_COLUMNS, ticket),
            "events": _json_records(EVENT_COLUMNS, [created, *event_rows]),
            "deadlines": _json_records(DEADLINE_COLUMNS, deadline_rows),
            "request_id": current_request_id(),
        },
    )
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
ONE_TICKET_SQL = " ".join(  # one line, for the logs
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
    WHERE c.phone_bidx = ANY(CAST(:phones AS text[])) AND t.merged_into_id IS NULL
      AND t.received_at >= CAST(:received_at AS timestamptz) - CAST(:window AS interval)
      AND (t.received_at, t.id) < (CAST(:received_at AS timestamptz), new.ticket_id)
    ORDER BY t.received_at, t.id
    LIMIT 1
),
contact AS (
    INSERT INTO contacts (id, {_columns(CONTACT_COLUMNS)})
    SELECT new.contact_id, {_columns(CONTACT_COLUMNS, prefix="r.")}
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
# The driver's form: `%(name)s` for `:name` (psycopg binds the values on the server).
_ONE_TICKET_DRIVER_SQL = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", ONE_TICKET_SQL.replace("%", "%%"))


def _execute_prepared(session: Session, parameters: dict[str, Any]) -> Any:
    """ONE_TICKET_SQL's one row, the statement prepared on this connection (psycopg keeps it until a
    rollback).

    Planning the statement costs PostgreSQL about 0.9 ms of CPU a push, more than running it with its
    commit (0.6 ms; docs/benchmarks.md, bench:push), and it is the one statement tracker/db.py lets the
    driver prepare: it reads only through unique keys and the phone's blind index, so its generic plan
    stays an index look-up however the tables grow. SQLAlchemy cannot ask the driver to prepare, so the
    statement goes to the driver's cursor on the session's connection, in the session's transaction; a
    driver error is raised as SQLAlchemy raises it (an IntegrityError is the same order pushed twice).
    """
    connection = session.connection()
    driver_connection = connection.connection.driver_connection
    try:
        with driver_connection.cursor(row_factory=namedtuple_row) as cursor:
            return cursor.execute(_ONE_TICKET_DRIVER_SQL, parameters, prepare=True).fetchone()
    except psycopg.Error as error:
        dialect = connection.dialect
        lost = dialect.is_disconnect(error, driver_connection, None)
        if lost:
            connection.invalidate(error)  # as SQLAlchemy does: the pool opens a new one
        raise DBAPIError.instance(
            ONE_TICKET_SQL,
            parameters,
            error,
            psycopg.Error,
            hide_parameters=True,  # a citizen's order: no personal data in the error's text and the logs
            connection_invalidated=lost,
            dialect=dialect,
        ) from error


def _index_for_search(session: Session, ticket_ids: list[int], ticket_rows: list[tuple[Any, ...]]) -> None:
    """What the ORM's after-flush hook does for tickets it sees: the search index rows (tracker.search)."""
    subject_at, body_at = TICKET_COLUMNS.index("subject"), TICKET_COLUMNS.index("body")
    write_index(
        session.connection(),
        [(tid, row[subject_at], row[body_at]) for tid, row in zip(ticket_ids, ticket_rows, strict=True)],
    )


def _departments(session: Session, codes: set[str | None], stamp: reference.Stamp) -> dict[str | None, int]:
    """The department ids of `codes` (None: the root department), from this process's copy of the
    departments (tracker.reference). A disabled department receives no new ticket (issue 18, item 3)."""
    by_code, disabled, root = reference.cached(stamp, "department ids", lambda: _read_departments(session))
    unknown = {c for c in codes if c} - set(by_code)
    if unknown:
        code = sorted(unknown)[0]
        raise ValidationError(f"未知部门 {code!r}", fields={"department": "未知部门"})
    stopped = {c for c in codes if c} & disabled
    if stopped:
        code = sorted(stopped)[0]
        raise ValidationError(f"部门 {code!r} 已停用", fields={"department": "已停用"})
    result: dict[str | None, int] = {c: by_code[c] for c in codes if c}
    if None in codes:
        if root is None:
            raise ValidationError("尚未建立部门，请先创建部门", fields={"department": "无部门"})
        result[None] = root
    return result


def _read_departments(session: Session) -> tuple[dict[str, int], set[str], int | None]:
    """Every department's id by code, the codes of the disabled ones, and the root's id: the first active
    department without a parent (tracker.people.service keeps one enabled)."""
    rows = session.execute(
        select(Department.code, Department.id, Department.parent_id, Department.is_active).order_by(
            Department.id
        )
    )
    by_code, disabled, root = {}, set(), None
    for code, department_id, parent_id, is_active in rows:
        by_code[code] = department_id
        if not is_active:
            disabled.add(code)
        elif parent_id is None and root is None:
            root = department_id
    return by_code, disabled, root


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
    # Compared by the phone's blind index (the numbers are encrypted), under every configured key: a
    # stored contact not yet rotated carries an older key's index. Candidates are grouped by the
    # normalised number, which is what the index compares.
    normal = {d.contact.phone: normalise_phone(d.contact.phone) for d in drafts if d.contact.phone}
    normal = {phone: number for phone, number in normal.items() if number}
    if not normal:
        return {}
    by_index = {index: number for number in set(normal.values()) for index in blinds("phone", number)}
    earliest = min(d.received_at or d.arrived_at for d in drafts) - WINDOW
    # (received at, 0 for a stored ticket / 1 for a draft, id / position): the order of "earlier".
    candidates: dict[str, list[tuple[datetime, int, int, _EarlierTicket | int]]] = {}
    for row in session.execute(
        select(Contact.phone_bidx, Ticket.id, Ticket.number, Ticket.channel, Ticket.received_at)
        .join(Ticket, Ticket.contact_id == Contact.id)
        .where(
            is_in(session, Contact.phone_bidx, list(by_index)),
            Ticket.received_at >= earliest,
            Ticket.merged_into_id.is_(None),
        )
    ):
        candidates.setdefault(by_index[row.phone_bidx], []).append(
            (row.received_at, 0, row.id, _EarlierTicket(row.id, row.number, row.channel))
        )
    for position, draft in enumerate(drafts):
        if draft.contact.phone in normal:
            received = draft.received_at or draft.arrived_at
            candidates.setdefault(normal[draft.contact.phone], []).append((received, 1, position, position))
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


def open_ticket(
    session: Session, draft: TicketDraft, *, actor: Actor | None, now: datetime
) -> tuple[Ticket, bool]:
    """Open the ticket for one draft, unless one with the same channel and external reference exists.

    Returns (ticket, created): with created False the existing ticket, unchanged — updating it is the
    update-from-channel door (`tracker.intake.records.apply_record`), which first checks that the caller
    may change it. The ticket is written as a batch of one (`open_new`: the same planned rows as every
    other writer, its search row included) in the caller's transaction, and read back for the caller to
    work on. The possible-duplicate check is the caller's (`apply_record` compares by text as well).
    """
    validate_draft(draft)
    if draft.external_ref:
        existing = session.scalar(
            select(Ticket).where(Ticket.channel == draft.channel, Ticket.external_ref == draft.external_ref)
        )
        if existing is not None:
            return existing, False
    (opened,) = open_new(session, [draft], actor=actor, now=now, flag_duplicates=False)
    return session.get_one(Ticket, opened.id), True


def find_existing(session: Session, draft: TicketDraft) -> Ticket | None:
    if not draft.external_ref:
        return None
    # The id first: most pushes and imported rows are new, and a one-column look-up that finds nothing
    # costs a fraction of an ORM query for the whole ticket row. A re-sent order pays one more read.
    ticket_id = find_existing_id(session, draft.channel, draft.external_ref)
    return None if ticket_id is None else session.get(Ticket, ticket_id)


def find_existing_id(session: Session, channel: str, external_ref: str) -> int | None:
    tickets = Ticket.__table__
    return session.scalar(
        select(tickets.c.id).where(tickets.c.channel == channel, tickets.c.external_ref == external_ref)
    )
