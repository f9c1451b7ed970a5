"""Beat's scheduler: it schedules only while it holds the `beat` lease, and records a heartbeat as it ticks.

Exactly one beat must schedule, or every periodic job runs twice. The lease makes that a fact rather
than a convention: a second beat (`docker compose up --scale beat=2`, one left running on another host)
finds the lease held, stays idle and asks again every LEASE_RETRY seconds; when the first stops renewing
(killed, its host gone), the lease expires after LEASE_TTL and the second takes over.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery.beat import PersistentScheduler

from tracker.ops.health import HEARTBEAT_INTERVAL

log = logging.getLogger(__name__)

LEASE_NAME = "beat"
LEASE_TTL = timedelta(seconds=60)
# Renewed every tick once this much has passed; a holder that could not renew for LEASE_TTL - RENEW_AFTER
# stops scheduling before its lease can expire, so there is never a moment with two schedulers.
LEASE_RENEW_AFTER = timedelta(seconds=10)
LEASE_RETRY = timedelta(seconds=10)  # how often a standby asks


class HeartbeatScheduler(PersistentScheduler):
    _last_beat = 0.0

    def __init__(self, *args, **kwargs):
        from tracker.ops.leases import new_holder_id

        self.holder = new_holder_id()
        self._lease_until = 0.0  # monotonic time until which this process may schedule
        self._lease_renewed = float("-inf")
        self._standby_logged = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        if not self._holds_lease():
            return LEASE_RETRY.total_seconds()
        now = time.monotonic()
        if now - self._last_beat >= HEARTBEAT_INTERVAL.total_seconds():
            from workers.celery_app import beat_now

            beat_now(self.app, "beat")
            self._last_beat = now
        # Wake up at least once per heartbeat interval, even when no task is due sooner.
        return min(super().tick(*args, **kwargs), HEARTBEAT_INTERVAL.total_seconds(), self._renew_in())

    def _renew_in(self) -> float:
        return max(0.0, self._lease_renewed + LEASE_RENEW_AFTER.total_seconds() - time.monotonic())

    def _holds_lease(self) -> bool:
        started = time.monotonic()
        if started - self._lease_renewed < LEASE_RENEW_AFTER.total_seconds() and started < self._lease_until:
            return True
        try:
            held = self._ask_for_lease()
        except Exception:  # database out of reach: keep scheduling only while the lease surely runs
            log.warning("beat: could not renew the lease", exc_info=True)
            return started < self._lease_until
        if held:
            # Counted from before the request: the lease in the table ends no earlier than this.
            self._lease_until = started + (LEASE_TTL - LEASE_RENEW_AFTER).total_seconds()
            if self._lease_renewed == float("-inf") or self._standby_logged:
                log.info("beat: holding the %r lease as %s; scheduling", LEASE_NAME, self.holder)
                self._standby_logged = False
            self._lease_renewed = started
            return True
        self._lease_until = 0.0
        self._lease_renewed = float("-inf")
        if not self._standby_logged:
            log.info("beat: the %r lease is held by another beat; %s stays idle", LEASE_NAME, self.holder)
            self._standby_logged = True
        return False

    def _ask_for_lease(self) -> bool:
        from tracker.clock import utcnow
        from tracker.db import session_scope
        from tracker.ops.leases import hold

        with session_scope(self.app.conf.tracker_settings.database_url) as session:
            return hold(session, LEASE_NAME, self.holder, now=utcnow(), ttl=LEASE_TTL)

    def close(self):
        super().close()
        if self._lease_until > time.monotonic():
            self._give_up_lease()

    def _give_up_lease(self) -> None:
        from tracker.clock import utcnow
        from tracker.db import session_scope
        from tracker.ops.leases import release

        try:
            with session_scope(self.app.conf.tracker_settings.database_url) as session:
                release(session, LEASE_NAME, self.holder, now=utcnow())
        except Exception:  # it expires by itself within LEASE_TTL
            log.warning("beat: could not release the lease", exc_info=True)
