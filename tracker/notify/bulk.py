"""Set-oriented writes for the sweep: one statement per batch, whatever the batch size.

On PostgreSQL rows travel as one array per column (``INSERT … SELECT FROM unnest(…)``), so a batch of
thousands of rows is a statement with a handful of parameters: no per-row round trips, and nothing for
the driver to re-parse. Elsewhere (SQLite) the portable executemany is used.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, Table, text
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
        if session.get_bind().dialect.name == "sqlite" and ignore_conflicts:
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy import insert
        stmt = insert(table)
        if ignore_conflicts:
            stmt = stmt.on_conflict_do_nothing()
        if returning:
            return session.execute(stmt.returning(*(table.c[name] for name in returning)), list(rows)).all()
        session.execute(stmt, list(rows))
        return []
    params, casts = {}, []
    for index, name in enumerate(columns):
        column = table.c[name]
        kind = _pg_type(column)
        values = [row[name] for row in rows]
        if kind == "json":
            values = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
        params[f"p{index}"] = values
        casts.append(f"CAST(:p{index} AS {kind}[])")
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM unnest({', '.join(casts)})"
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(returning)}"
        return session.execute(text(sql), params).all()
    session.execute(text(sql), params)
    return []


def update_by_id(session: Session, table: Table, column: str, pairs: Sequence[tuple[int, Any]]) -> None:
    """Set ``column`` per row id, in one statement on PostgreSQL."""
    if not pairs:
        return
    if not _is_pg(session):
        from sqlalchemy import bindparam, update

        session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values({column: bindparam("b_value")}),
            [{"b_id": i, "b_value": v} for i, v in pairs],
        )
        return
    kind = _pg_type(table.c[column])
    session.execute(
        text(
            f"UPDATE {table.name} AS t SET {column} = v.value FROM unnest(CAST(:ids AS integer[]), "
            f"CAST(:values AS {kind}[])) AS v(id, value) WHERE t.id = v.id"
        ),
        {"ids": [i for i, _ in pairs], "values": [v for _, v in pairs]},
    )


def id_in(session: Session, column, ids: Sequence[int]):
    """``column IN ids`` — as ``= ANY(array)`` on PostgreSQL: one parameter instead of one per id."""
    if _is_pg(session):
        from sqlalchemy import any_, bindparam
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam(None, list(ids), type_=ARRAY(Integer)))
    return column.in_(list(ids))
