"""Full-text search in Chinese over ticket subject and body.

Chinese has no spaces, so both the indexed text and the query are segmented with jieba into words joined
by spaces. PostgreSQL matches `to_tsvector('simple', words)` (stored in `ticket_search.search_vector`,
GIN index) against `plainto_tsquery('simple', query words)`; SQLite matches an FTS5 table over the same
words. Every query word must occur (AND). The index row is written by whatever writes a ticket's subject
or body, in its transaction (`index_tickets`: an update from the channel, anonymisation; the writers of new
tickets in tracker.workflow.opening write it with the ticket or leave it to the `ticket.created` consumer).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, Connection, bindparam, delete, func, insert, select, text
from sqlalchemy.orm import Session

from tracker.tickets.models import Ticket
from tracker.workflow.models import TicketSearch

_jieba_lock = threading.Lock()
_jieba = None
# Words of one character that carry no meaning on their own (and punctuation) are left out of queries.
_PUNCT = re.compile(r"^[\s\W_]+$", re.UNICODE)
_STOP = frozenset(
    [
        "的",
        "了",
        "和",
        "是",
        "在",
        "我",
        "有",
        "就",
        "不",
        "人",
        "都",
        "一",
        "也",
        "很",
        "到",
        "说",
        "要",
        "去",
        "你",
        "会",
        "着",
        "没",
        "看",
        "好",
        "这",
        "那",
        "吗",
        "呢",
        "吧",
        "啊",
        "请",
    ]
)
MAX_QUERY_WORDS = 12


def _tokenizer():
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba  # on first use: loading its dictionary is slow, and not every process searches

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def segment_for_index(*texts: str | None) -> str:
    """Return the words of the texts, space-separated, with the finer sub-words search engines index."""
    jieba = _tokenizer()
    words: list[str] = []
    for value in texts:
        if value:
            words.extend(w.strip().lower() for w in jieba.cut_for_search(value))
    return " ".join(w for w in words if w and not _PUNCT.match(w))


def query_words(query: str) -> list[str]:
    """Segment a search query into the words that must all occur."""
    jieba = _tokenizer()
    words = [w.strip().lower() for w in jieba.cut(query or "")]
    words = [w for w in words if w and not _PUNCT.match(w) and w not in _STOP]
    return list(dict.fromkeys(words))[:MAX_QUERY_WORDS]


def write_index(connection: Connection, rows: Sequence[tuple[int, str | None, str | None]]) -> None:
    """(Re)write the index rows of the given (ticket id, subject, body)."""
    table = TicketSearch.__table__
    connection.execute(delete(table).where(table.c.ticket_id.in_([row[0] for row in rows])))
    values = [
        {"tid": ticket_id, "terms_": segment_for_index(subject, body)} for ticket_id, subject, body in rows
    ]
    if connection.dialect.name == "postgresql":
        vector = func.to_tsvector(text("'simple'::regconfig"), bindparam("terms_"))
    else:
        vector = None
    connection.execute(
        insert(table).values(ticket_id=bindparam("tid"), terms=bindparam("terms_"), search_vector=vector),
        values,
    )


def reindex(session: Session, ticket_ids: Iterable[int] | None = None, *, batch: int = 1000) -> int:
    """Rebuild the index for the given tickets, or for all (after a bulk load that bypassed the ORM)."""
    query = select(Ticket.id, Ticket.subject, Ticket.body).order_by(Ticket.id)
    if ticket_ids is not None:
        query = query.where(Ticket.id.in_(list(ticket_ids)))
    done = 0
    chunk: list[tuple[int, str, str]] = []
    for row in session.execute(query):
        chunk.append(tuple(row))
        if len(chunk) >= batch:
            write_index(session.connection(), chunk)
            done += len(chunk)
            chunk = []
    if chunk:
        write_index(session.connection(), chunk)
        done += len(chunk)
    return done


def matching_ticket_ids(session: Session, query: str) -> ColumnElement[bool] | None:
    """Return the SQL condition "Ticket matches the query", or None for an empty query."""
    words = query_words(query)
    if not words:
        return None
    if session.get_bind().dialect.name == "postgresql":
        table = TicketSearch.__table__
        condition = table.c.search_vector.op("@@")(
            func.plainto_tsquery(text("'simple'::regconfig"), " ".join(words))
        )
        return Ticket.id.in_(select(table.c.ticket_id).where(condition))
    # FTS5: each word quoted (a phrase of one token), all required.
    match = " AND ".join('"' + w.replace('"', '""') + '"' for w in words)
    return Ticket.id.in_(
        select(text("rowid"))
        .select_from(text("ticket_search_fts"))
        .where(text("ticket_search_fts MATCH :fts_query").bindparams(fts_query=match))
    )


def index_tickets(session: Session, tickets: Iterable[Ticket]) -> None:
    """Write the search index rows of tickets whose subject or body was just written (flushed first, so a
    new ticket has its id). Called by whatever writes them — opening, an update from the channel,
    anonymisation — in the same transaction."""
    tickets = list(tickets)
    if tickets:
        session.flush()
        write_index(session.connection(), [(t.id, t.subject, t.body) for t in tickets])
