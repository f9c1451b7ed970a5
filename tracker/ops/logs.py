"""Logging of the product's processes (web, workers and CLI alike): TRACKER_LOG_LEVEL for the product's
own loggers, TRACKER_LOG_FORMAT for every line, and the request id that ties a request to its tasks.

The request id lives in a context variable: the web layer sets it for each request (an `X-Request-ID`
the caller sent, when well-formed, or a new one), the Celery layer sends it in a task message's headers
and sets it again around the task, and the outbox row written by the request keeps it for the relay.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

PRODUCT_LOGGERS = ("tracker", "web", "workers")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"

# Letters, digits and . _ : - only, 8–128 long: a caller's id goes into every log line, so it must be
# unable to forge a line (no newline, no quote) or to flood one. A UUID, a ULID, a trace id all fit.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:-]{8,128}")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("tracker_request_id", default=None)
# (task id, task name) while a Celery task runs, for the log lines it writes.
_task: contextvars.ContextVar[tuple[str | None, str | None]] = contextvars.ContextVar(
    "tracker_task", default=(None, None)
)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


def set_task_context(task_id: str | None, task_name: str | None) -> contextvars.Token:
    return _task.set((task_id, task_name))


def reset_task_context(token: contextvars.Token) -> None:
    _task.reset(token)


def accept_request_id(offered: str | None) -> str:
    """The caller's id when it is well-formed, otherwise a new one."""
    if offered and REQUEST_ID_RE.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (`-` outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _request_id.get() or "-"
        task_id, task_name = _task.get()
        if task_id and not getattr(record, "task_id", None):
            record.task_id, record.task_name = task_id, task_name
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what a log platform (ELK, Loki, the department's log-audit system)
    indexes without a parser of its own."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": _record_request_id(record),
            "process": record.process,
        }
        for extra in ("task_id", "task_name"):
            if getattr(record, extra, None):
                entry[extra] = getattr(record, extra)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _record_request_id(record: logging.LogRecord) -> str | None:
    """The record's request id; None outside a request or task (the text format's "-")."""
    value = getattr(record, "request_id", None) or _request_id.get()
    return None if value == "-" else value


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


class _ProductHandler(logging.StreamHandler):
    """The stderr handler this module installs (told apart from gunicorn's and Celery's own)."""


def configure_logging(level: str, log_format: str = "text") -> None:
    """Set the product's loggers to `level`. The root logger gets this module's stderr handler when
    nothing else logs yet (gunicorn and Celery install their own, and those are kept); every handler of
    the root logger gets the request-id filter, and this module's handler the chosen format."""
    resolved = logging.getLevelName(level.upper())
    if not isinstance(resolved, int):
        resolved = logging.INFO
    for name in PRODUCT_LOGGERS:
        logging.getLogger(name).setLevel(resolved)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _ProductHandler)]
    if not root.handlers:
        ours = [_ProductHandler()]
        root.addHandler(ours[0])
        root.setLevel(logging.WARNING)  # the library default; the product's loggers carry their own level
    for handler in ours:
        handler.setFormatter(make_formatter(log_format))
    for handler in root.handlers:
        use_filter(handler, log_format)


def use_filter(handler: logging.Handler, log_format: str) -> None:
    """Give `handler` the request id filter (and, for JSON, the JSON format): Celery's own handlers too."""
    if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
        handler.addFilter(RequestIdFilter())
    if log_format == "json" and not isinstance(handler.formatter, JsonFormatter):
        handler.setFormatter(JsonFormatter())
