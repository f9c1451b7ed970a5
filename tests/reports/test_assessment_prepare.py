"""The beat task: last month's assessment on the first working day (调休 included), once, and the office told.

`run_prepare_assessment` is the function the Celery task runs (workers/tasks/reports.py); it opens its own
sessions, so it runs against a freshly migrated database of its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests import factories
from tests.reports.assessment_month import build_november
from tests.reports.builders import at
from tracker.calendar.store import load_bundled_calendar
from tracker.config import Settings
from tracker.db import session_scope
from tracker.migrate import upgrade
from tracker.notify.models import Notification
from tracker.reports.assessment_prepare import first_working_day
from tracker.reports.models import AssessmentSnapshot
from workers.tasks.reports import run_prepare_assessment


def test_first_working_day_follows_the_calendar(session):
    assert first_working_day(session, 2026, 1) == date(2026, 1, 4)  # a Sunday made a working day (调休)
    assert first_working_day(session, 2026, 10) == date(2026, 10, 8)  # after the National Day holiday
    assert first_working_day(session, 2025, 2) == date(2025, 2, 5)  # after the Spring Festival
    assert first_working_day(session, 2026, 12) == date(2026, 12, 1)
    # A year not loaded: Monday to Friday (2031-03-01 is a Saturday).
    assert first_working_day(session, 2031, 3) == date(2031, 3, 3)


@pytest.fixture
def world(blank_database_url, tmp_path):
    upgrade(blank_database_url)
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "assessment.json").write_text(json.dumps({"minimum_sample": 3}), encoding="utf-8")
    with session_scope(blank_database_url) as session:
        load_bundled_calendar(session)
        month = build_november(session)
        admin = factories.user(session, role="admin", dept=month.a, now=at("2026-10-01 09:00"))
        factories.user(session, role="supervisor", dept=month.a, now=at("2026-10-01 09:00"))
        codes, admin_id = (month.a.code, month.b.code), admin.id
    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(instance),
            "TRACKER_DATABASE_URL": blank_database_url,
            "TRACKER_SECRET_KEY": "assessment-task-key",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    return settings, codes, admin_id


def _snapshots(url):
    with session_scope(url) as session:
        return {s.period: s.data for s in session.scalars(select(AssessmentSnapshot))}


def test_prepared_on_the_first_working_day_once_and_the_office_told(world):
    settings, (a, b), admin_id = world
    url = settings.database_url
    # 2026-10-01…07 is the National Day holiday: nothing until Thursday the 8th.
    assert run_prepare_assessment(settings, now=at("2026-10-01 09:20")) == 0
    assert run_prepare_assessment(settings, now=at("2026-10-07 09:20")) == 0
    assert _snapshots(url) == {}
    assert run_prepare_assessment(settings, now=at("2026-10-08 09:20")) == 1  # September, one administrator
    assert run_prepare_assessment(settings, now=at("2026-10-08 09:21")) == 0  # the retry / second beat
    assert run_prepare_assessment(settings, now=at("2026-10-09 09:20")) == 0
    assert set(_snapshots(url)) == {"2026-09"}

    # 1 December 2026 is a Tuesday: November is prepared, with the hand-counted figures.
    assert run_prepare_assessment(settings, now=at("2026-11-30 09:20")) == 0  # November's catch-up is over
    assert run_prepare_assessment(settings, now=at("2026-12-01 09:20")) == 1
    november = _snapshots(url)["2026-11"]
    ranks = {u["code"]: u["rank"] for u in november["units"]}
    assert (ranks[b], ranks[a]) == (1, 2)
    unit_a = next(u for u in november["units"] if u["code"] == a)
    assert unit_a["rates"]["sign_on_time"] == {"num": 3, "den": 5, "rate": 0.6}
    with session_scope(url) as session:
        notes = session.scalars(select(Notification).where(Notification.user_id == admin_id)).all()
        assert sorted(n.link for n in notes) == [
            "/reports/assessment?period=2026-09",
            "/reports/assessment?period=2026-11",
        ]
        assert all(n.kind == "digest" for n in notes)
        assert "2026年11月" in next(n.title for n in notes if n.link.endswith("2026-11"))
        # Only administrators are told.
        assert session.scalar(select(func.count()).select_from(Notification)) == 2


def test_a_missed_morning_is_caught_up_the_next_day(world):
    settings, _codes, _admin = world
    assert run_prepare_assessment(settings, now=at("2026-12-02 09:20")) == 1
    assert set(_snapshots(settings.database_url)) == {"2026-11"}
    assert (
        run_prepare_assessment(settings, now=at("2026-12-16 09:20")) == 0
    )  # after the 15th: the office's job


def test_the_period_is_unique_in_the_database(world):
    settings, _codes, _admin = world
    with pytest.raises(IntegrityError), session_scope(settings.database_url) as session:
        for _ in range(2):
            session.add(
                AssessmentSnapshot(
                    period="2026-11", prepared_at=at("2026-12-01 09:20"), rules_source="x", data={}
                )
            )
            session.flush()


def test_beat_entry_and_task_registered():
    from workers.schedule import BEAT_SCHEDULE
    from workers.tasks import reports

    entry = BEAT_SCHEDULE["assessment"]
    assert entry["task"] == "reports.prepare_assessment" == reports.prepare_assessment.name
    assert entry["schedule"].day_of_month == set(range(1, 16))
