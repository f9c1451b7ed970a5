"""Whether the Celery broker answers (for /healthz)."""

from __future__ import annotations

from kombu import Connection


def check_broker(broker_url: str) -> str:
    try:
        with Connection(broker_url, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # any failure to reach the broker is "down"; its type helps the operator
        return f"unreachable: {type(exc).__name__}"
