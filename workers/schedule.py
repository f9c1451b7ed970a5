"""The one beat schedule. Every periodic job of the product is listed here and nowhere else."""

from __future__ import annotations

BEAT_SCHEDULE: dict[str, dict] = {}
