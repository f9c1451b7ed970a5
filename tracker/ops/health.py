"""Health of the four parts. Worker and beat are judged from heartbeats they record."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tracker.ops.models import Heartbeat

HEARTBEAT_INTERVAL = timedelta(seconds=15)
# Three missed heartbeats means the process is gone or stuck.
HEARTBEAT_STALE_AFTER = HEARTBEAT_INTERVAL * 3


def record_heartbeat(session: Session, name: str, *, now: datetime, info: dict | None = None) -> None:
    beat = session.get(Heartbeat, name)
    if beat is None:
        session.add(Heartbeat(name=name, beat_at=now, info=info or {}))
    else:
        beat.beat_at = now
        beat.info = info or {}
    session.flush()


def check_health(session: Session, *, broker_status: str, now: datetime) -> dict[str, str]:
    """Combine the broker's status (checked by the caller, which knows the broker) with the rest."""
    report: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        report["database"] = "ok"
    except Exception as exc:
        session.rollback()
        report["database"] = f"unreachable: {type(exc).__name__}"
    report["broker"] = broker_status
    for name in ("worker", "beat"):
        report[name] = heartbeat_state(session, name, now=now) if report["database"] == "ok" else "unknown"
    return report


def heartbeat_state(session: Session, name: str, *, now: datetime) -> str:
    """ "ok" when process `name` recorded its heartbeat lately, else why not."""
    beat_at = session.scalar(select(Heartbeat.beat_at).where(Heartbeat.name == name))
    if beat_at is None:
        return "never seen"
    if now - beat_at > HEARTBEAT_STALE_AFTER:
        return f"stale: last seen {int((now - beat_at).total_seconds())}s ago"
    return "ok"
