"""/healthz: database, broker, worker and beat. 200 only when all four are ok."""

from __future__ import annotations

from flask import Blueprint, jsonify

from tracker.clock import utcnow
from tracker.health import check_health
from web.database import db, settings
from workers.broker import check_broker

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    report = check_health(db(), broker_status=check_broker(settings().broker_url), now=utcnow())
    status = 200 if all(v == "ok" for v in report.values()) else 503
    return jsonify(report), status
