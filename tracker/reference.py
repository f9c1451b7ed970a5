"""The data administrators edit and every new ticket reads — the holiday calendar, deadline-policy
overrides, reminder rules, departments — kept by each process and rebuilt when it changes.

Whether it changed is one primary-key read: `reference_stamp.value`, which a trigger on each of those
tables sets to a value never used before on every write (migration 0015), whoever writes. A change made
in the dashboard is therefore seen by every process at its next read, and a transaction sees its own
uncommitted change (its stamp differs from the committed one), with no time-to-live to wait out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.ops.models import ReferenceStamp

T = TypeVar("T")


class Stamp(NamedTuple):
    database: str  # processes serve several databases (tests, the CLI's --database): never mix their data
    value: int


_cache: dict[str, tuple[Stamp, Any]] = {}
_cache_lock = threading.Lock()
_last_read: dict[str, Stamp] = {}  # by database: the stamp this process read last


def current_stamp(session: Session) -> Stamp:
    """Read the stamp of the session's database (one statement)."""
    stamp = ReferenceStamp.__table__  # a Core statement: no ORM compilation for a one-value read
    value = session.execute(select(stamp.c.value).where(stamp.c.id == 1)).scalar_one()
    return seen_stamp(Stamp(str(session.get_bind().engine.url), value))


def last_stamp(session: Session) -> Stamp:
    """The stamp this process last read of the session's database, without reading it again (the first
    call reads it). Only for a writer whose own statement compares it with the stored value and starts
    over with the stored one when they differ (opening.open_if_new): anyone else calls current_stamp.
    """
    stamp = _last_read.get(str(session.get_bind().engine.url))
    return stamp if stamp is not None else current_stamp(session)


def seen_stamp(stamp: Stamp) -> Stamp:
    """Record `stamp` as the one last read of its database (read by a statement of the caller's)."""
    _last_read[stamp.database] = stamp
    return stamp


def cached(stamp: Stamp, name: str, build: Callable[[], T]) -> T:
    """Return the value `build` made for `name` under `stamp`, building it once per stamp.

    `build` reads after the stamp was read, so a value is never older than its stamp. The value is shared
    by every thread of the process: nobody may change it (builders return tuples, frozen objects).
    """
    entry = _cache.get(name)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    value = build()
    with _cache_lock:
        _cache[name] = (stamp, value)
    return value
