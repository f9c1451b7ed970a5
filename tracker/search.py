"""The dashboard's search: a ticket's number, its platform reference, its contact, or words of its text.

`matching_ticket_ids` answers "which tickets does this query find" as one SQL condition
`Ticket.id IN (UNION of indexed look-ups)`, which the queues AND with the caller's visibility
(tracker.people.access via tracker.tickets.queries), so a search never finds a ticket its caller may not see:
- the ticket number (`tickets.number`, unique) and the platform's reference (`tickets.external_ref`: the
  12345 work-order number, a website message id), exact;
- the contact's name (exact) or phone (`phone_matches` here, the one place a phone is matched) —
  only for callers who may see personal data (not auditors: a search must not confirm what a mask hides);
- the words of subject and body. Chinese has no spaces, so both the indexed text and the query are
  segmented with jieba into words joined by spaces; every CJK character is indexed on its own as well, so a
  single character (企) is found like a word. PostgreSQL matches `to_tsvector('simple', words)` (stored in
  `ticket_search.search_vector`, GIN index) against `plainto_tsquery('simple', query words)`; SQLite
  matches an FTS5 table over the same words. Every query word must occur (AND).
The index row is written by whatever writes a ticket's subject or body, in its transaction
(`index_tickets`: an update from the channel, anonymisation; the writers of new tickets in
tracker.workflow.opening write it with the ticket or leave it to the `ticket.created` consumer).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Sequence

from sqlalchemy import (
    ColumnElement,
    Connection,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from tracker.pii.cipher import blinds
from tracker.security import normalise_phone
from tracker.tickets.models import Contact, Ticket
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


# One CJK character (the unified ideographs and extension A): indexed on its own besides the words.
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def segment_for_index(*texts: str | None) -> str:
    """Return the words of the texts, space-separated, with the finer sub-words search engines index, and
    then each CJK character once (a query of one character — 企 — matches it; jieba's words alone would
    find 企 only where it stands as a word)."""
    jieba = _tokenizer()
    words: list[str] = []
    chars: dict[str, None] = {}
    for value in texts:
        if value:
            words.extend(w.strip().lower() for w in jieba.cut_for_search(value))
            chars.update(dict.fromkeys(_CJK_CHAR.findall(value)))
    words = [w for w in words if w and not _PUNCT.match(w)]
    single = set(words)
    return " ".join([*words, *(c for c in chars if c not in single)])


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


MAX_QUERY_CHARS = (
    200  # what the queue filter accepts (tracker.tickets.queries); longer is cut, never searched whole
)
MAX_IDENTIFIER_CHARS = 128  # tickets.external_ref's width; a longer query is no number nor reference
MAX_NAME_CHARS = 50
# A query that may be an identifier: one token of letters, digits and the separators numbers use.
_IDENTIFIER = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_\-./#]*$")
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{5,24}$")


MIN_PHONE_DIGITS = 7


def phone_matches(phone: str) -> ColumnElement[bool]:
    """THE exact match of a contact's phone number (search; one function). Phones are encrypted at rest
    (tracker.pii): the match is on the blind index of the normalised number (however it was written),
    under each configured key — an IN (…) on the indexed `contacts.phone_bidx`, never a scan."""
    return Contact.phone_bidx.in_(blinds("phone", phone))


def _word_ids(session: Session, words: list[str]):
    """SELECT ticket_id of the tickets whose indexed words include every one of `words`."""
    if session.get_bind().dialect.name == "postgresql":
        table = TicketSearch.__table__
        condition = table.c.search_vector.op("@@")(
            func.plainto_tsquery(text("'simple'::regconfig"), " ".join(words))
        )
        return select(table.c.ticket_id.label("ticket_id")).where(condition)
    # FTS5: each word quoted (a phrase of one token), all required.
    match = " AND ".join('"' + w.replace('"', '""') + '"' for w in words)
    return (
        select(literal_column("rowid").label("ticket_id"))
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


def matching_ticket_ids(
    session: Session, query: str, *, personal_data: bool = True
) -> ColumnElement[bool] | None:
    """Return the SQL condition "Ticket matches the query", or None for an empty query.

    Each look-up is an indexed one (tickets.number unique, ix_tickets_external_ref, ix_contacts_name,
    the contact phone's index, the full-text index); their union is one IN (…) condition. The contact's
    name and phone are looked up only with `personal_data` (callers who may see it unmasked)."""
    query = (query or "").strip()[:MAX_QUERY_CHARS]
    if not query:
        return None
    parts = []
    if len(query) <= MAX_IDENTIFIER_CHARS and _IDENTIFIER.match(query):
        parts.append(select(Ticket.id.label("ticket_id")).where(Ticket.number == query.upper()))
        parts.append(select(Ticket.id.label("ticket_id")).where(Ticket.external_ref == query))
    if personal_data:
        if _PHONE.match(query) and len(normalise_phone(query)) >= MIN_PHONE_DIGITS:
            parts.append(
                select(Ticket.id.label("ticket_id"))
                .join(Contact, Contact.id == Ticket.contact_id)
                .where(phone_matches(query))
            )
        if len(query) <= MAX_NAME_CHARS and not query.isdigit():
            parts.append(
                select(Ticket.id.label("ticket_id"))
                .join(Contact, Contact.id == Ticket.contact_id)
                .where(Contact.name == query)
            )
    words = query_words(query)
    if words:
        parts.append(_word_ids(session, words))
    if not parts:
        return None
    return Ticket.id.in_(union(*parts) if len(parts) > 1 else parts[0])
