"""Delivery semantics with a REAL Celery worker subprocess on a REAL (private) redis-server and a scratch
PostgreSQL database: a broker outage during intake, a worker killed with SIGKILL mid-send."""

import signal
import threading
import time

import pytest
from sqlalchemy import func, select, update

from tests import factories
from tests.workers.conftest import at, end_of, start_worker, stop_process, wait_for, worker_settings
from tracker.db import session_scope
from tracker.deadlines import service as deadlines
from tracker.notify.models import Delivery
from tracker.ops.models import Heartbeat
from tracker.people.models import User
from tracker.tickets.models import TicketEvent
from tracker.tickets.outbox import OutboxMessage, ProcessedMessage
from tracker.workflow.opening import open_ticket
from tracker.workflow.routing import save_routing_rule, save_topic_rule
from tracker.workflow.transitions import assign_ticket
from workers.outbox import app_for, publish_pending
from workers.tasks.events import CONSUMERS
from workers.tasks.reminders import run_sweep

pytestmark = [pytest.mark.redis, pytest.mark.pg, pytest.mark.slow]


def _bureau(url, now):
    with session_scope(url) as s:
        factories.department(s, "bureau", "市工业和信息化局")
        sme = factories.department(s, "sme", "中小企业服务处")
        staff = factories.user(s, role="staff", dept=sme, now=now, username="zhang")
        factories.user(s, role="supervisor", dept=sme, now=now, username="liu")
        return staff.id


def _worker_alive(url, since):
    with session_scope(url) as s:
        beat = s.get(Heartbeat, "worker")
        return beat is not None and beat.beat_at >= since


def _count(url, query):
    with session_scope(url) as s:
        return s.scalar(query)


def test_redis_down_during_intake_then_every_event_processed_exactly_once(
    pg_scratch_url, private_redis, tmp_path
):
    from tracker.clock import utcnow

    url = pg_scratch_url
    now = utcnow()
    _bureau(url, now)
    with session_scope(url) as s:
        save_routing_rule(s, department_code="sme", keywords=["企业"], now=now)
        save_topic_rule(s, topic="惠企政策", keywords=["补贴"], now=now)
    settings, env = worker_settings(tmp_path, url, private_redis.url)
    worker = start_worker(env, name="w1")
    try:
        wait_for(lambda: _worker_alive(url, now), message="worker heartbeat")
        private_redis.stop()

        # 200 tickets, each its own request: commit, then the after-commit publish. Every one succeeds.
        started = time.monotonic()
        for n in range(200):
            with session_scope(url) as s:
                open_ticket(
                    s,
                    factories.draft(
                        arrived_at=now,
                        subject=f"企业补贴咨询{n}",
                        body=f"我们企业的补贴申请第{n}号进展如何？",
                    ),
                    actor="12345平台",
                    now=now,
                )
            assert publish_pending(settings) == 0  # broker down: logged, left for the relay
        outage_seconds = time.monotonic() - started
        assert (
            _count(
                url,
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None)),
            )
            == 200
        )

        private_redis.start()
        # The periodic relay's body; run it twice at once, as an overlapping beat tick would.
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(publish_pending(settings))) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(results) == 200
        # Re-publish 50 of them (a crash between publishing and marking): consumers must not act twice.
        with session_scope(url) as s:
            s.execute(update(OutboxMessage).where(OutboxMessage.id <= 50).values(published_at=None))
        assert publish_pending(settings) >= 50

        expected = 200 * len(CONSUMERS["ticket.created"])  # one record per event and consumer

        def processed():
            return _count(url, select(func.count()).select_from(ProcessedMessage)) == expected

        wait_for(processed, timeout=180, message=f"{expected} consumer records (200 events × each consumer)")
        time.sleep(2)  # let any duplicate delivery land before counting effects
        routed = _count(
            url, select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "ticket.routed")
        )
        tagged = _count(
            url, select(func.count()).select_from(TicketEvent).where(TicketEvent.kind == "ticket.tagged")
        )
        assert (routed, tagged) == (200, 200)
        assert outage_seconds < 120  # a sanity bound, not a benchmark: requests did not hang on the broker
    finally:
        stop_process(worker)


def test_worker_killed_mid_send_every_reminder_sent_exactly_once(
    pg_scratch_url, private_redis, smtp_server, tmp_path
):
    url = pg_scratch_url
    start = at("2026-02-25", "10:00")
    staff_id = _bureau(url, start)
    for _ in range(30):
        with session_scope(url) as s:
            ticket, _ = open_ticket(
                s, factories.draft(arrived_at=start, department_code="sme"), actor="测试", now=start
            )
            assign_ticket(s, ticket, s.get(User, staff_id), actor="测试", now=start)
            deadlines.override_deadline(
                s, ticket, "reply", due_at=end_of("2026-03-09"), reason="测试", now=start, actor="测试"
            )
    settings, env = worker_settings(
        tmp_path,
        url,
        private_redis.url,
        TRACKER_SMTP_HOST="127.0.0.1",
        TRACKER_SMTP_PORT=str(smtp_server.port),
    )
    totals = run_sweep(settings, now=at("2026-03-04", "10:00"))
    assert totals["deliveries"] == 30

    in_flight = threading.Event()

    def on_rcpt(received):
        if received == 10 and not in_flight.is_set():
            in_flight.set()
            return 5  # hold the 11th message mid-transaction while the test kills the worker
        return 0

    smtp_server.on_rcpt = on_rcpt
    from tracker.clock import utcnow

    booted = utcnow()
    worker = start_worker(env, name="victim")
    try:
        wait_for(lambda: _worker_alive(url, booted), message="worker heartbeat")
        app_for(settings).send_task("deliveries.send")
        assert in_flight.wait(60)
        stop_process(worker, signal.SIGKILL)
        assert len(smtp_server.messages) == 10
        with session_scope(url) as s:
            leased = s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "sending"))
        assert leased >= 1  # the killed worker's batch is still leased
    finally:
        stop_process(worker, signal.SIGKILL)

    # A new worker; nobody sends the task again: Redis redelivers the unacknowledged one.
    rescuer = start_worker(env, name="rescuer")
    try:
        wait_for(lambda: len(smtp_server.messages) >= 30, timeout=120, message="30 e-mails")
        time.sleep(3)
        ids = [m["Message-ID"] for m in smtp_server.messages]
        assert len(ids) == 30 and len(set(ids)) == 30
        assert _count(url, select(func.count()).select_from(Delivery).where(Delivery.status == "sent")) == 30
    finally:
        stop_process(rescuer)
