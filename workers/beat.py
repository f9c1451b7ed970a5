"""Beat's scheduler, recording a heartbeat as it ticks."""

from __future__ import annotations

import time

from celery.beat import PersistentScheduler

from tracker.health import HEARTBEAT_INTERVAL


class HeartbeatScheduler(PersistentScheduler):
    _last_beat = 0.0

    def tick(self, *args, **kwargs):
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_INTERVAL.total_seconds():
            from workers.celery_app import beat_now

            beat_now(self.app, "beat")
            self._last_beat = now
        # Wake up at least once per heartbeat interval, even when no task is due sooner.
        return min(super().tick(*args, **kwargs), HEARTBEAT_INTERVAL.total_seconds())
