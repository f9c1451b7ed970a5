"""/metrics: scraped and parsed as Prometheus does, with figures that match the database; only the
configured addresses or the bearer token get it; request counts by route pattern, never by raw path."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from tests import factories
from tracker.clock import utcnow
from tracker.intake.models import ImportBatch
from tracker.notify.models import Delivery
from tracker.notify.service import notify
from tracker.ops.health import record_heartbeat
from tracker.tickets.models import Deadline
from tracker.tickets.outbox import OutboxMessage
from web import create_app

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def metrics_app(settings, session_factory):
    configured = dataclasses.replace(
        settings,
        metrics_allow=(ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.8.0.0/16")),
        metrics_token=TOKEN,
    )
    return create_app({"TESTING": True, "SESSION_FACTORY": session_factory}, settings=configured)


def scrape(client, **kwargs) -> dict[str, list]:
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.data
    assert response.mimetype == "text/plain"
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples, name, **labels) -> float:
    matching = [
        s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matching) == 1, f"{name}{labels}: {samples.get(name)}"
    return matching[0]


def test_an_empty_database_scrapes_to_zeros(metrics_app):
    samples = scrape(metrics_app.test_client())
    assert value(samples, "tracker_outbox_backlog") == 0
    assert value(samples, "tracker_outbox_oldest_age_seconds") == 0
    assert value(samples, "tracker_deadlines_overdue") == 0
    assert value(samples, "tracker_deadlines_open", state="running") == 0
    assert value(samples, "tracker_import_rows_total", outcome="created") == 0
    assert value(samples, "tracker_broker_up") == 1  # the test's embedded broker
    queues = {s.labels["queue"]: s.value for s in samples["tracker_celery_queue_depth"]}
    assert queues == {"celery": 0, "imports": 0, "events": 0, "reminders": 0, "deliveries": 0}


def test_figures_match_the_database(metrics_app, session, now):
    dept = factories.department(session, "sme", "中小企业服务处")
    tickets = [factories.ticket(session, now=now, dept=dept) for _ in range(3)]
    deadlines = session.scalars(select(Deadline).where(Deadline.ticket_id.in_([t.id for t in tickets]))).all()
    assert len(deadlines) >= 3
    deadlines[0].state = "breached"
    deadlines[1].due_at = utcnow() - timedelta(hours=1)  # past due, the sweep has not seen it yet
    deadlines[2].state = "met"
    record_heartbeat(session, "worker", now=utcnow() - timedelta(seconds=40))
    supervisor = factories.user(session, role="supervisor", dept=dept, now=now)
    # Deliveries name a real notification (a foreign key since migration 0023).
    (notification_id,) = notify(session, [supervisor.id], kind="status", title="工单状态变化", now=now)
    session.add_all(
        [
            Delivery(
                key=f"test:{n}:{medium}",
                notification_id=notification_id,
                medium=medium,
                status=status,
                next_attempt_at=now,
                created_at=now,
            )
            for n, (medium, status) in enumerate(
                [("email", "failed"), ("email", "failed"), ("sms", "failed"), ("email", "sent")]
            )
        ]
    )
    session.add(
        ImportBatch(
            channel="hotline",
            filename="12345-2026-03.xlsx",
            file_sha256="0" * 64,
            status="done",
            total_rows=11,
            created_count=5,
            updated_count=2,
            unchanged_count=1,
            rejected_count=3,
            created_at=now,
        )
    )
    session.flush()
    unpublished = session.scalars(select(OutboxMessage).where(OutboxMessage.published_at.is_(None))).all()
    assert unpublished  # opening a ticket writes its event to the outbox

    before = utcnow()
    samples = scrape(metrics_app.test_client())
    after = utcnow()

    assert value(samples, "tracker_outbox_backlog") == len(unpublished)
    oldest = min(m.created_at for m in unpublished)
    age = value(samples, "tracker_outbox_oldest_age_seconds")
    assert (before - oldest).total_seconds() <= age <= (after - oldest).total_seconds()

    open_by_state: dict[str, int] = {}
    overdue = 0
    for d in session.scalars(select(Deadline)):
        if d.state in ("running", "paused", "breached"):
            open_by_state[d.state] = open_by_state.get(d.state, 0) + 1
            overdue += d.state == "breached" or (d.due_at is not None and d.due_at < before)
    for state in ("running", "paused", "breached"):
        assert value(samples, "tracker_deadlines_open", state=state) == open_by_state.get(state, 0)
    assert value(samples, "tracker_deadlines_overdue") == overdue >= 2

    assert value(samples, "tracker_deliveries_failed", medium="email") == 2
    assert value(samples, "tracker_deliveries_failed", medium="sms") == 1
    assert value(samples, "tracker_deliveries", medium="email", status="sent") == 1
    assert value(samples, "tracker_heartbeat_age_seconds", process="worker") >= 40
    rows = {s.labels["outcome"]: s.value for s in samples["tracker_import_rows_total"]}
    assert rows == {"created": 5, "updated": 2, "unchanged": 1, "rejected": 3}
    assert value(samples, "tracker_import_batches", status="done") == 1


def test_requests_are_counted_by_route_pattern_with_latency(metrics_app, session, now):
    client = metrics_app.test_client()
    before = scrape(client)

    def count(samples, route, status):
        return sum(
            s.value
            for s in samples.get("tracker_http_requests_total", [])
            if s.labels == {"route": route, "method": "GET", "status": status}
        )

    for _ in range(3):
        assert client.get("/livez").status_code == 200
    for n in range(4):
        assert client.get(f"/no-such-page-{n}").status_code == 404
    assert client.get("/tickets/123").status_code in (302, 404)  # signed out: to the sign-in page

    samples = scrape(client)
    assert count(samples, "/livez", "200") - count(before, "/livez", "200") == 3
    # Four different unknown paths are one series, not four: a caller cannot grow the label set.
    assert count(samples, "unmatched", "404") - count(before, "unmatched", "404") == 4
    assert not [s for s in samples["tracker_http_requests_total"] if "no-such-page" in s.labels["route"]]
    assert any(
        s.labels["route"] == "/tickets/<int:ticket_id>" for s in samples["tracker_http_requests_total"]
    )
    buckets = [
        s
        for s in samples["tracker_http_request_duration_seconds_bucket"]
        if s.labels["route"] == "/livez" and s.labels["le"] == "+Inf"
    ]
    assert buckets and buckets[0].value == value(
        samples, "tracker_http_request_duration_seconds_count", route="/livez", method="GET"
    )


def test_only_configured_addresses_or_the_token_may_scrape(metrics_app):
    client = metrics_app.test_client()
    assert client.get("/metrics").status_code == 200  # 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.8.3.4"}).status_code == 200
    outsider = {"REMOTE_ADDR": "203.0.113.9"}
    refused = client.get("/metrics", environ_base=outsider)
    assert refused.status_code == 403 and refused.is_json
    assert b"tracker_" not in refused.data
    # Through the reverse proxy on the same host every visitor would come from 127.0.0.1: a request that
    # a proxy passed on never counts as the allowed address.
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        assert client.get("/metrics", headers={header: "127.0.0.1"}).status_code == 403
    # The token works from anywhere; a wrong one, another scheme or a token in the URL do not.
    assert (
        client.get(
            "/metrics", environ_base=outsider, headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 200
    )
    assert (
        client.get("/metrics", environ_base=outsider, headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}"}).status_code == 401
    assert (
        client.get("/metrics", environ_base=outsider, headers={"Authorization": f"Basic {TOKEN}"}).status_code
        == 401
    )
    assert client.get(f"/metrics?token={TOKEN}", environ_base=outsider).status_code == 403


def test_nothing_configured_means_nobody_scrapes(app):
    client = app.test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 403


def test_livez_answers_without_the_database(tmp_path):
    from tracker.config import Settings

    # A database nobody can open: /healthz says so, /livez does not care.
    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path),
            "TRACKER_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "TRACKER_BROKER_URL": "redis://127.0.0.1:1/0",
            "TRACKER_SECRET_KEY": "k",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    client = create_app({"TESTING": True}, settings=settings).test_client()
    live = client.get("/livez")
    assert live.status_code == 200 and live.json == {"status": "alive"}
    assert client.get("/healthz").status_code == 503


def test_every_series_the_sample_alerts_use_is_scraped(metrics_app):
    import re
    from pathlib import Path

    import yaml

    rules = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "docs" / "prometheus-alerts.yml").read_text()
    )
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
            used |= set(re.findall(r"\btracker_[a-z_]+", rule["expr"]))
    metrics_app.test_client().get("/livez")  # a request, so the latency histogram has series
    scraped = set(scrape(metrics_app.test_client()))
    # A histogram's series are scraped as _bucket/_count/_sum; a family with no sample yet (no failed
    # delivery) still has its name in the exposition's HELP line.
    text = metrics_app.test_client().get("/metrics").get_data(as_text=True)
    missing = [name for name in used if name not in scraped and f"# HELP {name} " not in text]
    assert used and not missing, f"the alerts use series /metrics does not have: {missing}"
