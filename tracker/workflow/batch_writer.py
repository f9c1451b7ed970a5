"""The batch writer of new tickets (tracker.workflow.opening): a table at a time, one INSERT per table, or
one COPY per table on PostgreSQL from COPY_THRESHOLD rows — with the ids of all the batch's rows drawn
first in one statement, since COPY hands back none and the rows name each other.

Kept apart from opening.py, which plans the rows: this module knows how rows reach the database, not what
a ticket's rows are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from sqlalchemy import JSON, insert, text
from sqlalchemy.orm import Session

from tracker.pii.cipher import has_encrypted, seal_row
from tracker.tickets.models import TicketNumberAllocation

# From this many new tickets a batch goes by COPY on PostgreSQL: below it, COPY's own round trips cost
# more than one INSERT per table.
COPY_THRESHOLD = 50


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


class BatchWriter:
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
    if has_encrypted(table):
        # COPY bypasses SQLAlchemy's types: the encrypted columns are sealed here, by the type's own code.
        rows = [seal_row(table, columns, row) for row in rows]
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
