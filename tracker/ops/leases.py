"""Leases: a role (beat) that only one process may hold at a time, for as long as it renews it.

A holder renews well within the lease's time to live; when it stops (killed, host gone, database out of
reach) the lease expires and the next process that asks takes it. Taking and renewing are one
conditional statement each, so two processes asking at the same moment cannot both succeed: the
UPDATE succeeds only for the holder or once the lease has expired, and the first INSERT of a name wins
its primary key. Times are this process's clock: hosts that share a lease keep their clocks in step (NTP),
and the time to live is far longer than any drift that allows.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import datetime, timedelta

from sqlalchemy import case, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.ops.models import Lease


def new_holder_id() -> str:
    """host:pid:random — readable in the table, and unique even for a pid reused after a restart."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(4)}"


def hold(session: Session, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew lease `name` for `holder` until now + ttl; False while another holder's lease runs.
    The caller commits (the lease counts only once committed)."""
    renewed = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
        .values(
            holder=holder,
            expires_at=now + ttl,
            # Only a new holder's start is recorded: a renewal keeps the original moment.
            acquired_at=_case_new_holder(holder, now),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if renewed:
        return True
    try:
        with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=now + ttl, acquired_at=now))
    except IntegrityError:
        return False  # the row exists and another holder's lease has not expired
    return True


def _case_new_holder(holder: str, now: datetime):
    return case((Lease.holder == holder, Lease.acquired_at), else_=now)


def release(session: Session, name: str, holder: str, *, now: datetime) -> None:
    """Give the lease up at once (a clean shutdown), so a standby need not wait for it to expire."""
    session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


def current_holder(session: Session, name: str, *, now: datetime) -> str | None:
    lease = session.get(Lease, name)
    if lease is None or lease.expires_at <= now:
        return None
    return lease.holder
