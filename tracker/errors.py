"""Domain exceptions. `web/` maps them to HTTP; the CLI maps them to exit codes."""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error the domain raises on purpose."""

    code = "error"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationError(TrackerError):
    """Input that is malformed or breaks a business invariant."""

    code = "validation_error"
    http_status = 400


class NotFound(TrackerError):
    code = "not_found"
    http_status = 404


class PermissionDenied(TrackerError):
    code = "forbidden"
    http_status = 403


class IllegalTransition(TrackerError):
    """A status change the transition table does not allow."""

    code = "illegal_transition"
    http_status = 409


class Conflict(TrackerError):
    code = "conflict"
    http_status = 409


class CalendarYearMissing(TrackerError):
    """A working-day question about a year whose holiday schedule was never loaded."""

    code = "calendar_year_missing"
    http_status = 409

    def __init__(self, year: int):
        super().__init__(f"{year}年节假日安排尚未导入")
        self.year = year
