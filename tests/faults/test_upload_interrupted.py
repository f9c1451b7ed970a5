"""A dashboard upload whose worker is killed (SIGKILL) half-way leaves nothing half-imported, and the
re-delivered task — or the user uploading the file again — completes it, each row exactly once.

The file goes through the real upload page to a real Celery worker on a private redis-server; the import
commits batch by batch with its progress on the ImportBatch row. Once a batch is committed the test
holds that row locked (FOR UPDATE), so the worker stops inside its next batch's transaction — rows
written, not committed — and is killed there: no timing luck decides where the kill lands.
"""

from __future__ import annotations

import io
import signal
import time

import pytest
from sqlalchemy import func, select, text
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from tests import factories
from tests.intake.helpers import write_many_orders
from tests.intake.test_staff_pages import csrf, login
from tests.workers.conftest import start_worker, stop_process, wait_for, worker_settings
from tracker.db import engine_for, session_scope
from tracker.intake.models import ImportBatch
from tracker.tickets.models import Contact, Deadline, Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage

pytestmark = [pytest.mark.redis, pytest.mark.pg, pytest.mark.slow, pytest.mark.timeout(900)]

ROWS = 8_000  # eight batches of 1,000 (tracker.intake.importer.BATCH_SIZE): the kill lands inside one


def _batch(url, batch_id) -> ImportBatch:
    with session_scope(url) as s:
        return s.get(ImportBatch, batch_id)


def _counts(url) -> dict[str, int]:
    with session_scope(url) as s:
        return {
            model.__name__: s.scalar(select(func.count()).select_from(model))
            for model in (Ticket, Contact, TicketEvent, Deadline, OutboxMessage)
        }


def _whole(url) -> dict[str, int]:
    """Per kind of row, how many imported tickets have it; every ticket must have each (none half-written)."""
    with session_scope(url) as s:
        created = select(TicketEvent.ticket_id).where(TicketEvent.kind == "ticket.created")
        return {
            "tickets": s.scalar(select(func.count()).select_from(Ticket)),
            "distinct_refs": s.scalar(select(func.count(func.distinct(Ticket.external_ref)))),
            "with_contact": s.scalar(select(func.count()).where(Ticket.contact_id.is_not(None))),
            "created_events": s.scalar(select(func.count()).select_from(created.subquery())),
            "with_created_event": s.scalar(select(func.count()).where(Ticket.id.in_(created))),
            "with_deadline": s.scalar(select(func.count()).where(Ticket.id.in_(select(Deadline.ticket_id)))),
            "with_outbox": s.scalar(
                select(func.count()).where(
                    Ticket.id.in_(
                        select(OutboxMessage.ticket_id).where(OutboxMessage.topic == "ticket.created")
                    )
                )
            ),
        }


def _assert_whole(url, tickets: int) -> None:
    assert _whole(url) == dict.fromkeys(
        (
            "tickets",
            "distinct_refs",
            "with_contact",
            "created_events",
            "with_created_event",
            "with_deadline",
            "with_outbox",
        ),
        tickets,
    )


def _upload(client, data: bytes) -> int:
    # Encoded in memory: the test client would spool a large body to a temporary file it never closes.
    boundary, body = encode_multipart(
        {
            "csrf_token": csrf(client, "/imports/"),
            "channel": "hotline",
            "file": FileStorage(io.BytesIO(data), filename="工单.csv"),
        }
    )
    response = client.post("/imports/", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def _lock_waiters(url) -> int:
    """Sessions of this database waiting for a row lock (the worker, stopped at our lock)."""
    with engine_for(url).connect() as conn:
        return conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
        ).scalar()


def test_a_killed_upload_leaves_nothing_half_imported_and_completes_once(
    pg_scratch_url, private_redis, tmp_path
):
    from tracker.clock import utcnow
    from web import create_app

    url = pg_scratch_url
    with session_scope(url) as s:
        factories.department(s, "bureau", "市工业和信息化局")
        sme = factories.department(s, "sme", "中小企业服务处")
        staff = factories.user(s, role="staff", dept=sme, now=utcnow(), username="zhang")
    settings, env = worker_settings(tmp_path, url, private_redis.url)
    data = write_many_orders(tmp_path / "orders.csv", "UPL-KILL", ROWS).read_bytes()
    client = create_app(settings=settings).test_client()
    login(client, staff.username)

    worker = start_worker(env, name="victim")
    try:
        batch_id = _upload(client, data)
        first = wait_for(
            lambda: (b := _batch(url, batch_id)).processed_rows > 0 and b,
            timeout=300,
            interval=0.05,
            message="the first batch committed",
        )
        assert first.status == "importing", f"the import ended before it was interrupted ({first.status})"
        # Hold the batch row: the worker's next progress update (with its batch's rows) waits for it.
        holder = engine_for(url).connect()
        try:
            holder.execute(select(ImportBatch.id).where(ImportBatch.id == batch_id).with_for_update())
            wait_for(lambda: _lock_waiters(url) > 0, timeout=120, message="the worker inside its next batch")
            stop_process(worker, signal.SIGKILL)
        finally:
            holder.rollback()
            holder.close()
    finally:
        stop_process(worker, signal.SIGKILL)

    # Nothing half-imported: what is there is whole tickets, exactly the batches the progress reports.
    time.sleep(0.5)
    killed = _batch(url, batch_id)
    assert killed.status == "importing" and 0 < killed.processed_rows < ROWS
    assert killed.processed_rows % 1000 == 0
    _assert_whole(url, killed.processed_rows)

    # Nobody sends the task again: Redis re-delivers the unacknowledged one to a new worker.
    rescuer = start_worker(env, name="rescuer")
    try:
        wait_for(lambda: _batch(url, batch_id).status == "done", timeout=600, message="the resumed import")
        done = _batch(url, batch_id)
        assert done.processed_rows == ROWS and done.created_count + done.unchanged_count == ROWS
        assert done.created_count == ROWS - killed.processed_rows
        _assert_whole(url, ROWS)
        counts = _counts(url)

        # The user, unsure, uploads the same file again: a new batch, nothing new.
        again = _upload(client, data)
        wait_for(lambda: _batch(url, again).status == "done", timeout=600, message="the second upload")
        second = _batch(url, again)
        assert (second.created_count, second.unchanged_count) == (0, ROWS)
        assert _counts(url) == counts
        _assert_whole(url, ROWS)
    finally:
        stop_process(rescuer)
