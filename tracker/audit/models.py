"""The head of the audit hash chain, and the hook that links every audit entry into it as it is inserted.

The link is made at insert time, in the flush, rather than by a helper the writers call: every place that
adds an `AuditEntry` (a dozen, in several packages) is chained without knowing it, and one that bypassed a
helper would otherwise leave a hole no test notices. The chain columns are NOT NULL, so an INSERT that
goes around the ORM fails instead of writing an unchained row.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, String, event, select, update
from sqlalchemy.orm import Mapped, mapped_column

from tracker.audit.hashing import hash_of_entry
from tracker.orm import Base
from tracker.people.models import AuditEntry


class AuditChain(Base):
    """One row: the last entry's position and hash, the algorithm new entries use, and the anchor left by
    retention (the position and hash of the last entry pruned, which the first remaining one links to)."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    algorithm: Mapped[str] = mapped_column(String(8))
    anchor_seq: Mapped[int] = mapped_column(BigInteger)
    anchor_hash: Mapped[str] = mapped_column(String(64))


class SyslogCursor(Base):
    """How far the audit log has been forwarded to syslog (tracker.audit.syslog): entries are sent in
    `seq` order after they commit, so one number is the whole state."""

    __tablename__ = "audit_syslog_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    forwarded_seq: Mapped[int] = mapped_column(BigInteger)


CHAIN_ROW_ID = 1


@event.listens_for(AuditEntry, "before_insert")
def _link_into_chain(_mapper, connection, entry: AuditEntry) -> None:
    """Take the chain's head under a row lock, so no two transactions chain off the same predecessor.

    PostgreSQL: SELECT … FOR UPDATE waits for a writer holding the head until it commits, then reads the
    head it left. SQLite: every transaction here begins IMMEDIATE (tracker.db), holding the database's one
    write lock already. The lock is held until the transaction ends, so `seq` order is commit order, which
    the syslog forwarder relies on.
    """
    head = connection.execute(
        select(AuditChain.last_seq, AuditChain.last_hash, AuditChain.algorithm)
        .where(AuditChain.id == CHAIN_ROW_ID)
        .with_for_update()
    ).one()
    if entry.detail is None:
        entry.detail = {}
    entry.seq = head.last_seq + 1
    entry.prev_hash = head.last_hash
    entry.hash_algorithm = head.algorithm
    entry.entry_hash = hash_of_entry(entry)
    connection.execute(
        update(AuditChain)
        .where(AuditChain.id == CHAIN_ROW_ID)
        .values(last_seq=entry.seq, last_hash=entry.entry_hash)
    )
