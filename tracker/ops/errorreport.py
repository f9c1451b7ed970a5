"""Optional error reporting to a Sentry-compatible server (Sentry, or a self-hosted GlitchTip): every
unhandled error of a request or a task, with its stack, when TRACKER_SENTRY_DSN is set.

What leaves the server is limited on purpose: no request bodies (citizens' messages), no local
variables (they hold personal data), no cookies, headers, query string, user or IP, and no performance
traces, no source lines — only the error, its stack of file names and line numbers, the route and the
request id. The SDK's
own options say so (and leave personal data out by default); `_scrub` removes the same again from every
event before it is sent, so a changed default of a later SDK cannot send more.
"""

from __future__ import annotations

from tracker.config import Settings
from tracker.ops.logs import current_request_id

_ACTIVE_DSN: list[str] = []


def init_error_reporting(settings: Settings) -> bool:
    """Start reporting to settings.sentry_dsn (once per process); False when no DSN is set. The SDK
    enables its Flask and Celery integrations by itself where those are imported."""
    if not settings.sentry_dsn:
        return False
    if _ACTIVE_DSN and _ACTIVE_DSN[0] == settings.sentry_dsn:
        return True
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        include_local_variables=False,
        include_source_context=False,
        max_request_body_size="never",
        traces_sample_rate=0,
        before_send=_scrub,
    )
    _ACTIVE_DSN[:] = [settings.sentry_dsn]
    return True


# What of a request is kept: the route and method tell where it broke; the rest may hold personal data.
_REQUEST_KEPT = ("url", "method")


def _scrub(event: dict, _hint: dict) -> dict:
    """Drop what may hold personal data or secrets; add the request id, so a report is found in the
    logs (and the logs from a report)."""
    request = event.get("request")
    if isinstance(request, dict):
        event["request"] = {key: request[key] for key in _REQUEST_KEPT if key in request}
    event.pop("user", None)
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            for key in ("vars", "pre_context", "context_line", "post_context"):
                frame.pop(key, None)
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def shutdown_error_reporting(timeout: float = 5) -> None:
    """Send what is queued and stop reporting (tests; a process that wants to stop cleanly)."""
    if not _ACTIVE_DSN:
        return
    import sentry_sdk

    client = sentry_sdk.get_client()
    client.flush(timeout=timeout)
    client.close(timeout=timeout)
    sentry_sdk.init()  # a client without a DSN: nothing is sent any more
    _ACTIVE_DSN.clear()
