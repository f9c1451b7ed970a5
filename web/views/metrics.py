"""/metrics in Prometheus' text format, for the configured addresses or the bearer token only.

Two kinds of figures (docs/operations.md §9 lists them):
* requests by route, method and status, with latency histograms — counted by each web process
  (web/observability.py), added up over gunicorn's processes in multiprocess mode;
* the state of the system — outbox backlog and age, open and overdue deadlines, deliveries by status,
  heartbeat ages, import rows, queue depth per Celery queue — read from the database and the broker
  when Prometheus scrapes, so any web process gives the same answer.

Who may scrape: a request from an address in TRACKER_METRICS_ALLOW that did not come through a proxy
(no X-Forwarded-For, Forwarded or X-Real-IP: behind the reverse proxy on the same host, every visitor
would otherwise come from 127.0.0.1), or a request with `Authorization: Bearer TRACKER_METRICS_TOKEN`.
"""

from __future__ import annotations

import hmac
import ipaddress

from flask import Blueprint, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from tracker.clock import utcnow
from tracker.ops.monitoring import read_figures
from web import tasks
from web.database import db, settings
from web.observability import LATENCY, REQUESTS, multiprocess_dir

bp = Blueprint("metrics", __name__)

PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _allowed() -> bool:
    config = settings()
    authorization = request.headers.get("Authorization", "")
    if config.metrics_token and authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), config.metrics_token.encode()
        ):
            return True
        abort(401, description="metrics: wrong bearer token")
    if not config.metrics_allow or any(request.headers.get(h) for h in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address in network for network in config.metrics_allow)


class StateCollector:
    """The system's state, read when scraped."""

    def collect(self):
        figures = read_figures(db(), now=utcnow())
        yield _gauge(
            "tracker_outbox_backlog",
            "Outbox messages not yet published to the broker.",
            figures.outbox_backlog,
        )
        yield _gauge(
            "tracker_outbox_oldest_age_seconds",
            "Age of the oldest unpublished outbox message (0 when none).",
            figures.outbox_oldest_age_seconds,
        )
        open_deadlines = GaugeMetricFamily(
            "tracker_deadlines_open", "Open deadlines by state.", labels=["state"]
        )
        for state in ("running", "paused", "breached"):
            open_deadlines.add_metric([state], figures.deadlines_open.get(state, 0))
        yield open_deadlines
        yield _gauge(
            "tracker_deadlines_overdue",
            "Open deadlines past their due time (breached, or running past due before the sweep saw them).",
            figures.deadlines_overdue,
        )
        deliveries = GaugeMetricFamily(
            "tracker_deliveries", "Notification deliveries by medium and status.", labels=["medium", "status"]
        )
        failed = GaugeMetricFamily(
            "tracker_deliveries_failed", "Deliveries that failed for good, by medium.", labels=["medium"]
        )
        for (medium, status), count in sorted(figures.deliveries_by_status.items()):
            deliveries.add_metric([medium, status], count)
            if status == "failed":
                failed.add_metric([medium], count)
        yield deliveries
        yield failed
        heartbeats = GaugeMetricFamily(
            "tracker_heartbeat_age_seconds",
            "Seconds since each process (worker, beat, queue …) last recorded its heartbeat.",
            labels=["process"],
        )
        for name, age in sorted(figures.heartbeat_age_seconds.items()):
            heartbeats.add_metric([name], age)
        yield heartbeats
        rows = CounterMetricFamily(
            "tracker_import_rows", "Rows of uploaded import files, by outcome.", labels=["outcome"]
        )
        for outcome, count in figures.import_rows.items():
            rows.add_metric([outcome], count)
        yield rows
        batches = GaugeMetricFamily(
            "tracker_import_batches", "Uploaded import files by status.", labels=["status"]
        )
        for status, count in sorted(figures.import_batches.items()):
            batches.add_metric([status], count)
        yield batches

        depths = tasks.queue_depths(settings())
        yield _gauge(
            "tracker_broker_up", "1 when the Celery broker answered this scrape.", int(depths is not None)
        )
        queues = GaugeMetricFamily(
            "tracker_celery_queue_depth", "Task messages waiting in each Celery queue.", labels=["queue"]
        )
        for queue, depth in (depths or {}).items():
            queues.add_metric([queue], depth)
        yield queues


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


@bp.route("/metrics")
def metrics():
    if not _allowed():
        abort(
            403,
            description="metrics: this address may not scrape (TRACKER_METRICS_ALLOW / TRACKER_METRICS_TOKEN)",
        )
    registry = CollectorRegistry()
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(StateCollector())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
