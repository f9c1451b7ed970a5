"""What every request leaves for the operators: its request id (in the response, the logs, its tasks
and error reports) and its count and latency for /metrics.

Both are done by a WSGI middleware around the Flask app, so they cover every response — a 500 from an
unhandled error and a 400 from a before_request check too, which Flask's after_request never sees.

Request metrics are counted in each process with prometheus_client. Under gunicorn (several worker
processes) they go to files in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets it) and /metrics adds
every process's files up; with one process (`tracker run`, tests) they stay in memory.
"""

from __future__ import annotations

import os
import time

from flask import Flask, request
from prometheus_client import Counter, Histogram

from tracker.ops.logs import accept_request_id, reset_request_id, set_request_id

REQUEST_ID_HEADER = "X-Request-ID"
ROUTE_KEY = "tracker.route"
UNMATCHED_ROUTE = "unmatched"  # 404s: the path is the caller's, and would make a label per path
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


# Registered in no registry of their own: /metrics builds one per scrape, with these two (one process)
# or with the collector that reads every process's files (multiprocess mode).
REQUESTS = Counter(
    "tracker_http_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ("route", "method", "status"),
    registry=None,
)
LATENCY = Histogram(
    "tracker_http_request_duration_seconds",
    "Time from receiving a request to its response headers, by route pattern and method.",
    ("route", "method"),
    buckets=LATENCY_BUCKETS,
    registry=None,
)


class RequestObserver:
    """WSGI middleware: request id in and out, count and latency of every response."""

    def __init__(self, wsgi_app) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = accept_request_id(environ.get("HTTP_X_REQUEST_ID"))
        environ["HTTP_X_REQUEST_ID"] = request_id  # what the app (and error reports) read as the id
        token = set_request_id(request_id)

        def observing_start_response(status, headers, exc_info=None):
            method = environ.get("REQUEST_METHOD", "GET")
            method = method if method in KNOWN_METHODS else "other"
            route = environ.get(ROUTE_KEY, UNMATCHED_ROUTE)
            REQUESTS.labels(route, method, status.split(" ", 1)[0]).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - started)
            headers = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, observing_start_response)
        finally:
            reset_request_id(token)


def _remember_route() -> None:
    """The route pattern (`/tickets/<int:ticket_id>`), not the path: one label per route, not per id."""
    if request.url_rule is not None:
        request.environ[ROUTE_KEY] = request.url_rule.rule


def init_app(app: Flask) -> None:
    from tracker.ops.errorreport import init_error_reporting

    init_error_reporting(app.config["TRACKER_SETTINGS"])
    # First of the app's before_request functions: a later one that aborts (CSRF) still has its route.
    app.before_request_funcs.setdefault(None, []).insert(0, _remember_route)
    app.wsgi_app = RequestObserver(app.wsgi_app)
