"""/healthz: database, broker, worker and beat. 200 only when all four are ok.

`/healthz?detail=1` adds `channels`: each outside channel's state, last success and last error code with
its meaning (tracker.ops.channel_status; no URL, token or raw error text). A channel's trouble does not turn
the answer into a 503 — the service itself is up; the operator acts on the channel.

/livez: this process answers, nothing else — for a liveness probe, which must not restart a healthy web
server because PostgreSQL or Redis is down (that is what /healthz reports).
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from tracker.clock import utcnow
from tracker.ops.health import check_health
from web.database import db, settings
from web.tasks import broker_status

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    report = check_health(db(), broker_status=broker_status(settings()), now=utcnow())
    status = 200 if all(v == "ok" for v in report.values()) else 503
    if request.args.get("detail") and report["database"] == "ok":
        from tracker.ops.channel_status import channel_statuses

        rows = channel_statuses(db(), settings(), now=utcnow())
        return jsonify({**report, "channels": [row.public() for row in rows]}), status
    return jsonify(report), status


@bp.route("/livez")
def livez():
    return jsonify({"status": "alive"}), 200
