"""The calendar in the database, the deadline services on Deadline rows, and the `tracker calendar` CLI."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests import factories
from tracker.calendar.days import iter_days
from tracker.calendar.models import CalendarYear
from tracker.calendar.notice import notice_source, parse_notice
from tracker.calendar.service import load_year
from tracker.calendar.store import (
    HolidayRow,
    bundled_calendar,
    load_bundled_calendar,
    load_calendar,
    next_year_missing,
    read_holiday_csv,
)
from tracker.deadlines.policies import CORRECTION, CORRECTION_NOTICE, REPLY, SIGN, THIRD_PARTY
from tracker.deadlines.service import (
    add_policy_override,
    extend_deadline,
    finish_consultation,
    get_deadline,
    is_correction_overdue,
    open_deadlines,
    override_deadline,
    pause_deadline,
    request_correction,
    restart_after_correction,
    resume_deadline,
    start_consultation,
)
from tracker.errors import Conflict
from tracker.tickets.models import TicketEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOTICES = Path(__file__).resolve().parent.parent / "fixtures" / "notices"


def at(year, month, day, hour=10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI).astimezone(UTC)


def end_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC) + timedelta(days=1)


def rows_2027() -> list[HolidayRow]:
    parsed = parse_notice((NOTICES / "notice_2027_synthetic.txt").read_text(encoding="utf-8"))
    return [HolidayRow(r.day, r.kind, r.name, 2027, notice_source(2027)) for r in parsed.rows]


def disclosure(session, received_at: datetime, now: datetime):
    return factories.ticket(
        session,
        now=now,
        channel="disclosure",
        request_type="政府信息公开申请",
        subject="申请公开某项目环评批复",
        arrived_at=received_at,
        received_at=received_at,
    )


def events(session, ticket, kind: str) -> list[TicketEvent]:
    return list(
        session.scalars(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.kind == kind)
            .order_by(TicketEvent.id)
        )
    )


# -- the calendar in the database -----------------------------------------------------------------------


def test_bundled_history_is_loaded_once_and_matches_the_file(session):
    assert "已存在" in load_bundled_calendar(session)
    from_db, from_file = load_calendar(session), bundled_calendar()
    assert from_db.loaded_years == frozenset(range(2004, 2027))
    for day in iter_days(date(2004, 1, 1), date(2026, 12, 31)):
        assert from_db.is_workday(day) == from_file.is_workday(day), day


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 9, 30), None),
        (date(2026, 10, 1), 2027),
        (date(2026, 12, 31), 2027),
        (date(2025, 11, 1), None),
    ],
)
def test_next_year_missing_from_first_of_october(session, today, expected):
    assert next_year_missing(session, today) == expected


def test_2027_is_refused_until_loaded_then_used(session, now):
    from tracker.errors import CalendarYearMissing

    with pytest.raises(CalendarYearMissing, match="2027年节假日安排尚未导入"):
        load_calendar(session).add_workdays(date(2026, 12, 10), 20)
    result = load_year(session, 2027, rows_2027(), source=notice_source(2027), now=now)
    assert result.year == 2027 and result.rows == 13
    assert next_year_missing(session, date(2026, 11, 1)) is None
    assert session.get(CalendarYear, 2027).source == notice_source(2027)
    assert load_calendar(session).add_workdays(date(2026, 12, 10), 20) == date(2027, 1, 8)


def test_reloading_a_year_replaces_its_rows(session, now):
    rows = [r for r in read_holiday_csv("date,kind,name\n2027-01-01,holiday,元旦\n")]
    load_year(session, 2027, rows_2027(), source="first", now=now)
    load_year(session, 2027, rows, source="second", now=now + timedelta(minutes=1))
    calendar = load_calendar(session)
    assert calendar.is_workday(date(2027, 2, 8)) is True  # no longer a Spring Festival day
    assert [o.day for o in calendar.overrides_in_year(2027)] == [date(2027, 1, 1)]


# -- deadlines on tickets --------------------------------------------------------------------------------


def test_disclosure_ticket_gets_reply_and_correction_notice_deadlines(session, now):
    ticket = disclosure(session, at(2026, 2, 12), now)
    # open_ticket opens the channel's deadlines; opening them again adds nothing.
    assert open_deadlines(session, ticket, now=now, actor="测试") == []
    assert {d.kind for d in ticket.deadlines} == {REPLY, CORRECTION_NOTICE}
    reply = get_deadline(ticket, REPLY)
    assert reply.due_at == end_of(date(2026, 3, 18))
    assert (reply.policy_code, reply.policy_version, reply.version) == ("disclosure.reply", "2019", 1)
    assert "跳过春节假期2月15日至23日" in reply.explanation
    assert get_deadline(ticket, CORRECTION_NOTICE).due_at == end_of(date(2026, 2, 28))
    assert len(events(session, ticket, "deadline.opened")) == 2
    assert open_deadlines(session, ticket, now=now) == []  # idempotent


def test_pre_2019_application_uses_the_2007_rules(session, now):
    ticket = disclosure(session, at(2019, 5, 14, 23), now)
    open_deadlines(session, ticket, now=now)
    reply = get_deadline(ticket, REPLY)
    assert (reply.policy_version, reply.due_at) == ("2007", end_of(date(2019, 6, 4)))
    assert {d.kind for d in ticket.deadlines} == {REPLY}  # no 7-day 补正 limit under the 2007 条例


def test_third_party_consultation_pauses_then_resumes_the_reply(session, now):
    ticket = disclosure(session, at(2026, 2, 12), now)
    open_deadlines(session, ticket, now=now)
    consultation = start_consultation(session, ticket, THIRD_PARTY, now=at(2026, 3, 2, 9), actor="承办人")
    reply = get_deadline(ticket, REPLY)
    assert (reply.state, reply.due_at) == ("paused", None)
    assert consultation.due_at == end_of(date(2026, 3, 23))
    finish_consultation(session, ticket, THIRD_PARTY, now=at(2026, 3, 10, 17), actor="承办人")
    assert reply.state == "running"
    assert reply.due_at == end_of(date(2026, 3, 27))
    assert "第三方征求意见暂停3月2日至10日（7个工作日不计入）" in reply.explanation
    assert reply.version == 3
    assert [e.data["version"] for e in events(session, ticket, "deadline.resumed")] == [3]


def test_extension_once_with_approver_and_cap(session, now):
    ticket = disclosure(session, at(2026, 3, 2), now)
    open_deadlines(session, ticket, now=now)
    with pytest.raises(Conflict, match="最长延长20个工作日"):
        extend_deadline(
            session, ticket, length=21, approver="主任", reason="检索量大", now=now, actor="承办人"
        )
    reply = extend_deadline(
        session,
        ticket,
        length=20,
        approver="办公室主任王强",
        reason="检索量大",
        applicant_notice="电话告知",
        now=now,
        actor="承办人",
    )
    assert reply.due_at == end_of(load_calendar(session).add_workdays(date(2026, 3, 2), 40))
    assert reply.extensions[0]["approver"] == "办公室主任王强"
    with pytest.raises(Conflict, match="只能延长1次"):
        extend_deadline(session, ticket, length=1, approver="主任", reason="再延", now=now, actor="承办人")
    assert events(session, ticket, "deadline.extended")[0].data["reason"] == "检索量大"


def test_correction_once_then_the_reply_clock_restarts(session, now):
    ticket = disclosure(session, at(2026, 2, 12), now)
    open_deadlines(session, ticket, now=now)
    correction = request_correction(session, ticket, now=at(2026, 2, 13), actor="承办人")
    assert get_deadline(ticket, CORRECTION_NOTICE).state == "met"
    assert correction.kind == CORRECTION and get_deadline(ticket, REPLY).state == "paused"
    with pytest.raises(Conflict, match="只能发出一次"):
        request_correction(session, ticket, now=at(2026, 2, 14), actor="承办人")
    reply = restart_after_correction(
        session, ticket, corrected_received_at=at(2026, 3, 6, 15), now=now, actor="承办人"
    )
    assert reply.due_at == end_of(date(2026, 4, 3))
    assert reply.explanation.startswith("2026-03-06（周五）收到补正后的申请（答复期限重新起算）")
    assert get_deadline(ticket, CORRECTION).state == "met"
    assert events(session, ticket, "deadline.restarted")


def test_correction_deadline_lapses(session, now):
    ticket = disclosure(session, at(2026, 2, 12), now)
    open_deadlines(session, ticket, now=now)
    request_correction(session, ticket, now=at(2026, 2, 13), actor="承办人")
    due = get_deadline(ticket, CORRECTION).due_at
    assert not is_correction_overdue(ticket, due - timedelta(seconds=1))
    assert is_correction_overdue(ticket, due)


def test_manual_override_and_pause_resume_bump_the_version(session, now):
    ticket = disclosure(session, at(2026, 3, 2), now)
    open_deadlines(session, ticket, now=now)
    pause_deadline(session, ticket, reason="等待申请人说明", now=at(2026, 3, 5), actor="承办人")
    resume_deadline(session, ticket, now=at(2026, 3, 11), actor="承办人")
    reply = override_deadline(
        session,
        ticket,
        REPLY,
        due_at=end_of(date(2026, 6, 30)),
        reason="第三十五条：申请数量明显超过合理范围",
        now=now,
        actor="科室负责人",
        by="科室负责人",
    )
    assert reply.version == 4
    assert reply.due_at == end_of(date(2026, 6, 30))
    assert "理由：第三十五条" in reply.explanation


def test_hotline_work_order_deadlines_win(session, now):
    ticket = factories.ticket(
        session,
        now=now,
        request_type="投诉",
        extra={"签收时限": "2026-03-04 18:00:00", "办结时限": "2026-03-10 18:00:00"},
    )
    open_deadlines(session, ticket, now=now)
    assert get_deadline(ticket, SIGN).due_at == datetime(2026, 3, 4, 18, tzinfo=SHANGHAI)
    assert get_deadline(ticket, REPLY).due_at == datetime(2026, 3, 10, 18, tzinfo=SHANGHAI)
    plain = factories.ticket(session, now=now, request_type="咨询")
    open_deadlines(session, plain, now=now)
    assert get_deadline(plain, REPLY).due_at == end_of(date(2026, 3, 6))  # 咨询: 2 working days


def test_administrator_override_changes_new_tickets_only(session, now):
    before = factories.ticket(session, now=now, request_type="投诉")
    open_deadlines(session, before, now=now)
    add_policy_override(
        session,
        code="hotline.reply",
        unit="working_days",
        length=5,
        request_type="投诉",
        effective_from=date(2026, 3, 4),
        reason="本市规定投诉类5个工作日",
        now=now,
    )
    after = factories.ticket(session, now=now, request_type="投诉")
    open_deadlines(session, after, now=now)
    assert get_deadline(before, REPLY).policy_version == "gd-2020"
    assert get_deadline(after, REPLY).policy_version.startswith("admin-")
    assert get_deadline(after, REPLY).due_at == end_of(date(2026, 3, 11))


def test_deadline_into_unloaded_year_waits_then_a_load_fills_it_in(session, now):
    ticket = disclosure(session, at(2026, 12, 10), now)
    open_deadlines(session, ticket, now=now)
    reply = get_deadline(ticket, REPLY)
    assert reply.due_at is None and reply.state == "running"
    assert "2027年节假日安排尚未导入" in reply.explanation
    result = load_year(session, 2027, rows_2027(), source=notice_source(2027), now=now)
    assert result.recomputed_deadlines >= 1
    assert reply.due_at == end_of(date(2027, 1, 8))
    recomputed = events(session, ticket, "deadline.recomputed")
    assert recomputed[-1].data["reason"] == "导入2027年节假日安排"
    assert recomputed[-1].data["due_at"] == end_of(date(2027, 1, 8)).isoformat()


def test_a_changed_schedule_moves_open_deadlines_with_an_event(session, now):
    ticket = disclosure(session, at(2026, 3, 2), now)
    open_deadlines(session, ticket, now=now)
    untouched = disclosure(session, at(2026, 6, 1), now)
    open_deadlines(session, untouched, now=now)
    reply = get_deadline(ticket, REPLY)
    assert reply.due_at == end_of(date(2026, 3, 30))
    # An (imagined) corrected 2026 notice adds a day off on Monday 16 March.
    rows = [
        r
        for r in read_holiday_csv(__import__("tracker.calendar.store", fromlist=["x"]).bundled_csv_text())
        if r.year == 2026
    ]
    rows.append(HolidayRow(date(2026, 3, 16), "holiday", "临时调整", 2026, "测试"))
    version_before = get_deadline(untouched, REPLY).version
    load_year(session, 2026, rows, source="测试更正", now=now)
    assert reply.due_at == end_of(date(2026, 3, 31))
    assert "跳过临时调整假期3月16日" in reply.explanation
    assert events(session, ticket, "deadline.recomputed")
    assert get_deadline(untouched, REPLY).version == version_before  # not changed, no event
    assert not events(session, untouched, "deadline.recomputed")


# -- the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    """A scratch SQLite database of its own: CLI commands commit, so they must not share the test database."""
    from tracker.db import session_scope
    from tracker.migrate import upgrade

    folder = tmp_path_factory.mktemp("cli")
    url = f"sqlite:///{folder / 'cli.sqlite'}"
    upgrade(url)
    with session_scope(url) as session:
        load_bundled_calendar(session)
    return {
        "TRACKER_DATABASE_URL": url,
        "TRACKER_INSTANCE_DIR": str(folder),
        "TRACKER_SECRET_KEY": "x",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
    }


def run(cli_env, *args, input=None):
    from tracker.cli.main import main

    return CliRunner().invoke(main, ["calendar", *args], input=input, env=cli_env, catch_exceptions=False)


def test_cli_is_workday_matches_chinese_calendar_every_day_2016_to_2026(cli_env):
    days = list(iter_days(date(2016, 1, 1), date(2026, 12, 31)))
    result = run(cli_env, "is-workday", "-", input="".join(f"{d.isoformat()}\n" for d in days))
    assert result.exit_code == 0, result.output
    answers = result.output.split()
    assert len(answers) == len(days)
    assert [a == "true" for a in answers] == [chinese_calendar.is_workday(d) for d in days]


def test_cli_add_workdays_matches_chinese_calendar_every_day_2016_to_2026(cli_env):
    days = list(iter_days(date(2016, 1, 1), date(2026, 12, 30)))
    result = run(cli_env, "add-workdays", "-", input="".join(f"{d.isoformat()} 1\n" for d in days))
    assert result.exit_code == 0, result.output
    expected = []
    for day in days:
        following = day + timedelta(days=1)
        while not chinese_calendar.is_workday(following):
            following += timedelta(days=1)
        expected.append(following.isoformat())
    assert result.output.split() == expected


@pytest.mark.parametrize(
    ("args", "output"),
    [
        (("add-workdays", "2026-02-12", "20"), "2026-03-18"),
        (("add-workdays", "2025-12-31", "1"), "2026-01-04"),
        (("is-workday", "2026-02-14"), "true"),
        (("is-workday", "2026-02-16"), "false"),
    ],
)
def test_cli_single_answers(cli_env, args, output):
    result = run(cli_env, *args)
    assert (result.exit_code, result.output.strip()) == (0, output)


@pytest.mark.parametrize(
    ("args", "input", "message"),
    [
        (("is-workday", "2026-13-01"), None, "日期格式错误"),
        (("add-workdays", "2026-02-12", "x"), None, "非负整数"),
        (("add-workdays", "-"), "2026-02-12 20\nnot-a-date 3\n", "第2行"),
        (("show", "2031"), None, "2031年节假日安排尚未导入"),
    ],
)
def test_cli_errors_exit_non_zero_with_message_on_stderr(cli_env, args, input, message):
    result = run(cli_env, *args, input=input)
    assert result.exit_code != 0
    assert message in result.stderr


def test_cli_2027_refused_until_load_notice_then_used(cli_env):
    refused = run(cli_env, "add-workdays", "2026-12-10", "20")
    assert refused.exit_code == 2 and "2027年节假日安排尚未导入" in refused.stderr
    notice = str(NOTICES / "notice_2027_synthetic.txt")
    dry = run(cli_env, "load-notice", notice, "--dry-run")
    assert dry.exit_code == 0 and "2027-02-20,workday,春节" in dry.stdout and "未保存" in dry.stderr
    assert run(cli_env, "add-workdays", "2026-12-10", "20").exit_code == 2
    loaded = run(cli_env, "load-notice", notice)
    assert loaded.exit_code == 0, loaded.output
    assert run(cli_env, "add-workdays", "2026-12-10", "20").stdout.strip() == "2027-01-08"
    assert run(cli_env, "is-workday", "2027-02-20").stdout.strip() == "true"
    shown = run(cli_env, "show", "2027")
    assert shown.stdout.splitlines()[0] == "date,kind,name" and "2027-02-20,workday,春节" in shown.stdout


def test_cli_load_csv(cli_env, tmp_path):
    csv_file = tmp_path / "2028.csv"
    csv_file.write_text("date,kind,name\n2028-01-01,holiday,元旦\n", encoding="utf-8")
    result = run(cli_env, "load", str(csv_file))
    assert result.exit_code == 0 and "2028年节假日安排已导入" in result.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("date,kind,name\n2028-01-03,workday,元旦\n", encoding="utf-8")  # a Monday
    refused = run(cli_env, "load", str(bad))
    assert refused.exit_code == 2 and "不能标为调休上班" in refused.stderr


def test_pasted_notice_is_loaded_like_the_admin_page_does(session, now):
    from tracker.calendar.service import load_notice

    result = load_notice(
        session, (NOTICES / "notice_2027_synthetic.txt").read_text(encoding="utf-8"), now=now
    )
    assert (result.year, result.rows) == (2027, 13)
    assert load_calendar(session).is_workday(date(2027, 2, 20)) is True


def test_a_recomputed_complaint_keeps_its_fifteen_working_days(session, now):
    """Regression: request-type variants shared one (code, version); a recompute fell back to 咨询's 2 days."""
    from tracker.deadlines.service import recompute_deadline

    complaint = factories.ticket(session, now=now, request_type="投诉")
    reply = get_deadline(complaint, REPLY)
    assert reply.due_at == end_of(date(2026, 3, 25)) and reply.policy_code == "hotline.reply.complaint"
    recompute_deadline(session, complaint, REPLY, now=now, actor="测试", reason="回归")
    assert get_deadline(complaint, REPLY).due_at == end_of(date(2026, 3, 25))
