"""Operational state: heartbeats that /healthz reads, leases, and API keys of machine clients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.orm import Base, int_pk


class Heartbeat(Base):
    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # worker, beat, weibo-poller …
    beat_at: Mapped[datetime]
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Lease(Base):
    """A role only one process may hold at a time (beat), for as long as it renews it (tracker.ops.leases)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))  # host:pid:random of the process holding it
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


class ApiKey(Base):
    """A machine client (the 12345 platform, an integration). The secret is stored encrypted:
    HMAC verification needs it back, so a one-way hash would not do."""

    __tablename__ = "api_keys"

    id: Mapped[int_pk]
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(32))
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ReferenceStamp(Base):
    """One row whose value changes with every change to the data administrators edit (tracker.reference):
    triggers on those tables set it (migration 0015). Processes key their copies of that data by it."""

    __tablename__ = "reference_stamp"

    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
