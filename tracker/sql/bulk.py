"""Set-oriented writes for the sweep: one statement per batch, whatever the batch size.

On PostgreSQL a batch travels either as one JSON document (`insert_rows`: ``INSERT … SELECT FROM
json_populate_recordset``) or, cheaper for both sides, as one binary array per column (`insert_columns`,
`update_columns`: ``… FROM unnest(…)``): thousands of rows are one statement, with no per-row round trips
and nothing for the driver to parse or escape per row. Elsewhere (SQLite) the portable executemany is used.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, Select, Table, any_, bindparam, insert, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from tracker.types import UTCDateTime


def _pg_type(column) -> str:
    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, JSON):
        return "json"
    return "text"


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> list:
    """Insert ``rows`` (dicts with the same keys); return the RETURNING rows of those actually inserted."""
    if not rows:
        return []
    columns = list(rows[0])
    if not _is_pg(session):
        is_sqlite = session.get_bind().dialect.name == "sqlite"
        stmt = sqlite_insert(table) if is_sqlite and ignore_conflicts else insert(table)
        if ignore_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        if returning:
            return session.execute(stmt.returning(*(table.c[name] for name in returning)), list(rows)).all()
        session.execute(stmt, list(rows))
        return []
    # One JSON document for the whole batch: json.dumps is C-fast and the server types each field by
    # the table's own column types (json_populate_recordset), so nothing is parsed or escaped per row.
    document = json.dumps(rows, ensure_ascii=False, default=_plain)
    names = ", ".join(columns)
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {names} "
        f"FROM json_populate_recordset(NULL::{table.name}, CAST(:rows AS json))"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
        return session.execute(text(sql), {"rows": document}).all()
    session.execute(text(sql), {"rows": document})
    return []


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    raise TypeError(f"cannot store {type(value).__name__} in a bulk row")


@lru_cache(maxsize=4096)
def _iso(moment: datetime) -> str:
    # A batch repeats a few moments thousands of times (its ``now``, shared due times). Equal aware
    # datetimes are the same instant, so whichever spelling is cached means the same to PostgreSQL.
    return moment.isoformat()


def insert_columns(
    session: Session,
    table: Table,
    columns: dict[str, Sequence[Any]],
    *,
    same: dict[str, Any] | None = None,
    ignore_conflicts: bool = False,
    returning: Sequence[str] = (),
) -> list:
    """Insert one row per position of the equally long ``columns``, each also taking the values ``same``.

    Return the RETURNING rows of those actually inserted (as tuples). The sweep builds its rows as a list
    per column, so no dict is made per row; on PostgreSQL each list goes over as a binary array, which
    neither side has to render or parse as text.
    """
    same = same or {}
    names = list(columns)
    if not names or not columns[names[0]]:
        return []
    if not _is_pg(session):
        rows = [
            dict(zip(names, values, strict=True), **same) for values in zip(*columns.values(), strict=True)
        ]
        return insert_rows(session, table, rows, ignore_conflicts=ignore_conflicts, returning=returning)
    fixed = ", ".join(f"%b::{_pg_type(table.c[name])}" for name in same)
    arrays = ", ".join(f"%b::{_pg_type(table.c[name])}[]" for name in names)
    sql = (
        f"INSERT INTO {table.name} ({', '.join([*names, *same])}) "
        f"SELECT {', '.join([f'x.c{i}' for i in range(len(names))] + ([fixed] if fixed else []))} "
        f"FROM unnest({arrays}) AS x({', '.join(f'c{i}' for i in range(len(names)))})"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
    arguments = [
        # A JSON column's values go over as their text (one json.dumps each), the rest as they are.
        [json.dumps(v, ensure_ascii=False) for v in values]
        if isinstance(table.c[name].type, JSON)
        else list(values)
        for name, values in columns.items()
    ]
    with binary_cursor(session) as cursor:
        cursor.execute(sql, [*same.values(), *arguments])
        return cursor.fetchall() if returning else []


@contextmanager
def binary_cursor(session: Session) -> Iterator[Any]:
    """A psycopg cursor in binary mode on the session's own connection, so inside its transaction.

    PostgreSQL only. Arrays go over in binary (``%b``), which SQLAlchemy's text mode does not offer.
    """
    cursor = session.connection().connection.driver_connection.cursor(binary=True)
    try:
        yield cursor
    finally:
        cursor.close()


def read_rows(session: Session, statement: Select) -> list[tuple]:
    """The rows of a Core SELECT as plain tuples, in the session's transaction.

    On PostgreSQL through a binary cursor, without SQLAlchemy's result layer, which costs more than
    psycopg's own loading (docs/benchmarks.md, sweep). Timestamps come back aware, in
    the connection's time zone (the same instants as SQLAlchemy's UTC ones, equal and hashing alike). The
    parameters go over as they are, without SQLAlchemy's bind processing: pass plain values (aware
    datetimes, numbers, strings, lists of them), and `id_in` rather than an expanding ``IN``. Elsewhere (SQLite, whose naive timestamps need
    `UTCDateTime` on the way out) through SQLAlchemy.
    """
    if not _is_pg(session):
        return [tuple(row) for row in session.connection().execute(statement)]
    compiled = statement.compile(session.get_bind())
    with binary_cursor(session) as cursor:
        cursor.execute(str(compiled), compiled.params)
        return cursor.fetchall()


def update_by_id(session: Session, table: Table, column: str, pairs: Sequence[tuple[int, Any]]) -> None:
    """Set ``column`` per row id, in one statement on PostgreSQL."""
    if not pairs:
        return
    if not _is_pg(session):
        session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values({column: bindparam("b_value")}),
            [{"b_id": i, "b_value": v} for i, v in pairs],
        )
        return
    kind = _pg_type(table.c[column])
    document = json.dumps([{"id": i, "value": v} for i, v in pairs], default=_plain)
    session.execute(
        text(
            f"UPDATE {table.name} AS t SET {column} = v.value "
            f"FROM json_to_recordset(CAST(:rows AS json)) AS v(id integer, value {kind}) WHERE t.id = v.id"
        ),
        {"rows": document},
    )


def id_in(session: Session, column, ids: Sequence[int]):
    """``column IN ids`` — as ``= ANY(array)`` on PostgreSQL: one parameter instead of one per id."""
    if _is_pg(session):
        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))


def is_in(session: Session, column: Any, values: Collection[Any]) -> Any:
    """`column IN values`; on PostgreSQL as `= ANY(array)`, one parameter: the driver spends longer
    preparing a statement with 1,000 placeholders than the database spends running it. One value (the
    push) is a plain equality, without an array to build and send."""
    if len(values) == 1:
        return column == next(iter(values))
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)
