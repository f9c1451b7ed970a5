"""The operational figures `/metrics` reports, read from the database when Prometheus scrapes.

Read at scrape time rather than counted in each process: the figures belong to the database, not to a
gunicorn worker or a Celery child, so every process answers the same and nothing is lost when one
restarts. Each figure is one indexed or aggregate query; a scrape every 30 s costs a few of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from tracker.intake.models import ImportBatch
from tracker.notify.models import Delivery
from tracker.ops.models import Heartbeat
from tracker.tickets.models import Deadline
from tracker.tickets.outbox import OutboxMessage

# A deadline is open while it can still be met or is already missed but not closed.
OPEN_DEADLINE_STATES = ("running", "paused", "breached")


@dataclass
class Figures:
    outbox_backlog: int = 0
    outbox_oldest_age_seconds: float = 0.0
    deadlines_open: dict[str, int] = field(default_factory=dict)  # by state
    deadlines_overdue: int = 0
    deliveries_by_status: dict[tuple[str, str], int] = field(default_factory=dict)  # (medium, status)
    heartbeat_age_seconds: dict[str, float] = field(default_factory=dict)  # by process name
    import_rows: dict[str, int] = field(default_factory=dict)  # by outcome
    import_batches: dict[str, int] = field(default_factory=dict)  # by status


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None and now.tzinfo is not None:  # SQLite returns naive UTC
        now = now.replace(tzinfo=None)
    return max(0.0, (now - then).total_seconds())


def read_figures(session: Session, *, now: datetime) -> Figures:
    figures = Figures()
    unpublished = OutboxMessage.published_at.is_(None)
    figures.outbox_backlog = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(unpublished)
    )
    # The oldest unpublished row by id: the partial index ix_outbox_unpublished, one row read.
    oldest = session.scalar(
        select(OutboxMessage.created_at).where(unpublished).order_by(OutboxMessage.id).limit(1)
    )
    figures.outbox_oldest_age_seconds = _age(now, oldest)

    overdue = case(
        (Deadline.state == "breached", 1),
        (Deadline.state.in_(("running", "paused")) & (Deadline.due_at < now), 1),
        else_=0,
    )
    for state, count, late in session.execute(
        select(Deadline.state, func.count(), func.sum(overdue))
        .where(Deadline.state.in_(OPEN_DEADLINE_STATES))
        .group_by(Deadline.state)
    ):
        figures.deadlines_open[state] = count
        figures.deadlines_overdue += int(late or 0)

    for medium, status, count in session.execute(
        select(Delivery.medium, Delivery.status, func.count()).group_by(Delivery.medium, Delivery.status)
    ):
        figures.deliveries_by_status[(medium, status)] = count

    for name, beat_at in session.execute(select(Heartbeat.name, Heartbeat.beat_at)):
        figures.heartbeat_age_seconds[name] = _age(now, beat_at)

    sums = session.execute(
        select(
            func.coalesce(func.sum(ImportBatch.created_count), 0),
            func.coalesce(func.sum(ImportBatch.updated_count), 0),
            func.coalesce(func.sum(ImportBatch.unchanged_count), 0),
            func.coalesce(func.sum(ImportBatch.rejected_count), 0),
        )
    ).one()
    figures.import_rows = dict(
        zip(("created", "updated", "unchanged", "rejected"), map(int, sums), strict=True)
    )
    for status, count in session.execute(
        select(ImportBatch.status, func.count()).group_by(ImportBatch.status)
    ):
        figures.import_batches[status] = count
    return figures
