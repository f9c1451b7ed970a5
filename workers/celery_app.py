"""The Celery app, configured for correctness (style.md practices 8, 9, 15)."""

from __future__ import annotations

from celery import Celery, bootsteps
from celery.signals import worker_process_init

from tracker.config import Settings
from tracker.logs import configure_logging
from workers.schedule import BEAT_SCHEDULE

# Longer than any task's hard time limit, so Redis never re-delivers a task that is still running.
VISIBILITY_TIMEOUT = 60 * 60
TASK_TIME_LIMIT = 15 * 60
TASK_SOFT_TIME_LIMIT = 14 * 60


def _transport_options(broker_url: str) -> dict:
    # Redis re-delivers unacknowledged tasks after the visibility timeout; the embedded SQLAlchemy
    # transport has no such notion (and passes unknown options on to create_engine, which refuses them).
    if broker_url.startswith(("redis://", "rediss://")):
        return {"visibility_timeout": VISIBILITY_TIMEOUT}
    return {}


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)
    app = Celery("tracker", broker=settings.broker_url, include=["workers.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_time_limit=TASK_TIME_LIMIT,
        task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
        worker_prefetch_multiplier=1,
        broker_transport_options=_transport_options(settings.broker_url),
        broker_connection_retry_on_startup=True,
        timezone="Asia/Shanghai",
        enable_utc=True,
        beat_schedule=BEAT_SCHEDULE,
        beat_scheduler="workers.beat:HeartbeatScheduler",
        beat_schedule_filename=str(settings.instance_dir / "celerybeat-schedule"),
        worker_hijack_root_logger=False,
    )
    app.conf.tracker_settings = settings
    app.steps["worker"].add(WorkerHeartbeat)
    return app


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Record the worker's heartbeat from its own timer, so /healthz sees a live worker even when
    beat is down (and the other way round)."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        from tracker.health import HEARTBEAT_INTERVAL

        beat_now(worker.app, "worker")
        self.tref = worker.timer.call_repeatedly(
            HEARTBEAT_INTERVAL.total_seconds(), beat_now, (worker.app, "worker"), priority=10
        )

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


def beat_now(app: Celery, name: str) -> None:
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.health import record_heartbeat

    try:
        with session_scope(app.conf.tracker_settings.database_url) as session:
            record_heartbeat(session, name, now=utcnow())
    except Exception:  # a missed heartbeat shows as "stale" in /healthz; never kill the process for it
        import logging

        logging.getLogger(__name__).warning("could not record %s heartbeat", name, exc_info=True)


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs) -> None:
    """A prefork child must not use the parent's pooled database connections (the heartbeat opened them
    before the fork): drop them without closing, so the parent's sockets are left alone."""
    from tracker import db

    for engine in list(db._ENGINES.values()):
        engine.dispose(close=False)


celery = make_celery()
