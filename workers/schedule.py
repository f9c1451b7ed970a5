"""The one beat schedule. Every periodic job of the product is listed here and nowhere else.

Times are Asia/Shanghai (the app's `timezone`). Exactly one beat schedules: the one holding the `beat`
lease (workers/beat.py); another waits idle. Deadlines are rows plus the sweep below — never far-future
ETA tasks.
"""

from __future__ import annotations

from datetime import timedelta

from celery.schedules import crontab

BEAT_SCHEDULE: dict[str, dict] = {
    # Publish outbox rows a request could not (broker down, crash between commit and publish).
    "outbox-relay": {"task": "outbox.relay", "schedule": timedelta(seconds=15), "options": {"expires": 14}},
    # Deadlines that reached a reminder threshold or their due time; cost follows the number due.
    "deadline-sweep": {
        "task": "reminders.sweep",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # Deliveries that are due again after a failure, or whose sender died.
    "deliveries-retry": {
        "task": "deliveries.send",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # 督办/催办 past their due time, escalated once to the unit's 科室负责人 (issue 19).
    "supervision-escalation": {
        "task": "reminders.escalate_supervisions",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 290},
    },
    # The supervisors' digest: what is due this week and what is overdue, by department (working days).
    "daily-digest": {"task": "reminders.digest", "schedule": crontab(hour=8, minute=30)},
    # From 1 October until next year's holidays are loaded, tell the office every morning.
    "calendar-warning": {"task": "reminders.calendar_warning", "schedule": crontab(hour=9, minute=5)},
    # Personal data past its channel's retention period is anonymised at night (tracker.privacy.service).
    "privacy-retention": {"task": "privacy.anonymise_due", "schedule": crontab(hour=2, minute=30)},
    # The audit log (tracker.audit): committed entries to syslog when configured; retention at night.
    "audit-forward": {"task": "audit.forward", "schedule": timedelta(seconds=10), "options": {"expires": 9}},
    "audit-retention": {"task": "audit.prune", "schedule": crontab(hour=3, minute=10)},
    # Intake (tracker/intake): the tick is every minute, the Weibo poller itself calls the API only every
    # TRACKER_WEIBO_POLL_MINUTES (default 4, within the token's hourly quota) and waits after failures.
    "weibo-poll": {"task": "intake.weibo_poll", "schedule": timedelta(minutes=1), "options": {"expires": 55}},
    # An adapter silent for the configured time raises one alert (outbox topic adapter.silent).
    "adapter-health": {
        "task": "intake.adapter_health",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 290},
    },
    # Replies, extension requests and 办结 back to the 12345 platform, retried with backoff.
    "hotline-callbacks": {
        "task": "intake.hotline_callbacks",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # Possible duplicates by similar text among new tickets (the push and imports flag by phone inline).
    "duplicate-scan": {
        "task": "intake.duplicate_scan",
        "schedule": timedelta(minutes=1),
        "options": {"expires": 55},
    },
    # Dashboard uploads whose task never reached a worker (broker down when queued).
    "resume-imports": {
        "task": "intake.resume_imports",
        "schedule": timedelta(minutes=2),
        "options": {"expires": 110},
    },
    # beat → broker → worker → database, end to end (beat and worker also record their own heartbeats).
    "heartbeat": {"task": "system.heartbeat", "schedule": timedelta(seconds=30), "options": {"expires": 29}},
    # Early January: last year's annual-report figures, and a notice to the administrators (once a year).
    "annual-report": {
        "task": "reports.prepare_previous_year",
        "schedule": crontab(hour=9, minute=15, day_of_month="2-15", month_of_year="1"),
    },
    # Last month's 12345 assessment on the month's first working day (调休 included; the task decides,
    # a unique period makes it once), and a notice to the office (tracker.reports.assessment_prepare).
    "assessment": {
        "task": "reports.prepare_assessment",
        "schedule": crontab(hour=9, minute=20, day_of_month="1-15"),
    },
}
