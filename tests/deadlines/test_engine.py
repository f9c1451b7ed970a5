"""The deadline engine's pure arithmetic: statutory cases as tables, each with its explanation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tracker.calendar.days import WorkCalendar
from tracker.calendar.store import bundled_calendar
from tracker.deadlines.engine import (
    DeadlineInput,
    EndOfDay,
    Extension,
    FixedDue,
    Pause,
    check_extension,
    compute_due,
    legal_receipt_at,
    state_at,
)
from tracker.deadlines.policies import (
    CALENDAR_DAYS,
    CLOCK_HOURS,
    CORRECTION,
    CORRECTION_NOTICE,
    DEFAULT_POLICIES,
    FEE_PAYMENT,
    REPLY,
    SIGN,
    THIRD_PARTY,
    WORKING_DAYS,
    Policy,
    find_policy,
    select_policy,
)
from tracker.errors import CalendarYearMissing, Conflict, NotFound, ValidationError

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = bundled_calendar()


def at(year, month, day, hour=10, minute=0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def end_of(day: date) -> datetime:
    """24:00 Asia/Shanghai of ``day``, as the aware UTC moment stored in the database."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI).astimezone(UTC) + timedelta(days=1)


def disclosure_reply(received: datetime) -> Policy:
    policy = select_policy(DEFAULT_POLICIES, channel="disclosure", kind=REPLY, received_on=received.date())
    assert policy is not None
    return policy


def test_issue_example_spring_festival_with_third_party_pause():
    received = at(2026, 2, 12)
    result = compute_due(
        DeadlineInput(
            disclosure_reply(received),
            received,
            pauses=(Pause(at(2026, 3, 2, 9), at(2026, 3, 10, 17), "第三方征求意见"),),
        ),
        CALENDAR,
    )
    assert result.due_at == end_of(date(2026, 3, 27))
    assert result.explanation == (
        "2026-02-12（周四）收到申请；自次日起算20个工作日；跳过春节假期2月15日至23日；"
        "2月14日、2月28日调休上班计入；第三方征求意见暂停3月2日至10日（7个工作日不计入）；截止2026-03-27 24:00"
    )


@pytest.mark.parametrize(
    ("received", "last_day", "mentions"),
    [
        (at(2026, 3, 7), date(2026, 4, 3), ["2026-03-07（周六）收到申请"]),  # weekend receipt
        (at(2026, 2, 28), date(2026, 3, 27), ["2026-02-28（周六）"]),  # make-up Saturday receipt
        (
            at(2026, 10, 3),
            date(2026, 11, 3),
            ["跳过国庆节假期10月1日至7日", "10月10日调休上班计入"],
        ),  # holiday
        (at(2026, 2, 12), date(2026, 3, 18), ["跳过春节假期2月15日至23日"]),  # Spring Festival
        (
            at(2026, 9, 18),
            date(2026, 10, 22),
            ["跳过中秋节假期9月25日至27日", "9月20日、10月10日调休上班计入"],
        ),
        (at(2025, 12, 20), date(2026, 1, 19), ["跳过元旦假期1月1日至3日", "1月4日调休上班计入"]),  # year end
        (at(2019, 5, 15, 0, 10), date(2019, 6, 13), ["20个工作日", "跳过端午节假期6月7日"]),  # 2019 条例
        (at(2019, 5, 14, 23, 50), date(2019, 6, 4), ["15个工作日"]),  # 2007 条例, last evening
    ],
)
def test_disclosure_reply_statutory_cases(received, last_day, mentions):
    result = compute_due(DeadlineInput(disclosure_reply(received), received), CALENDAR)
    assert result.last_day == last_day
    assert result.due_at == end_of(last_day)
    for text in mentions:
        assert text in result.explanation
    assert result.explanation.endswith(f"截止{last_day.isoformat()} 24:00")


@pytest.mark.parametrize(
    ("received_local", "version", "length"),
    [
        (at(2019, 5, 14, 23, 59), "2007", 15),
        (at(2019, 5, 15, 0, 0), "2019", 20),
        (at(2008, 5, 1), "2007", 15),
        (at(2026, 1, 5), "2019", 20),
    ],
)
def test_2007_to_2019_switch_on_receipt_day_in_shanghai(received_local, version, length):
    # The policy is chosen by the Shanghai date, not the UTC one (00:00 CST is 16:00 UTC the day before).
    received_on = received_local.astimezone(UTC).astimezone(SHANGHAI).date()
    policy = select_policy(DEFAULT_POLICIES, channel="disclosure", kind=REPLY, received_on=received_on)
    assert (policy.version, policy.length) == (version, length)


def test_no_disclosure_policy_before_the_2007_regulation_took_effect():
    assert (
        select_policy(DEFAULT_POLICIES, channel="disclosure", kind=REPLY, received_on=date(2008, 4, 30))
        is None
    )


def test_2007_rules_have_no_seven_day_correction_limit():
    assert (
        select_policy(
            DEFAULT_POLICIES, channel="disclosure", kind=CORRECTION_NOTICE, received_on=date(2019, 5, 14)
        )
        is None
    )
    notice = select_policy(
        DEFAULT_POLICIES, channel="disclosure", kind=CORRECTION_NOTICE, received_on=date(2019, 5, 15)
    )
    assert (notice.length, notice.unit, notice.max_issues) == (7, WORKING_DAYS, 1)
    assert select_policy(
        DEFAULT_POLICIES, channel="disclosure", kind=CORRECTION, received_on=date(2019, 5, 14)
    )


def test_correction_notice_due_seven_working_days_after_receipt():
    received = at(2026, 2, 12)
    policy = select_policy(
        DEFAULT_POLICIES, channel="disclosure", kind=CORRECTION_NOTICE, received_on=received.date()
    )
    assert compute_due(DeadlineInput(policy, received), CALENDAR).last_day == date(2026, 2, 28)


def test_restart_after_correction_counts_from_the_corrected_application():
    policy = disclosure_reply(at(2026, 2, 12))
    restarted = DeadlineInput(policy, at(2026, 3, 6, 15), start_note="收到补正后的申请（答复期限重新起算）")
    result = compute_due(restarted, CALENDAR)
    assert result.last_day == date(2026, 4, 3)
    assert result.explanation.startswith(
        "2026-03-06（周五）收到补正后的申请（答复期限重新起算）；自次日起算20个工作日"
    )


def test_open_pause_has_no_due_time_until_resumed():
    received = at(2026, 3, 2)
    paused = DeadlineInput(
        disclosure_reply(received), received, pauses=(Pause(at(2026, 3, 5), None, "申请人缴费"),)
    )
    result = compute_due(paused, CALENDAR)
    assert result.is_paused and result.due_at is None
    assert "申请人缴费自2026-03-05起暂停中" in result.explanation
    assert state_at(result.due_at, is_paused=True, now=at(2026, 5, 1)) == "paused"


def test_pause_and_resume_excludes_exactly_the_paused_working_days():
    received = at(2026, 3, 2)
    policy = disclosure_reply(received)
    plain = compute_due(DeadlineInput(policy, received), CALENDAR)
    resumed = compute_due(
        DeadlineInput(policy, received, pauses=(Pause(at(2026, 3, 5), at(2026, 3, 11), "第三方征求意见"),)),
        CALENDAR,
    )
    assert plain.last_day == date(2026, 3, 30)
    # 3-05..3-11 holds five working days (Thu, Fri, Mon, Tue, Wed).
    assert (
        resumed.last_day == CALENDAR.add_workdays(date(2026, 3, 30), 5) == date(2026, 4, 7)
    )  # 清明 4-04..06
    assert "（5个工作日不计入）" in resumed.explanation


def test_pause_after_the_period_ended_changes_nothing():
    received = at(2026, 3, 2)
    policy = disclosure_reply(received)
    late = DeadlineInput(
        policy, received, pauses=(Pause(at(2026, 4, 10), at(2026, 4, 20), "第三方征求意见"),)
    )
    assert compute_due(late, CALENDAR).last_day == date(2026, 3, 30)


def test_two_overlapping_pauses_count_once():
    received = at(2026, 3, 2)
    policy = disclosure_reply(received)
    pauses = (
        Pause(at(2026, 3, 5), at(2026, 3, 9), "第三方征求意见"),
        Pause(at(2026, 3, 9), at(2026, 3, 11), "征求其他机关意见"),
    )
    assert compute_due(DeadlineInput(policy, received, pauses=pauses), CALENDAR).last_day == date(2026, 4, 7)


def test_extension_adds_its_working_days_and_is_explained():
    received = at(2026, 2, 12)
    extension = Extension(
        20, "办公室主任王强", "需检索大量档案", at(2026, 3, 10), "2026-03-10 书面告知申请人"
    )
    result = compute_due(
        DeadlineInput(disclosure_reply(received), received, extensions=(extension,)), CALENDAR
    )
    assert result.last_day == CALENDAR.add_workdays(date(2026, 2, 12), 40) == date(2026, 4, 16)
    assert (
        "经办公室主任王强批准延长20个工作日（理由：需检索大量档案；已告知申请人：2026-03-10 书面告知申请人）"
        in (result.explanation)
    )


@pytest.mark.parametrize(
    ("existing", "length", "error", "message"),
    [
        (0, 21, Conflict, "最长延长20个工作日"),
        (1, 5, Conflict, "只能延长1次"),
        (0, 0, ValidationError, "必须大于0"),
    ],
)
def test_extension_cap(existing, length, error, message):
    policy = disclosure_reply(at(2026, 2, 12))
    granted = [Extension(10, "主任", "理由", at(2026, 3, 1))] * existing
    with pytest.raises(error, match=message):
        check_extension(policy, granted, length)


def test_one_extension_of_twenty_is_allowed():
    check_extension(disclosure_reply(at(2026, 2, 12)), [], 20)


def test_2007_extension_is_capped_at_fifteen():
    policy = disclosure_reply(at(2019, 5, 14))
    check_extension(policy, [], 15)
    with pytest.raises(Conflict):
        check_extension(policy, [], 16)


def test_non_extendable_deadline_refuses_any_extension():
    notice = select_policy(
        DEFAULT_POLICIES, channel="disclosure", kind=CORRECTION_NOTICE, received_on=date(2026, 1, 5)
    )
    with pytest.raises(Conflict, match="不可延长"):
        check_extension(notice, [], 1)


def test_unloaded_year_is_refused():
    received = at(2026, 12, 10)
    with pytest.raises(CalendarYearMissing, match="2027年节假日安排尚未导入"):
        compute_due(DeadlineInput(disclosure_reply(received), received), CALENDAR)


def test_newly_loaded_year_gives_the_deadline():
    received = at(2026, 12, 10)
    existing = [(o.day, o.kind, o.name) for y in range(2004, 2027) for o in CALENDAR.overrides_in_year(y)]
    with_2027 = WorkCalendar([*existing, (date(2027, 1, 1), "holiday", "元旦")], range(2004, 2028))
    result = compute_due(DeadlineInput(disclosure_reply(received), received), with_2027)
    assert result.last_day == date(2027, 1, 8)
    assert "跳过元旦假期1月1日" in result.explanation


@pytest.mark.parametrize(
    ("request_type", "urgency", "unit", "length"),
    [
        ("咨询", None, WORKING_DAYS, 2),
        ("求助", None, WORKING_DAYS, 10),
        ("建议", None, WORKING_DAYS, 10),
        ("投诉", None, WORKING_DAYS, 15),
        ("举报", None, WORKING_DAYS, 15),
        ("表扬", None, WORKING_DAYS, 10),
        ("投诉", "紧急", CLOCK_HOURS, 24),
    ],
)
def test_hotline_default_table(request_type, urgency, unit, length):
    policy = select_policy(
        DEFAULT_POLICIES,
        channel="hotline",
        kind=REPLY,
        received_on=date(2026, 3, 2),
        request_type=request_type,
        urgency=urgency,
    )
    assert (policy.unit, policy.length) == (unit, length)


def test_hotline_work_order_deadline_wins():
    policy = select_policy(
        DEFAULT_POLICIES, channel="hotline", kind=REPLY, received_on=date(2026, 3, 2), request_type="投诉"
    )
    order_due = at(2026, 3, 6, 18)
    result = compute_due(
        DeadlineInput(policy, at(2026, 3, 2), fixed_due=FixedDue(order_due, "工单办结时限", "work_order")),
        CALENDAR,
    )
    assert result.due_at == order_due
    assert "按工单写明的时限（工单办结时限）：截止2026-03-06 18:00" in result.explanation


def test_manual_override_art_35_records_its_reason():
    received = at(2026, 3, 2)
    fixed = FixedDue(
        end_of(date(2026, 6, 30)), "申请数量明显超过合理范围，另行确定答复期限", "manual", "办公室"
    )
    result = compute_due(DeadlineInput(disclosure_reply(received), received, fixed_due=fixed), CALENDAR)
    assert result.due_at == end_of(date(2026, 6, 30))
    assert (
        "经办公室人工确定截止时间（理由：申请数量明显超过合理范围，另行确定答复期限）：截止2026-06-30 24:00"
        in (result.explanation)
    )


def test_clock_hours_ignore_the_calendar_and_add_pauses():
    policy = select_policy(DEFAULT_POLICIES, channel="weibo", kind=REPLY, received_on=date(2027, 1, 1))
    start = at(2027, 1, 1, 9)  # 2027 is not loaded, but clock hours need no calendar
    result = compute_due(
        DeadlineInput(policy, start, pauses=(Pause(at(2027, 1, 1, 12), at(2027, 1, 1, 15), "等待核实"),)),
        CALENDAR,
    )
    assert result.due_at == at(2027, 1, 2, 12).astimezone(UTC)
    assert "截止2027-01-02 12:00" in result.explanation


def test_website_message_five_working_days_extendable_to_fifteen():
    policy = select_policy(DEFAULT_POLICIES, channel="website", kind=REPLY, received_on=date(2026, 3, 2))
    assert compute_due(DeadlineInput(policy, at(2026, 3, 2)), CALENDAR).last_day == date(2026, 3, 9)
    check_extension(policy, [], 10)
    with pytest.raises(Conflict):
        check_extension(policy, [], 11)


@pytest.mark.parametrize(
    ("start", "length", "last_day", "note"),
    [
        (date(2026, 9, 16), 15, date(2026, 10, 8), "为国庆节"),  # ends 10-01 → after the holiday
        (date(2026, 2, 21), 15, date(2026, 3, 9), "为休息日"),  # ends Sunday 3-08 → Monday
        (date(2026, 1, 30), 15, date(2026, 2, 14), None),  # ends on a make-up Saturday: a working day
    ],
)
def test_calendar_days_roll_over_rest_days_civil_code_art_203(start, length, last_day, note):
    policy = Policy(
        code="petition.accept",
        version="2022",
        channel="petition",
        kind=REPLY,
        unit=CALENDAR_DAYS,
        length=length,
        effective_from=date(2022, 5, 1),
    )
    result = compute_due(
        DeadlineInput(policy, datetime(start.year, start.month, start.day, 9, tzinfo=SHANGHAI)), CALENDAR
    )
    assert result.last_day == last_day
    if note:
        assert note in result.explanation and "依民法典第二百零三条顺延" in result.explanation
    else:
        assert "顺延" not in result.explanation


def test_configurable_end_of_day_office_closing_time():
    received = at(2026, 2, 12)
    result = compute_due(
        DeadlineInput(disclosure_reply(received), received), CALENDAR, end_of_day=EndOfDay.parse("17:30")
    )
    assert result.due_at == at(2026, 3, 18, 17, 30).astimezone(UTC)
    assert result.explanation.endswith("截止2026-03-18 17:30")


@pytest.mark.parametrize("text", ["25:00", "24:30", "noon", "", "17:60"])
def test_end_of_day_rejects_nonsense(text):
    with pytest.raises(ValidationError):
        EndOfDay.parse(text)


def test_state_at():
    due = end_of(date(2026, 3, 18))
    assert state_at(due, is_paused=False, now=due - timedelta(seconds=1)) == "running"
    assert state_at(due, is_paused=False, now=due) == "breached"


def test_consultation_policies_pause_the_reply():
    for kind in (THIRD_PARTY, FEE_PAYMENT):
        policy = select_policy(
            DEFAULT_POLICIES, channel="disclosure", kind=kind, received_on=date(2026, 3, 2)
        )
        assert policy.pauses_reply and policy.length == (15 if kind == THIRD_PARTY else 20)


def test_administrator_override_beats_the_default():
    override = Policy(
        code="hotline.reply",
        version="admin-1",
        channel="hotline",
        kind=REPLY,
        unit=WORKING_DAYS,
        length=7,
        request_type="投诉",
        effective_from=date(2026, 1, 1),
        is_override=True,
    )
    policies = [*DEFAULT_POLICIES, override]
    chosen = select_policy(
        policies, channel="hotline", kind=REPLY, received_on=date(2026, 3, 2), request_type="投诉"
    )
    assert chosen is override
    earlier = select_policy(
        policies, channel="hotline", kind=REPLY, received_on=date(2025, 12, 31), request_type="投诉"
    )
    assert earlier.length == 15
    assert find_policy(policies, "hotline.reply", "admin-1") is override
    with pytest.raises(NotFound):
        find_policy(policies, "hotline.reply", "admin-99")


def test_hotline_sign_deadline():
    sign = select_policy(DEFAULT_POLICIES, channel="hotline", kind=SIGN, received_on=date(2026, 3, 2))
    assert (sign.unit, sign.length) == (WORKING_DAYS, 1)


def test_policy_rejects_unknown_unit():
    with pytest.raises(ValidationError):
        Policy(
            code="x",
            version="1",
            channel="x",
            kind=REPLY,
            unit="weeks",
            length=1,
            effective_from=date(2026, 1, 1),
        )


@pytest.mark.parametrize(
    ("received_via", "signed", "confirmed", "expected", "basis"),
    [
        ("当面", None, None, "arrived", "当面提交"),
        ("挂号信", at(2026, 3, 3), None, "signed", "签收之日"),
        # 邮寄 is any post signed for (art. 31(二)); the ordinary letter is 平信 (issue 18).
        ("邮寄", at(2026, 3, 4), None, "signed", "签收之日"),
        ("平信", None, at(2026, 3, 4), "confirmed", "与申请人确认"),
        ("电子邮件", None, at(2026, 3, 6), "confirmed", "双方确认之日"),
        ("网络", None, at(2026, 3, 5), "confirmed", "双方确认之日"),
        ("传真", None, None, "arrived", "暂以到达时间计"),
    ],
)
def test_legal_receipt_follows_art_31(received_via, signed, confirmed, expected, basis):
    arrived = at(2026, 3, 2)
    moment, why = legal_receipt_at(received_via, arrived_at=arrived, signed_at=signed, confirmed_at=confirmed)
    assert moment == {"arrived": arrived, "signed": signed, "confirmed": confirmed}[expected]
    assert basis in why


def hotline_complaint() -> Policy:
    return select_policy(
        DEFAULT_POLICIES, channel="hotline", kind=REPLY, received_on=date(2026, 3, 2), request_type="投诉"
    )


def test_work_order_due_moves_with_an_extension_keeping_its_time_of_day():
    order = FixedDue(at(2026, 3, 6, 18), "工单办结时限", "work_order")
    extension = Extension(5, "科室负责人", "需现场核查", at(2026, 3, 5), "已报平台")
    result = compute_due(
        DeadlineInput(hotline_complaint(), at(2026, 3, 2), extensions=(extension,), fixed_due=order), CALENDAR
    )
    assert result.due_at == at(2026, 3, 13, 18).astimezone(UTC)
    assert "经科室负责人批准延长5个工作日" in result.explanation
    assert result.explanation.endswith("截止2026-03-13 18:00")


def test_work_order_due_moves_by_the_working_days_paused():
    order = FixedDue(at(2026, 3, 6, 18), "工单办结时限", "work_order")
    pause = Pause(at(2026, 3, 4, 9), at(2026, 3, 5, 17), "等待诉求人补充材料")
    result = compute_due(
        DeadlineInput(hotline_complaint(), at(2026, 3, 2), pauses=(pause,), fixed_due=order), CALENDAR
    )
    assert result.due_at == at(2026, 3, 10, 18).astimezone(UTC)
    assert "（2个工作日顺延）" in result.explanation


def test_manual_override_ignores_later_pauses():
    fixed = FixedDue(at(2026, 6, 30, 18), "第三十五条", "manual")
    pause = Pause(at(2026, 3, 4), at(2026, 3, 5), "第三方征求意见")
    received = at(2026, 3, 2)
    result = compute_due(
        DeadlineInput(disclosure_reply(received), received, pauses=(pause,), fixed_due=fixed), CALENDAR
    )
    assert result.due_at == fixed.due_at


def test_every_built_in_policy_is_found_again_by_its_code_and_version():
    """A stored deadline finds its rule by (code, version): variants must not share both."""
    from tracker.deadlines.policies import DEFAULT_POLICIES

    keys = [(p.code, p.version) for p in DEFAULT_POLICIES]
    assert len(keys) == len(set(keys))
    for policy in DEFAULT_POLICIES:
        assert find_policy(DEFAULT_POLICIES, policy.code, policy.version) is policy
