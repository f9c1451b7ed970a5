"""Two pushes of the same new 工单编号 at the same moment, on PostgreSQL with separate connections.

The platform retries on timeouts, so the same order can arrive twice while the first is still being written.
On PostgreSQL a new order is looked up and written in one statement (opening._open_one_postgres): the
first request writes and holds its transaction open until the second request's statement — which found no
committed order either — waits on the first one's row; then the first commits. Exactly one ticket (one
`ticket.created` event, one outbox row) must come out, one answer `created` and the other `duplicate` —
never a 500.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time

import pytest
from sqlalchemy import func, select

from tests.conftest import create_scratch_pg_database, drop_pg_database
from tests.intake.helpers import signed_headers
from tracker.config import Settings
from tracker.db import dispose_engines, session_scope
from tracker.tickets.models import Ticket, TicketEvent
from tracker.tickets.outbox import OutboxMessage
from tracker.workflow import opening

pytestmark = [pytest.mark.pg]

ORDER = {
    "order_no": "SJZ12345-RACE-0001",
    "accepted_at": "2026-11-20 09:30:00",
    "request_type": "投诉",
    "content": "小区旁工厂夜间生产噪声扰民，请协调处理。",
    "name": "王先生",
    "phone": "13800138000",
}


@pytest.fixture
def pg_app(pg_admin_url, tmp_path):
    """The app on a database of its own, with the real connection pool (no shared test transaction)."""
    from tracker.bootstrap import load_reference_data
    from tracker.clock import utcnow
    from tracker.intake.apikeys import create_api_key
    from tracker.migrate import upgrade
    from tracker.people.service import create_department
    from web import create_app

    url = create_scratch_pg_database(pg_admin_url, prefix="tracker_race")
    try:
        upgrade(url)
        settings = Settings.from_env(
            {
                "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
                "TRACKER_DATABASE_URL": url,
                "TRACKER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
                "TRACKER_SECRET_KEY": "race-test-secret",
                "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
            }
        )
        with session_scope(url) as session:
            load_reference_data(session)
            create_department(session, code="bureau", name="市工业和信息化局", parent_code=None)
            key, secret = create_api_key(
                session, settings.secret_key, name="12345平台", channel="hotline", now=utcnow()
            )
            key_id = key.key_id
        yield create_app({"TESTING": True}, settings=settings), url, key_id, secret
    finally:
        dispose_engines()
        drop_pg_database(pg_admin_url, url)


def _wait_for_a_lock_waiter(url: str) -> None:
    """Return once a session of the database waits on a lock (the other push on the first one's row)."""
    from sqlalchemy import text

    with session_scope(url) as session:
        for _ in range(200):
            waiting = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            session.rollback()  # a fresh snapshot of the activity view
            time.sleep(0.05)
    raise AssertionError("the second push never waited on the first one's row")


def test_two_concurrent_pushes_of_one_new_order_make_one_ticket(pg_app, monkeypatch):
    app, url, key_id, secret = pg_app
    real_open = opening._open_one_postgres
    first_written = threading.Event()
    calls = itertools.count()

    def open_in_turn(session, draft, **options):
        call = next(calls)
        if call == 0:  # the first push writes, then keeps its transaction open until the second waits
            opened = real_open(session, draft, **options)
            first_written.set()
            _wait_for_a_lock_waiter(url)
            return opened
        if call == 1:  # the second push's statement starts while the first one's ticket is uncommitted
            assert first_written.wait(20)
        return real_open(session, draft, **options)

    # One signed request first, so that neither push records the key's use (a row lock of its own).
    warm = app.test_client().get(
        "/api/v1/tickets", headers=signed_headers(key_id, secret, "GET", "/api/v1/tickets", b"")
    )
    assert warm.status_code == 200
    monkeypatch.setattr(opening, "_open_one_postgres", open_in_turn)
    body = json.dumps(ORDER, ensure_ascii=False).encode()
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def push() -> None:
        try:
            response = app.test_client().post(
                "/api/v1/intake/hotline",
                data=body,
                headers=signed_headers(key_id, secret, "POST", "/api/v1/intake/hotline", body),
            )
            answers.append((response.status_code, response.get_json()))
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=push) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(status for status, _ in answers) == [200, 201], answers
    assert sorted(answer["result"] for _, answer in answers) == ["created", "duplicate"], answers
    assert len({answer["ticket"]["number"] for _, answer in answers}) == 1

    with session_scope(url) as session:
        ticket_ids = session.scalars(select(Ticket.id).where(Ticket.external_ref == ORDER["order_no"])).all()
        assert len(ticket_ids) == 1
        count = session.scalar(
            select(func.count())
            .select_from(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_ids[0], TicketEvent.kind == "ticket.created")
        )
        assert count == 1
        assert (
            session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.ticket_id == ticket_ids[0], OutboxMessage.topic == "ticket.created")
            )
            == 1
        )
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1
