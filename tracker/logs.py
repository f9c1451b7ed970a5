"""Apply TRACKER_LOG_LEVEL to the product's own loggers (web, workers and CLI alike)."""

from __future__ import annotations

import logging

PRODUCT_LOGGERS = ("tracker", "web", "workers")


def configure_logging(level: str) -> None:
    """Set the product's loggers to `level`; add a stderr handler only when nothing else logs yet
    (gunicorn and Celery install their own, and those are kept)."""
    resolved = logging.getLevelName(level.upper())
    if not isinstance(resolved, int):
        resolved = logging.INFO
    for name in PRODUCT_LOGGERS:
        logging.getLogger(name).setLevel(resolved)
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
