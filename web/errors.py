"""One error map: domain exceptions → HTTP. JSON under /api/, an HTML page elsewhere."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from tracker.errors import TrackerError


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/livez", "/metrics")


def error_response(status: int, code: str, message: str, fields: dict | None = None):
    if _wants_json():
        response = jsonify({"error": {"code": code, "message": message, "fields": fields or {}}})
        response.status_code = status
        return response
    return render_template("error.html", status=status, message=message), status


def init_app(app: Flask) -> None:
    @app.errorhandler(TrackerError)
    def domain_error(exc: TrackerError):
        return error_response(exc.http_status, exc.code, exc.message, exc.fields)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name)

    @app.errorhandler(OperationalError)
    def database_unavailable(exc: OperationalError):
        # The database went away: tell clients to retry rather than answer 500. Nothing was committed.
        app.logger.warning("database unavailable: %s", type(exc.orig).__name__)
        response = error_response(503, "database_unavailable", "数据库暂时不可用，请稍后重试")
        response = app.make_response(response)
        response.headers["Retry-After"] = "5"
        return response
