"""The Celery app, configured for correctness (style.md practices 8, 9, 15)."""

from __future__ import annotations

import socket

from celery import Celery, bootsteps
from celery.signals import (
    after_setup_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_process_init,
)

from tracker.config import Settings
from tracker.ops.errorreport import init_error_reporting
from tracker.ops.logs import (
    configure_logging,
    current_request_id,
    reset_request_id,
    reset_task_context,
    set_request_id,
    set_task_context,
    use_filter,
)
from workers.queues import DEFAULT_QUEUE, TASK_ROUTES
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
    configure_logging(settings.log_level, settings.log_format)
    settings.install_pii_keys()
    init_error_reporting(settings)
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
        # A worker that loses the broker stops the tasks it is running: with acks_late they are
        # redelivered anyway, and finishing them would only do the work twice (the default in Celery 6).
        worker_cancel_long_running_tasks_on_connection_loss=True,
        task_default_queue=DEFAULT_QUEUE,
        task_routes=TASK_ROUTES,
        broker_transport_options=_transport_options(settings.broker_url),
        broker_connection_retry_on_startup=True,
        timezone="Asia/Shanghai",
        enable_utc=True,
        beat_schedule=BEAT_SCHEDULE,
        beat_scheduler="workers.beat:HeartbeatScheduler",
        # One file per host: beats on two hosts (or containers) sharing the instance volume must not
        # write the same shelve file; which of them schedules is decided by the lease (workers/beat.py).
        beat_schedule_filename=str(settings.instance_dir / f"celerybeat-schedule-{socket.gethostname()}"),
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
        from tracker.ops.health import HEARTBEAT_INTERVAL

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
    from tracker.ops.health import record_heartbeat

    try:
        with session_scope(app.conf.tracker_settings.database_url) as session:
            record_heartbeat(session, name, now=utcnow())
    except Exception:  # a missed heartbeat shows as "stale" in /healthz; never kill the process for it
        import logging

        logging.getLogger(__name__).warning("could not record %s heartbeat", name, exc_info=True)


@before_task_publish.connect
def _send_request_id(headers=None, **_kwargs) -> None:
    """A task sent while a request (or another task) is handled carries its request id in its headers;
    the outbox relay sets the header itself from the row."""
    request_id = current_request_id()
    if headers is not None and request_id and not headers.get("request_id"):
        headers["request_id"] = request_id


_TASK_CONTEXT: dict[str, tuple] = {}


@task_prerun.connect
def _enter_task(task_id=None, task=None, **_kwargs) -> None:
    request_id = getattr(task.request, "request_id", None) if task is not None else None
    _TASK_CONTEXT[task_id] = (
        set_request_id(request_id),
        set_task_context(task_id, task.name if task is not None else None),
    )


@task_postrun.connect
def _leave_task(task_id=None, **_kwargs) -> None:
    tokens = _TASK_CONTEXT.pop(task_id, None)
    if tokens is not None:
        request_token, task_token = tokens
        reset_task_context(task_token)
        reset_request_id(request_token)


@after_setup_logger.connect
def _filter_celery_handlers(logger=None, **_kwargs) -> None:
    """Celery's own handlers (when it installs any) get the request id filter and the configured format."""
    log_format = celery.conf.tracker_settings.log_format
    for handler in logger.handlers if logger is not None else []:
        use_filter(handler, log_format)


@worker_process_init.connect
def _fresh_connections_after_fork(**_kwargs) -> None:
    """A prefork child must not use the parent's pooled database connections (the heartbeat opened them
    before the fork): drop them without closing, so the parent's sockets are left alone."""
    from tracker import db

    for engine in list(db._ENGINES.values()):
        engine.dispose(close=False)


celery = make_celery()
