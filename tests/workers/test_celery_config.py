"""The Celery app is configured for correctness, and the one beat schedule names only real tasks."""

import os

from celery.schedules import crontab

from tracker.config import Settings
from workers.celery_app import TASK_TIME_LIMIT, VISIBILITY_TIMEOUT, make_celery
from workers.schedule import BEAT_SCHEDULE


def _app(tmp_path, broker="redis://127.0.0.1:6379/0"):
    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path),
            "TRACKER_DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}",
            "TRACKER_BROKER_URL": broker,
            "TRACKER_SECRET_KEY": "k",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    app = make_celery(settings)
    app.loader.import_default_modules()
    return app


def test_correctness_settings(tmp_path):
    conf = _app(tmp_path).conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"]
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.timezone == "Asia/Shanghai"
    assert conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT > TASK_TIME_LIMIT
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert conf.worker_prefetch_multiplier == 1


def test_beat_schedule_names_registered_tasks_and_no_far_future_eta(tmp_path):
    app = _app(tmp_path)
    for name, entry in BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{name}: unknown task {entry['task']}"
        assert "eta" not in entry.get("options", {}) and "countdown" not in entry.get("options", {})
    assert BEAT_SCHEDULE["deadline-sweep"]["schedule"].total_seconds() == 60
    assert isinstance(BEAT_SCHEDULE["daily-digest"]["schedule"], crontab)


def test_own_tasks_retry_with_backoff_and_a_maximum(tmp_path):
    app = _app(tmp_path)
    for name in ("events.handle", "reminders.sweep", "deliveries.send", "reminders.digest"):
        task = app.tasks[name]
        assert task.autoretry_for and task.retry_backoff and task.max_retries == 8, name
