"""Early January: last year's figures are prepared once and the administrators are told."""

from __future__ import annotations

from sqlalchemy import select

from tests import factories
from tracker.people.models import AuditEntry
from tracker.reports.yearend import prepare_previous_year

from .builders import at


def test_prepared_once_in_early_january_and_admins_notified(session, bureau, now):
    root, _o, _x = bureau
    admin = factories.user(session, role="admin", dept=root, now=now)
    factories.user(session, role="staff", dept=root, now=now)
    assert prepare_previous_year(session, now=at("2026-12-31 09:15")) is None
    assert prepare_previous_year(session, now=at("2027-01-16 09:15")) is None
    first = prepare_previous_year(session, now=at("2027-01-04 09:15"))
    assert first is not None and first.year == 2026 and not first.already
    from tracker.notify.models import Notification

    notes = session.scalars(select(Notification).where(Notification.id.in_(first.notification_ids))).all()
    assert admin.id in {n.user_id for n in notes}
    assert all(n.link == "/reports/annual?year=2026" and "2026年度" in n.title for n in notes)
    again = prepare_previous_year(session, now=at("2027-01-05 09:15"))
    assert again.already and again.notification_ids == []
    entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "report.prepared")).all()
    assert [e.object_id for e in entries] == ["2026"]


def test_beat_entry_and_task_registered():
    from workers.schedule import BEAT_SCHEDULE
    from workers.tasks import reports

    entry = BEAT_SCHEDULE["annual-report"]
    assert entry["task"] == "reports.prepare_previous_year" == reports.prepare_previous_year.name
    assert entry["schedule"].month_of_year == {1} and entry["schedule"].day_of_month == set(range(2, 16))
