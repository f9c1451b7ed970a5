"""PostgreSQL unreachable for a few seconds while the 12345 platform pushes work orders.

A private cluster (tests/faults/services.py) behind the real app served over real HTTP: the database is
killed (`pg_ctl stop -m immediate`, like a crash) in the middle of a stream of signed pushes and started
again three seconds later. Clients must get 503 with Retry-After — never a 500 — and, retrying as the
platform does, every order must end up as exactly one complete ticket (its event and deadlines too).
"""

from __future__ import annotations

import gc
import json
import os
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import Counter

import pytest
from sqlalchemy import func, select, text

from tests.faults.services import PrivatePostgres
from tests.intake.helpers import signed_headers
from tests.serving import served
from tracker.config import Settings
from tracker.db import dispose_engines, session_scope
from tracker.tickets.models import Ticket

pytestmark = [pytest.mark.pg, pytest.mark.slow]

ORDERS = 40
STOP_AFTER = 8  # orders accepted before the database goes away
OUTAGE_SECONDS = 3.0


@pytest.fixture
def private_pg():
    pg = PrivatePostgres().init()
    pg.start()
    try:
        yield pg
    finally:
        dispose_engines()
        pg.destroy()
        # Connections cut by the crash and dropped by the server's request threads are collected now,
        # inside this fixture, rather than reported against whichever test runs next.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


@pytest.fixture
def live_app(private_pg, tmp_path):
    from tracker.bootstrap import load_reference_data
    from tracker.clock import utcnow
    from tracker.intake.apikeys import create_api_key
    from tracker.migrate import upgrade
    from tracker.people.service import create_department
    from web import create_app

    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
            "TRACKER_DATABASE_URL": private_pg.url,
            "TRACKER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
            "TRACKER_SECRET_KEY": "fault-test-secret",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    upgrade(private_pg.url)
    with session_scope(private_pg.url) as session:
        load_reference_data(session)
        create_department(session, code="bureau", name="市工业和信息化局", parent_code=None)
        key, secret = create_api_key(
            session, settings.secret_key, name="12345平台", channel="hotline", now=utcnow()
        )
        key_id = key.key_id
    app = create_app({"TESTING": False}, settings=settings)
    with served(app) as port:
        yield f"http://127.0.0.1:{port}", key_id, secret


def _order(n: int) -> bytes:
    return json.dumps(
        {
            "order_no": f"SJZ12345-FAULT-{n:04d}",
            "accepted_at": "2026-11-20 09:30:00",
            "request_type": "投诉",
            "content": f"第{n}号工单：小区旁工厂夜间生产噪声扰民，请协调处理。",
            "name": "王先生",
            "phone": "13800138000",
        },
        ensure_ascii=False,
    ).encode()


def _push(base: str, key_id: str, secret: str, body: bytes) -> tuple[int, dict, dict]:
    request = urllib.request.Request(
        f"{base}/api/v1/intake/hotline",
        data=body,
        method="POST",
        headers=signed_headers(key_id, secret, "POST", "/api/v1/intake/hotline", body),
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            parsed = json.loads(payload)
        except ValueError:
            parsed = {"raw": payload.decode(errors="replace")[:200]}
        return error.code, dict(error.headers), parsed


def test_database_outage_during_push_gives_503_with_retry_after_and_one_ticket_per_order(
    private_pg, live_app
):
    base, key_id, secret = live_app
    statuses: Counter[int] = Counter()
    unavailable: list[tuple[dict, dict]] = []
    unexpected: list[tuple[int, dict]] = []
    accepted = threading.Event()

    def platform() -> None:
        """The 12345 platform: push each order, retry on 503 after Retry-After (shortened for the test)."""
        for n in range(ORDERS):
            body = _order(n)
            for _attempt in range(200):
                status, headers, payload = _push(base, key_id, secret, body)
                statuses[status] += 1
                if status == 503:
                    unavailable.append((headers, payload))
                    time.sleep(min(float(headers.get("Retry-After", "1")), 0.25))
                    continue
                if status not in (200, 201):
                    unexpected.append((status, payload))
                break
            if n + 1 == STOP_AFTER:
                accepted.set()

    client = threading.Thread(target=platform)
    client.start()
    assert accepted.wait(60), "the first orders were never accepted"
    private_pg.stop("immediate")
    time.sleep(OUTAGE_SECONDS)
    private_pg.start()
    private_pg.wait_until_accepting()
    client.join(timeout=240)
    assert not client.is_alive(), "the platform never got through"

    assert unexpected == [], f"answers other than 201/200/503: {unexpected[:3]}"
    assert statuses[500] == 0
    assert statuses[503] > 0, "the outage was never observed; the test proved nothing"
    for headers, payload in unavailable:
        assert int(headers["Retry-After"]) > 0
        assert payload["error"]["code"] == "database_unavailable"

    # A retried push that had in fact been committed is recognised: pushing everything again adds nothing.
    for n in (0, STOP_AFTER, ORDERS - 1):
        status, _, payload = _push(base, key_id, secret, _order(n))
        assert status == 200 and payload["result"] in ("updated", "duplicate", "unchanged"), payload

    dispose_engines()
    with session_scope(private_pg.url) as session:
        per_order = dict(
            session.execute(
                select(Ticket.external_ref, func.count())
                .where(Ticket.channel == "hotline")
                .group_by(Ticket.external_ref)
            ).all()
        )
        assert len(per_order) == ORDERS and set(per_order.values()) == {1}
        # Nothing half-written: every ticket has its contact, its created event and its deadlines.
        incomplete = session.execute(
            text(
                "SELECT t.number FROM tickets t"
                " WHERE t.contact_id IS NULL"
                " OR NOT EXISTS (SELECT 1 FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind = 'ticket.created')"
                " OR NOT EXISTS (SELECT 1 FROM deadlines d WHERE d.ticket_id = t.id)"
            )
        ).all()
        assert incomplete == []
        assert session.scalar(text("SELECT count(*) FROM contacts")) == ORDERS
    print(
        f"\noutage figures: {dict(statuses)} answers for {ORDERS} orders; 503s during the outage: {statuses[503]}"
    )
