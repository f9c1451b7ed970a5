"""Relay the transactional outbox to Celery, after the commit that wrote it.

`publish_pending(settings)` is what a request, a CLI command or the periodic relay calls once its own
transaction has committed. It publishes unpublished `OutboxMessage` rows in id order, marking each one
published; the broker being down is not an error for the caller — the rows stay and the periodic relay
(`outbox.relay` in the beat schedule) publishes them when it is back. Delivery is at least once (a crash
between publishing and marking publishes again); every consumer is idempotent through `ProcessedMessage`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime

from sqlalchemy import select, update

from tracker.clock import utcnow
from tracker.config import Settings
from tracker.db import session_scope
from tracker.tickets.outbox import OutboxMessage

log = logging.getLogger(__name__)

HANDLE_TASK = "events.handle"
CONNECT_TIMEOUT = 2
GATHER_SECONDS = 0.05  # how long a woken relay thread lets more requests commit before it publishes
PUBLISH_BATCH = 1000  # broker writes sent together at most (a pass publishes up to 500 messages)
_APPS: dict[str, object] = {}


def app_for(settings: Settings):
    """The Celery app for these settings' broker (the module-level app when they agree)."""
    from workers.celery_app import celery, make_celery

    if settings.broker_url == celery.conf.broker_url:
        return celery
    if settings.broker_url not in _APPS:
        _APPS[settings.broker_url] = make_celery(settings)
    return _APPS[settings.broker_url]


def publish_pending(settings: Settings, *, limit: int = 500, now: datetime | None = None) -> int:
    """Publish up to ``limit`` unpublished outbox messages; return how many went out.

    Never raises for a broker outage (it logs and leaves the rows for the relay); a second relay running
    at the same moment skips the rows this one holds (FOR UPDATE SKIP LOCKED on PostgreSQL).
    """
    app = app_for(settings)
    try:
        with session_scope(settings.database_url) as session:
            rows = session.execute(
                select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.request_id)
                .where(OutboxMessage.published_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return 0
            if session.get_bind().dialect.name != "sqlite":
                sent_ids = _send(app, rows)
                _mark_published(session, sent_ids, now)
                return len(sent_ids)
        # SQLite locks the whole database for a writing transaction (BEGIN IMMEDIATE, tracker/db.py): held
        # while the broker takes its time (a backlog after demo data or an outage: half a minute), it would
        # stall every request and heartbeat. Publish outside it, then mark in a short one. Two relays at
        # once may then both publish a row — at least once, as after a crash; the consumers are idempotent.
        sent_ids = _send(app, rows)
        if sent_ids:
            with session_scope(settings.database_url) as session:
                _mark_published(session, sent_ids, now)
        return len(sent_ids)
    except Exception:
        log.warning("outbox: relay failed", exc_info=True)
        return 0


def _send(app, rows) -> list[int]:
    """Send the rows' messages; the ids of those that went out — all of them, or none when the broker
    failed (some may have gone out even so: the relay sends them again, at least once)."""
    # A pooled connection: a new one per call cost a TCP connect and the queue declarations again.
    with app.pool.acquire(block=True) as connection:
        try:
            # Fail fast when the broker is down: nobody must wait on it (the relay retries).
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=CONNECT_TIMEOUT)
            producer = app.amqp.Producer(connection)
            # Each message is the ordinary task message of send_task; the batch only holds back the
            # broker writes and sends them together (one Redis pipeline: one round trip and one client
            # per pass instead of per message).
            with producer.batch(max_size=PUBLISH_BATCH):
                for message_id, topic, request_id in rows:
                    # The request id of the request that wrote the row, not of whoever relays it.
                    headers = {"topic": topic, "request_id": request_id} if request_id else {"topic": topic}
                    app.send_task(
                        HANDLE_TASK,
                        args=[message_id],
                        retry=False,
                        producer=producer,
                        headers=headers,
                    )
        except Exception as exc:  # broker unreachable: keep them all for the relay
            connection.close()  # back to the pool disconnected: the next use connects afresh
            log.warning("outbox: broker unavailable, %d messages left (%s)", len(rows), type(exc).__name__)
            return []
    return [message_id for message_id, _, _ in rows]


def _mark_published(session, sent_ids: list[int], now: datetime | None) -> None:
    if sent_ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(sent_ids))
            .values(published_at=now or utcnow(), attempts=OutboxMessage.attempts + 1)
            .execution_options(synchronize_session=False)
        )


class BackgroundRelay:
    """Publish the outbox from a thread of this process, woken after each write request's commit.

    The request only sets an event, so neither its latency nor its worker pays for the broker; under load
    one pass publishes what the requests of the last GATHER_SECONDS wrote, in one transaction. A process killed between commit and
    publication leaves the rows to the periodic relay, as a broker outage does.
    """

    def __init__(self, settings: Settings, *, limit: int = 500) -> None:
        self._settings = settings
        self._limit = limit
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._stopping = False

    def wake(self) -> None:
        with self._lock:
            # A forked child (gunicorn worker) has the parent's object but not its thread.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._wake = threading.Event()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        wake = self._wake
        while not self._stopping:
            wake.wait()
            # The requests of the next moment commit meanwhile and go out in the same pass: under load
            # a pass (a transaction, a broker connection) then publishes dozens of rows, not one or two.
            time.sleep(GATHER_SECONDS)
            wake.clear()
            while not self._stopping and publish_pending(self._settings, limit=self._limit) >= self._limit:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        """End the thread after its current pass; what is left unpublished stays for the periodic relay."""
        with self._lock:
            self._stopping = True
            thread = self._thread
            self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)


_RELAYS: dict[str, BackgroundRelay] = {}
_RELAYS_LOCK = threading.Lock()


def wake_relay(settings: Settings) -> None:
    """Have this process's relay thread publish what was just committed (started on first use)."""
    key = f"{settings.database_url} {settings.broker_url}"
    with _RELAYS_LOCK:
        relay = _RELAYS.get(key)
        if relay is None:
            relay = _RELAYS[key] = BackgroundRelay(settings)
    relay.wake()


def stop_relays(timeout: float = 10.0) -> None:
    """Stop this process's relay threads: a server shutting down before its engines are disposed, so no
    thread is left holding a connection of a pool that is gone (its database may be gone too)."""
    with _RELAYS_LOCK:
        relays = list(_RELAYS.values())
        _RELAYS.clear()
    for relay in relays:
        relay.stop(timeout)


def unpublished_count(settings: Settings) -> int:
    from sqlalchemy import func

    with session_scope(settings.database_url) as session:
        return session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        )
