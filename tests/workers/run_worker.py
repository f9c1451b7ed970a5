"""Start a real Celery worker for the fault tests, with a short delivery lease and Redis visibility
timeout so a killed worker's work comes back within seconds instead of an hour.

    python run_worker.py LEASE_SECONDS VISIBILITY_TIMEOUT worker [celery worker options]
"""

import sys
from datetime import timedelta

import tracker.notify.service
from workers.celery_app import VISIBILITY_TIMEOUT, celery

lease, visibility = float(sys.argv[1]), int(sys.argv[2])
assert visibility < VISIBILITY_TIMEOUT
tracker.notify.service.LEASE = timedelta(seconds=lease)
celery.conf.broker_transport_options = {
    **celery.conf.broker_transport_options,
    "visibility_timeout": visibility,
    # Look for abandoned (unacknowledged) messages every second instead of every ~100 s.
    "unacked_restore_interval": 1,
    "unacked_restore_throttle": 1,
}
celery.conf.beat_schedule = {}
celery.worker_main(sys.argv[3:])
