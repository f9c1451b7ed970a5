"""Reminder timing across weekends, holidays, make-up working Saturdays and the night (2026 calendar)."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tracker.calendar.store import bundled_calendar
from tracker.clock import BUSINESS_TZ
from tracker.config import Settings, WorkingHours
from tracker.errors import ValidationError
from tracker.reminders.schedule import (
    DEFAULT_RULE,
    RuleSpec,
    default_working_hours,
    last_working_moment,
    latest_repeat,
    plan,
    repeat_after,
    rule_for,
    thresholds,
    working_moment,
)

CAL = bundled_calendar()


def at(day: str, hhmm: str = "09:00") -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime.combine(date.fromisoformat(day), time(h, m), tzinfo=BUSINESS_TZ).astimezone(UTC)


def end_of(day: str) -> datetime:
    """24:00 of a day (the default end of a period)."""
    return at(day, "00:00") + timedelta(days=1)


def fires(due_at: datetime, rule: RuleSpec = DEFAULT_RULE) -> dict[str, datetime]:
    return {t.key: t.fire_at for t in thresholds(due_at, rule, CAL)}


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at("2026-03-04", "10:00"), at("2026-03-04", "10:00")),  # Wednesday, office hours
        (at("2026-03-04", "07:30"), at("2026-03-04", "09:00")),  # early morning waits for 09:00
        (at("2026-03-04", "22:15"), at("2026-03-05", "09:00")),  # night → next working morning
        (at("2026-03-06", "18:00"), at("2026-03-09", "09:00")),  # Friday evening → Monday
        (at("2026-03-07", "11:00"), at("2026-03-09", "09:00")),  # Saturday → Monday
        (at("2026-10-01", "10:00"), at("2026-10-08", "09:00")),  # National Day → first day back
        (at("2026-02-28", "10:00"), at("2026-02-28", "10:00")),  # 调休 Saturday is a working day
        (at("2026-10-09", "20:00"), at("2026-10-10", "09:00")),  # Friday night → make-up Saturday
    ],
)
def test_working_moment(moment, expected):
    assert working_moment(moment, CAL) == expected


def test_default_thresholds_for_an_ordinary_week():
    # Due at the end of Monday 9 March: 3 and 1 working days before skip the weekend.
    assert fires(end_of("2026-03-09")) == {
        "before:3": at("2026-03-04"),
        "before:1": at("2026-03-06"),
        "due": at("2026-03-09"),
        "overdue": at("2026-03-10"),  # 24:00 is night: the escalation waits for Tuesday morning
    }


def test_make_up_saturday_counts_as_a_working_day_before_the_due_day():
    # Due Monday 2 March 2026; Saturday 28 February was a make-up working day (春节 调休).
    assert fires(end_of("2026-03-02"))["before:1"] == at("2026-02-28")
    assert fires(end_of("2026-03-02"))["before:3"] == at("2026-02-26")


def test_holiday_is_skipped_before_and_after():
    # Due Tuesday 24 Feb 2026, the first working day after 春节 (15–23 Feb off, 14 Feb a make-up day).
    assert fires(end_of("2026-02-24"))["before:1"] == at("2026-02-14")
    assert fires(end_of("2026-02-24"))["before:3"] == at("2026-02-12")
    # Due at the end of 30 September: overdue waits through 国庆节 to 8 October; the daily repeats then
    # run 9 October (Friday) and 10 October (make-up Saturday), not Monday 12 October.
    due = end_of("2026-09-30")
    assert fires(due)["overdue"] == at("2026-10-08")
    first = repeat_after(due, at("2026-10-08", "10:00"), CAL)
    assert (first.key, first.fire_at) == ("overdue@2026-10-09", at("2026-10-09"))
    second = repeat_after(due, at("2026-10-09", "10:00"), CAL)
    assert second.fire_at == at("2026-10-10")


def test_clock_hour_deadline_due_at_night_fires_next_morning():
    due = at("2026-03-04", "23:00")  # a Weibo 24-hour deadline
    got = fires(due)
    assert got["due"] == at("2026-03-04")
    assert got["overdue"] == at("2026-03-05")


def test_only_the_latest_reached_threshold_is_sent():
    due = end_of("2026-03-09")
    started = at("2026-02-20")
    step = plan(due_at=due, starts_at=started, rule=DEFAULT_RULE, calendar=CAL, now=at("2026-03-06", "11:00"))
    assert step.send.key == "before:1"
    assert step.next_check_at == at("2026-03-09")
    # Sweep down for days: one escalation-repeat, not a backlog.
    late = plan(due_at=due, starts_at=started, rule=DEFAULT_RULE, calendar=CAL, now=at("2026-03-13", "15:00"))
    assert late.send.key == "overdue@2026-03-13" and late.send.audience == "repeat"
    assert late.next_check_at == at("2026-03-16")


def test_a_period_that_starts_inside_a_window_gets_no_stale_reminder():
    due = end_of("2026-03-09")
    step = plan(
        due_at=due,
        starts_at=at("2026-03-05", "10:00"),
        rule=DEFAULT_RULE,
        calendar=CAL,
        now=at("2026-03-05", "10:01"),
    )
    assert step.send is None  # "3 days left" fired before the period even started
    assert step.next_check_at == at("2026-03-06")


def test_overdue_at_night_is_not_sent_before_the_morning():
    due = end_of("2026-03-09")
    step = plan(
        due_at=due, starts_at=at("2026-02-20"), rule=DEFAULT_RULE, calendar=CAL, now=at("2026-03-10", "02:00")
    )
    assert step.send.key == "due"  # already sent the day before; the ledger keeps it at one
    assert step.next_check_at == at("2026-03-10")


def test_latest_repeat_is_none_on_the_first_overdue_day():
    due = end_of("2026-03-09")
    assert latest_repeat(due, at("2026-03-10", "12:00"), CAL) is None
    assert latest_repeat(due, at("2026-03-11", "08:00"), CAL) is None
    assert latest_repeat(due, at("2026-03-11", "09:00"), CAL).key == "overdue@2026-03-11"
    assert latest_repeat(due, at("2026-03-14", "12:00"), CAL).key == "overdue@2026-03-13"  # Saturday


def test_rule_without_repeats_stops_after_the_escalation():
    rule = RuleSpec(days_before=(1,), is_repeating=False)
    due = end_of("2026-03-09")
    step = plan(
        due_at=due, starts_at=at("2026-02-20"), rule=rule, calendar=CAL, now=at("2026-03-10", "10:00")
    )
    assert step.send.key == "overdue" and step.next_check_at is None


def test_most_specific_rule_wins():
    general = RuleSpec(days_before=(2,))
    hotline = RuleSpec(days_before=(1,), channel="hotline")
    hotline_sign = RuleSpec(days_before=(0,), channel="hotline", deadline_kind="sign")
    rules = [general, hotline, hotline_sign]
    assert rule_for(rules, "hotline", "sign") is hotline_sign
    assert rule_for(rules, "hotline", "reply") is hotline
    assert rule_for(rules, "website", "reply") is general
    assert rule_for([], "website", "reply") is DEFAULT_RULE


SPLIT = WorkingHours.parse("08:30-12:00,13:30-17:30")  # an office with a lunch break


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at("2026-03-04", "08:00"), at("2026-03-04", "08:30")),  # before opening
        (at("2026-03-04", "11:59"), at("2026-03-04", "11:59")),  # morning period
        (at("2026-03-04", "12:00"), at("2026-03-04", "13:30")),  # lunch break waits for the afternoon
        (at("2026-03-04", "13:30"), at("2026-03-04", "13:30")),
        (at("2026-03-04", "17:30"), at("2026-03-05", "08:30")),  # closing → next working morning
        (at("2026-03-07", "10:00"), at("2026-03-09", "08:30")),  # Saturday → Monday's opening
    ],
)
def test_working_moment_with_a_lunch_break(moment, expected):
    assert working_moment(moment, CAL, SPLIT) == expected


def test_configured_hours_move_every_threshold_and_repeat():
    due = end_of("2026-03-09")
    got = {t.key: t.fire_at for t in thresholds(due, DEFAULT_RULE, CAL, SPLIT)}
    assert got == {
        "before:3": at("2026-03-04", "08:30"),
        "before:1": at("2026-03-06", "08:30"),
        "due": at("2026-03-09", "08:30"),
        "overdue": at("2026-03-10", "08:30"),
    }
    assert repeat_after(due, at("2026-03-10", "09:00"), CAL, SPLIT).fire_at == at("2026-03-11", "08:30")
    assert latest_repeat(due, at("2026-03-11", "08:40"), CAL, SPLIT).key == "overdue@2026-03-11"
    assert latest_repeat(due, at("2026-03-11", "08:40"), CAL) is None  # the default opens at 09:00


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (at("2026-03-04", "10:00"), at("2026-03-04", "10:00")),
        (at("2026-03-04", "12:30"), at("2026-03-04", "11:59")),  # in the lunch break: end of the morning
        (at("2026-03-04", "20:00"), at("2026-03-04", "17:29")),
        (at("2026-03-04", "07:00"), at("2026-03-03", "17:29")),  # before opening: the day before
        (at("2026-03-08", "10:00"), at("2026-03-06", "17:29")),  # Sunday: Friday's closing
    ],
)
def test_last_working_moment_with_a_lunch_break(now, expected):
    assert last_working_moment(now, CAL, SPLIT) == expected


@pytest.mark.parametrize(
    "text",
    ["", "9-17", "09:00", "17:30-09:00", "08:30-12:00,11:00-17:30", "13:30-17:30,08:30-12:00", "25:00-26:00"],
)
def test_working_hours_setting_rejects_what_it_cannot_mean(text, tmp_path):
    with pytest.raises(ValidationError):
        WorkingHours.parse(text)
    if text:
        env = {"TRACKER_INSTANCE_DIR": str(tmp_path), "TRACKER_WORKING_HOURS": text}
        with pytest.raises(ValidationError):
            Settings.from_env(env)


def test_working_hours_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKER_WORKING_HOURS", "08:30-12:00, 13:30-17:30")
    settings = Settings.from_env(
        {"TRACKER_INSTANCE_DIR": str(tmp_path), "TRACKER_WORKING_HOURS": "08:30-12:00, 13:30-17:30"}
    )
    assert settings.working_hours == "08:30-12:00,13:30-17:30"
    assert default_working_hours() == SPLIT
    assert working_moment(at("2026-03-04", "12:15"), CAL) == at("2026-03-04", "13:30")
    monkeypatch.delenv("TRACKER_WORKING_HOURS")
    assert default_working_hours() == WorkingHours()
    assert Settings.from_env({"TRACKER_INSTANCE_DIR": str(tmp_path)}).working_hours == "09:00-17:30"
