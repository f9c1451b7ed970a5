"""Start a real Celery beat for the lease tests, with a lease of seconds instead of a minute and one
probe entry due every second:

    python run_beat.py SCHEDULE_FILE
"""

import sys
from datetime import timedelta

import workers.beat
from workers.celery_app import celery

workers.beat.LEASE_TTL = timedelta(seconds=4)
workers.beat.LEASE_RENEW_AFTER = timedelta(seconds=1)
workers.beat.LEASE_RETRY = timedelta(seconds=0.5)
celery.conf.beat_schedule = {
    "probe": {"task": "system.heartbeat", "schedule": timedelta(seconds=1), "options": {"expires": 30}}
}
celery.start(["beat", "--loglevel=INFO", "--schedule", sys.argv[1]])
