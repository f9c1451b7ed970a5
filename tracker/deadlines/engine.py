"""The statutory deadline engine: policies as versioned data, due times, pauses, extensions, explanations.

Two layers:

* pure functions (`select_policy`, `compute_due`, `explain`…) that take the policy, the calendar and the
  time (``now``) as arguments and touch no database — the legal arithmetic, unit-tested by tables;
* services (`open_deadlines`, `pause_deadline`, `extend_deadline`, …) that apply them to the
  foundation's `Deadline` rows, flush, bump ``Deadline.version`` and record a `TicketEvent` for every change.
  They never commit: the request, task or CLI command owns the transaction.

Counting rules (rules.md §1): the start day is not counted (民法典 art. 201); working days follow the
State Council's schedule including 调休 (`tracker.calendar.days`); a calendar-day period that ends on a rest day
rolls to the next working day (art. 203); the last day ends at a configurable time of day, default 24:00
Asia/Shanghai. A pause excludes every day from the day it starts to the day it ends, both included —
a consultation letter sent on 3 March and answered on 10 March takes 3–10 March out of the count.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import reference
from tracker.calendar.days import WorkCalendar, format_day, format_span
from tracker.calendar.store import load_calendar
from tracker.clock import BUSINESS_TZ
from tracker.deadlines.models import DeadlinePolicyOverride
from tracker.errors import CalendarYearMissing, Conflict, NotFound, ValidationError
from tracker.reference import Stamp
from tracker.tickets.history import record_event
from tracker.tickets.models import Deadline, Ticket

WORKING_DAYS = "working_days"
CALENDAR_DAYS = "calendar_days"
CLOCK_HOURS = "clock_hours"
UNITS = (WORKING_DAYS, CALENDAR_DAYS, CLOCK_HOURS)
UNIT_WORDS = {WORKING_DAYS: "个工作日", CALENDAR_DAYS: "日", CLOCK_HOURS: "小时"}

# The date the 2019 条例 (国务院令第711号) took effect; applications received earlier stay on the 2007 rules.
REGULATION_2019_EFFECTIVE = date(2019, 5, 15)
REGULATION_2007_EFFECTIVE = date(2008, 5, 1)

RUNNING, PAUSED, MET, BREACHED, CANCELLED = "running", "paused", "met", "breached", "cancelled"
OPEN_STATES = (RUNNING, PAUSED, BREACHED)

# Deadline kinds (Deadline.kind) and their labels.
SIGN = "sign"
CORRECTION_NOTICE = "correction_notice"
CORRECTION = "correction"
REPLY = "reply"
THIRD_PARTY = "third_party"
OTHER_AGENCY = "other_agency"
FEE_PAYMENT = "fee_payment"
KIND_LABELS = {
    SIGN: "签收",
    CORRECTION_NOTICE: "补正告知",
    CORRECTION: "申请人补正",
    REPLY: "答复",
    THIRD_PARTY: "第三方意见",
    OTHER_AGENCY: "其他机关意见",
    FEE_PAYMENT: "缴费",
}
# Consultations whose running time is taken out of the reply period (art. 32, 34, 42 of the 2019 条例).
PAUSE_REASONS = {
    THIRD_PARTY: "第三方征求意见",
    OTHER_AGENCY: "征求其他机关意见",
    FEE_PAYMENT: "申请人缴费",
}


@dataclass(frozen=True)
class Policy:
    """One rule for one deadline, in force for receipts in [effective_from, effective_to)."""

    code: str  # stable key, e.g. "disclosure.reply"
    version: str  # which edition of the rule, e.g. "2019"; stored on each Deadline
    channel: str
    kind: str
    unit: str
    length: int
    effective_from: date
    effective_to: date | None = None
    legal_basis: str = ""
    request_type: str | None = None  # hotline per-type defaults; None = any type
    urgency: str | None = None  # "紧急" orders run in clock hours
    max_extensions: int = 0
    max_extension_length: int = 0
    is_pausable: bool = False
    pauses_reply: bool = False  # a consultation that stops the reply clock while it runs
    max_issues: int | None = None  # 补正 can be requested once
    start_event: str = "收到申请"
    is_override: bool = False  # an administrator's row, wins over the built-in default

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValidationError(f"未知的期限单位 {self.unit!r}", fields={"unit": self.unit})
        if self.length < 0 or self.max_extension_length < 0:
            raise ValidationError("期限长度不能为负数", fields={"length": str(self.length)})

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def is_in_force(self, received_on: date) -> bool:
        return self.effective_from <= received_on and (
            self.effective_to is None or received_on < self.effective_to
        )

    def describe_length(self, length: int | None = None) -> str:
        return f"{self.length if length is None else length}{UNIT_WORDS[self.unit]}"


def _disclosure(**kwargs: Any) -> Policy:
    return Policy(channel="disclosure", code=f"disclosure.{kwargs['kind']}", **kwargs)


DISCLOSURE_2007 = {
    "version": "2007",
    "effective_from": REGULATION_2007_EFFECTIVE,
    "effective_to": REGULATION_2019_EFFECTIVE,
}
DISCLOSURE_2019 = {"version": "2019", "effective_from": REGULATION_2019_EFFECTIVE}
PRACTICE_FROM = date(2004, 1, 1)  # local-practice defaults apply to everything the calendar covers

DEFAULT_POLICIES: tuple[Policy, ...] = (
    # 依申请公开, 2019 条例 (国务院令第711号)
    _disclosure(
        kind=REPLY,
        unit=WORKING_DAYS,
        length=20,
        max_extensions=1,
        max_extension_length=20,
        is_pausable=True,
        legal_basis="《政府信息公开条例》（2019）第三十三条",
        **DISCLOSURE_2019,
    ),
    _disclosure(
        kind=CORRECTION_NOTICE,
        unit=WORKING_DAYS,
        length=7,
        max_issues=1,
        legal_basis="《政府信息公开条例》（2019）第三十条",
        **DISCLOSURE_2019,
    ),
    # The agency sets the correction deadline in its notice; 15 working days is a practice default.
    _disclosure(
        kind=CORRECTION,
        unit=WORKING_DAYS,
        length=15,
        start_event="发出补正通知",
        legal_basis="《政府信息公开条例》（2019）第三十条（补正期限由行政机关确定）",
        **DISCLOSURE_2019,
    ),
    _disclosure(
        kind=THIRD_PARTY,
        unit=WORKING_DAYS,
        length=15,
        pauses_reply=True,
        start_event="发出征求意见书",
        legal_basis="《政府信息公开条例》（2019）第三十二条",
        **DISCLOSURE_2019,
    ),
    _disclosure(
        kind=OTHER_AGENCY,
        unit=WORKING_DAYS,
        length=15,
        pauses_reply=True,
        start_event="发出征求意见函",
        legal_basis="《政府信息公开条例》（2019）第三十四条",
        **DISCLOSURE_2019,
    ),
    _disclosure(
        kind=FEE_PAYMENT,
        unit=WORKING_DAYS,
        length=20,
        pauses_reply=True,
        start_event="申请人收到收费通知",
        legal_basis="《政府信息公开条例》（2019）第四十二条、国办函〔2020〕109号",
        **DISCLOSURE_2019,
    ),
    # 依申请公开, 2007 条例 (国务院令第492号): 15 + 15 working days; no 7-day 补正 limit.
    _disclosure(
        kind=REPLY,
        unit=WORKING_DAYS,
        length=15,
        max_extensions=1,
        max_extension_length=15,
        is_pausable=True,
        legal_basis="《政府信息公开条例》（2007）第二十四条",
        **DISCLOSURE_2007,
    ),
    _disclosure(
        kind=CORRECTION,
        unit=WORKING_DAYS,
        length=15,
        start_event="发出补正通知",
        legal_basis="《政府信息公开条例》（2007）第二十一条",
        **DISCLOSURE_2007,
    ),
    _disclosure(
        kind=THIRD_PARTY,
        unit=WORKING_DAYS,
        length=15,
        pauses_reply=True,
        start_event="发出征求意见书",
        legal_basis="《政府信息公开条例》（2007）第二十三条、第二十四条",
        **DISCLOSURE_2007,
    ),
    _disclosure(
        kind=OTHER_AGENCY,
        unit=WORKING_DAYS,
        length=15,
        pauses_reply=True,
        start_event="发出征求意见函",
        legal_basis="《政府信息公开条例》（2007）第二十四条",
        **DISCLOSURE_2007,
    ),
    # 12345 hotline: the work order's own deadlines win; these are the fallbacks (Guangdong's published rule).
    *(
        Policy(
            # One code per variant: a stored deadline finds its rule again by (code, version).
            code=f"hotline.reply.{slug}" if slug else "hotline.reply",
            version="gd-2020",
            channel="hotline",
            kind=REPLY,
            unit=WORKING_DAYS,
            length=length,
            request_type=request_type,
            effective_from=PRACTICE_FROM,
            max_extensions=1,
            max_extension_length=15,
            is_pausable=True,
            start_event="受理工单",
            legal_basis="12345热线办理时限（默认值，可由管理员调整）",
        )
        for request_type, slug, length in (
            ("咨询", "consult", 2),
            ("求助", "help", 10),
            ("建议", "suggest", 10),
            ("投诉", "complaint", 15),
            ("举报", "report", 15),
            (None, None, 10),
        )
    ),
    Policy(
        code="hotline.reply.urgent",
        version="gd-2020",
        channel="hotline",
        kind=REPLY,
        unit=CLOCK_HOURS,
        length=24,
        urgency="紧急",
        effective_from=PRACTICE_FROM,
        max_extensions=1,
        max_extension_length=24,
        start_event="受理紧急工单",
        legal_basis="12345热线紧急工单（默认值，可由管理员调整）",
    ),
    Policy(
        code="hotline.sign",
        version="gd-2020",
        channel="hotline",
        kind=SIGN,
        unit=WORKING_DAYS,
        length=1,
        effective_from=PRACTICE_FROM,
        start_event="派单",
        legal_basis="12345热线签收时限（默认值）",
    ),
    Policy(
        code="hotline.sign.urgent",
        version="gd-2020",
        channel="hotline",
        kind=SIGN,
        unit=CLOCK_HOURS,
        length=2,
        urgency="紧急",
        effective_from=PRACTICE_FROM,
        start_event="派单",
        legal_basis="12345热线紧急工单签收（默认值）",
    ),
    # 网站留言 / 领导信箱: 5 working days, extendable to 15 in all (local practice).
    Policy(
        code="website.reply",
        version="practice",
        channel="website",
        kind=REPLY,
        unit=WORKING_DAYS,
        length=5,
        effective_from=PRACTICE_FROM,
        max_extensions=1,
        max_extension_length=10,
        is_pausable=True,
        start_event="收到留言",
        legal_basis="网站留言办理时限（常见地方做法，可由管理员调整）",
    ),
    # 政务微博: clock hours.
    Policy(
        code="weibo.reply",
        version="practice",
        channel="weibo",
        kind=REPLY,
        unit=CLOCK_HOURS,
        length=24,
        effective_from=PRACTICE_FROM,
        max_extensions=1,
        max_extension_length=24,
        start_event="收到评论或私信",
        legal_basis="政务新媒体回应时限（常见地方做法，可由管理员调整）",
    ),
)

# Which deadlines a new ticket gets, per channel. Consultations and 补正 are opened by their actions.
INITIAL_KINDS = {
    "disclosure": (REPLY, CORRECTION_NOTICE),
    "hotline": (SIGN, REPLY),
    "website": (REPLY,),
    "weibo": (REPLY,),
}


# -- policy selection ---------------------------------------------------------------------------------


def select_policy(
    policies: Iterable[Policy],
    *,
    channel: str,
    kind: str,
    received_on: date,
    request_type: str | None = None,
    urgency: str | None = None,
) -> Policy | None:
    """Return the policy in force on ``received_on``, or None when the channel has no such deadline.

    Most specific wins: an urgency match, then a request-type match; at equal specificity an
    administrator's override beats the built-in default, and a later ``effective_from`` beats an earlier one.
    """
    candidates = [
        p
        for p in policies
        if p.channel == channel
        and p.kind == kind
        and p.is_in_force(received_on)
        and p.request_type in (None, request_type)
        and p.urgency in (None, urgency)
    ]
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda p: (p.urgency is not None, p.request_type is not None, p.is_override, p.effective_from),
    )


def find_policy(policies: Iterable[Policy], code: str, version: str) -> Policy:
    """Return the exact policy a stored deadline was computed with (the rule in force at receipt)."""
    for policy in policies:
        if policy.code == code and policy.version == version:
            return policy
    raise NotFound(f"找不到期限规则 {code} {version}")


# -- inputs and results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """The clock stood still from ``started_at``; ``ended_at`` None means it still does."""

    started_at: datetime
    ended_at: datetime | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"started_at": _iso(self.started_at), "ended_at": _iso(self.ended_at), "reason": self.reason}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pause:
        return cls(_parse(data["started_at"]), _parse(data.get("ended_at")), data.get("reason", ""))


@dataclass(frozen=True)
class Extension:
    length: int
    approver: str
    reason: str
    granted_at: datetime
    applicant_notice: str = ""  # how and when the applicant was told (art. 33)

    def as_json(self) -> dict[str, Any]:
        return {
            "length": self.length,
            "approver": self.approver,
            "reason": self.reason,
            "granted_at": _iso(self.granted_at),
            "applicant_notice": self.applicant_notice,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Extension:
        return cls(
            int(data["length"]),
            data.get("approver", ""),
            data.get("reason", ""),
            _parse(data["granted_at"]),
            data.get("applicant_notice", ""),
        )


@dataclass(frozen=True)
class FixedDue:
    """A due time decided outside the arithmetic: a work order's 办结时限, or a manual override (art. 35)."""

    due_at: datetime
    reason: str
    source: str = "manual"  # "manual" | "work_order"
    by: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"due_at": _iso(self.due_at), "reason": self.reason, "source": self.source, "by": self.by}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FixedDue:
        return cls(
            _parse(data["due_at"]), data.get("reason", ""), data.get("source", "manual"), data.get("by", "")
        )


@dataclass(frozen=True)
class EndOfDay:
    """When the last day of a period ends: 24:00 (default) or an office's closing time like 17:30."""

    hour: int = 24
    minute: int = 0

    @classmethod
    def parse(cls, text: str) -> EndOfDay:
        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text or "")
        if not match:
            raise ValidationError(
                f"无效的截止时刻 {text!r}（应为 HH:MM，如 24:00 或 17:30）", fields={"end_of_day": text}
            )
        hour, minute = int(match.group(1)), int(match.group(2))
        if not (0 <= minute < 60 and (0 < hour < 24 or (hour == 24 and minute == 0))):
            raise ValidationError(f"无效的截止时刻 {text!r}", fields={"end_of_day": text})
        return cls(hour, minute)

    def moment(self, last_day: date) -> datetime:
        """Return the aware UTC moment at which ``last_day`` ends."""
        if self.hour == 24:
            local_end = datetime.combine(last_day + timedelta(days=1), time(0, 0), BUSINESS_TZ)
        else:
            local_end = datetime.combine(last_day, time(self.hour, self.minute), BUSINESS_TZ)
        return local_end.astimezone(UTC)

    def label(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


DEFAULT_END_OF_DAY = EndOfDay()


@dataclass(frozen=True)
class DeadlineInput:
    policy: Policy
    starts_at: datetime  # the moment the period starts (receipt, restart, notice); aware
    pauses: tuple[Pause, ...] = ()
    extensions: tuple[Extension, ...] = ()
    fixed_due: FixedDue | None = None
    start_note: str = ""  # e.g. "收到补正后的申请，答复期限重新起算"


@dataclass(frozen=True)
class DueResult:
    due_at: datetime | None  # None while paused open-ended
    last_day: date | None
    explanation: str
    is_paused: bool = False
    counted_length: int = 0
    excluded: list[str] = field(default_factory=list)


# -- the arithmetic ---------------------------------------------------------------------------------


def compute_due(
    deadline: DeadlineInput, calendar: WorkCalendar, *, end_of_day: EndOfDay = DEFAULT_END_OF_DAY
) -> DueResult:
    """Return the due time and its plain-Chinese explanation. Raises `CalendarYearMissing` when unknown."""
    policy = deadline.policy
    extension_total = sum(e.length for e in deadline.extensions)
    length = policy.length + extension_total
    open_pause = next((p for p in deadline.pauses if p.ended_at is None), None)
    closed_pauses = [p for p in deadline.pauses if p.ended_at is not None]
    start_local = deadline.starts_at.astimezone(BUSINESS_TZ)
    parts = [_start_phrase(deadline, start_local)]

    if deadline.fixed_due is not None:
        fixed = deadline.fixed_due
        if fixed.source == "manual" or not (deadline.extensions or deadline.pauses):
            # A manual due time (art. 35) is the final word; a work order's stands unless extended or paused.
            text = _fixed_phrase(fixed, end_of_day)
            return DueResult(
                fixed.due_at, fixed.due_at.astimezone(BUSINESS_TZ).date(), "；".join([parts[0], text])
            )
        return _adjust_work_order_due(deadline, calendar, parts[0], end_of_day)

    if policy.unit == CLOCK_HOURS:
        paused_for = sum(((p.ended_at - p.started_at) for p in closed_pauses), timedelta())  # type: ignore[operator]
        due_at = (deadline.starts_at + timedelta(hours=length) + paused_for).astimezone(UTC)
        parts.append(f"按{policy.describe_length(policy.length)}计算（连续计时，不区分工作日）")
        parts.extend(_extension_phrases(deadline.extensions, policy))
        for pause in closed_pauses:
            parts.append(f"{pause.reason}暂停{_fmt_moment(pause.started_at)}至{_fmt_moment(pause.ended_at)}")  # type: ignore[arg-type]
        if open_pause is not None:
            parts.append(
                f"{open_pause.reason}自{_fmt_moment(open_pause.started_at)}起暂停，恢复后重新计算截止时间"
            )
            return DueResult(None, None, "；".join(parts), is_paused=True, counted_length=length)
        parts.append(f"截止{_fmt_moment(due_at)}")
        return DueResult(
            due_at, due_at.astimezone(BUSINESS_TZ).date(), "；".join(parts), counted_length=length
        )

    start_day = start_local.date()
    pause_days = _pause_day_ranges(closed_pauses, start_day)
    if policy.unit == WORKING_DAYS:
        last_day, excluded = _count_working_days(calendar, start_day, length, pause_days)
        parts.append(f"自次日起算{policy.describe_length(policy.length)}")
        parts.extend(_extension_phrases(deadline.extensions, policy))
        parts.extend(_calendar_phrases(calendar, start_day, last_day))
        parts.extend(excluded)
        rolled_from = None
    else:
        last_day, excluded = _count_calendar_days(start_day, length, pause_days)
        calendar.require_years(start_day, last_day)
        parts.append(f"自次日起算{policy.describe_length(policy.length)}")
        parts.extend(_extension_phrases(deadline.extensions, policy))
        parts.extend(excluded)
        rolled_from = last_day
        last_day = calendar.roll_forward(last_day)
        if last_day != rolled_from:
            holiday = calendar.day_name(rolled_from) if calendar.is_holiday(rolled_from) else "休息日"
            parts.append(
                f"期间最后一日{format_day(rolled_from)}为{holiday}，依民法典第二百零三条顺延至{format_day(last_day)}"
            )

    if open_pause is not None:
        parts.append(
            f"{open_pause.reason}自{open_pause.started_at.astimezone(BUSINESS_TZ).date().isoformat()}起暂停中，恢复后顺延"
        )
        return DueResult(
            None, None, "；".join(parts), is_paused=True, counted_length=length, excluded=excluded
        )
    due_at = end_of_day.moment(last_day)
    parts.append(f"截止{last_day.isoformat()} {end_of_day.label()}")
    return DueResult(due_at, last_day, "；".join(parts), counted_length=length, excluded=excluded)


def _adjust_work_order_due(
    deadline: DeadlineInput, calendar: WorkCalendar, start_phrase: str, end_of_day: EndOfDay
) -> DueResult:
    """Move a work order's own due time by the extensions granted and the pauses taken since receipt.

    The order's time of day is kept: a 办结时限 of 18:00 extended by 5 working days is 18:00 five working
    days later. Pauses add the working days (or, in clock hours, the time) they took before the due time.
    """
    fixed, policy = deadline.fixed_due, deadline.policy
    assert fixed is not None
    parts = [start_phrase, _fixed_phrase(fixed, end_of_day)]
    parts.extend(_extension_phrases(deadline.extensions, policy))
    open_pause = next((p for p in deadline.pauses if p.ended_at is None), None)
    closed = [p for p in deadline.pauses if p.ended_at is not None]
    extension_total = sum(e.length for e in deadline.extensions)
    fixed_local = fixed.due_at.astimezone(BUSINESS_TZ)
    if policy.unit == CLOCK_HOURS:
        paused_for = sum(((p.ended_at - p.started_at) for p in closed), timedelta())  # type: ignore[operator]
        for pause in closed:
            parts.append(f"{pause.reason}暂停{_fmt_moment(pause.started_at)}至{_fmt_moment(pause.ended_at)}")  # type: ignore[arg-type]
        due_at = (fixed.due_at + timedelta(hours=extension_total) + paused_for).astimezone(UTC)
    else:
        start_day = deadline.starts_at.astimezone(BUSINESS_TZ).date()
        extra = extension_total
        for first, last, reason in _pause_day_ranges(closed, start_day):
            last = min(last, fixed_local.date())
            if last < first:
                continue
            if policy.unit == WORKING_DAYS:
                skipped = calendar.workdays_between(first - timedelta(days=1), last)
                parts.append(f"{reason}暂停{format_span(first, last)}（{skipped}个工作日顺延）")
            else:
                skipped = (last - first).days + 1
                parts.append(f"{reason}暂停{format_span(first, last)}（{skipped}日顺延）")
            extra += skipped
        if policy.unit == WORKING_DAYS:
            new_day = calendar.add_workdays(fixed_local.date(), extra)
        else:
            new_day = calendar.roll_forward(fixed_local.date() + timedelta(days=extra))
        due_at = datetime.combine(new_day, fixed_local.timetz()).astimezone(UTC)
    if open_pause is not None:
        parts.append(f"{open_pause.reason}自{_fmt_moment(open_pause.started_at)}起暂停中，恢复后顺延")
        return DueResult(None, None, "；".join(parts), is_paused=True)
    parts.append(f"截止{_fmt_moment(due_at)}")
    return DueResult(due_at, due_at.astimezone(BUSINESS_TZ).date(), "；".join(parts))


def _pause_day_ranges(pauses: Sequence[Pause], start_day: date) -> list[tuple[date, date, str]]:
    """Return the paused day ranges after ``start_day``, sorted and merged where they overlap."""
    ranges: list[tuple[date, date, str]] = []
    for pause in sorted(pauses, key=lambda p: p.started_at):
        first = max(pause.started_at.astimezone(BUSINESS_TZ).date(), start_day + timedelta(days=1))
        last = pause.ended_at.astimezone(BUSINESS_TZ).date()  # type: ignore[union-attr]
        if last < first:
            continue
        if ranges and first <= ranges[-1][1] + timedelta(days=1):
            previous = ranges[-1]
            ranges[-1] = (previous[0], max(previous[1], last), f"{previous[2]}、{pause.reason}")
        else:
            ranges.append((first, last, pause.reason))
    return ranges


def _count_working_days(
    calendar: WorkCalendar, start_day: date, length: int, pauses: list[tuple[date, date, str]]
) -> tuple[date, list[str]]:
    """Walk pause by pause (not day by day): each pause skips its working days, O(pauses · log n)."""
    cursor, remaining, notes = start_day, length, []
    for first, last, reason in pauses:
        available = calendar.workdays_between(cursor, first - timedelta(days=1))
        if remaining <= available:
            break
        skipped = calendar.workdays_between(first - timedelta(days=1), last)
        notes.append(f"{reason}暂停{format_span(first, last)}（{skipped}个工作日不计入）")
        remaining -= available
        cursor = last
    return calendar.add_workdays(cursor, remaining), notes


def _count_calendar_days(
    start_day: date, length: int, pauses: list[tuple[date, date, str]]
) -> tuple[date, list[str]]:
    cursor, remaining, notes = start_day, length, []
    for first, last, reason in pauses:
        available = (first - cursor).days - 1
        if remaining <= available:
            break
        notes.append(f"{reason}暂停{format_span(first, last)}（{(last - first).days + 1}日不计入）")
        remaining -= available
        cursor = last
    return cursor + timedelta(days=remaining), notes


def _start_phrase(deadline: DeadlineInput, start_local: datetime) -> str:
    event = deadline.start_note or deadline.policy.start_event
    if deadline.policy.unit == CLOCK_HOURS:
        return f"{_fmt_moment(start_local)}{event}"
    return f"{format_day(start_local.date())}{event}"


def _extension_phrases(extensions: Sequence[Extension], policy: Policy) -> list[str]:
    return [
        f"经{e.approver}批准延长{policy.describe_length(e.length)}（理由：{e.reason}"
        + (f"；已告知申请人：{e.applicant_notice}" if e.applicant_notice else "")
        + "）"
        for e in extensions
    ]


def _calendar_phrases(calendar: WorkCalendar, start_day: date, last_day: date) -> list[str]:
    """Name the holidays skipped and the make-up working days counted between start and end."""
    if last_day <= start_day:
        return []
    window_start = start_day + timedelta(days=1)
    phrases = [
        f"跳过{span.name}假期{format_span(span.start, span.end)}"
        for span in calendar.rest_spans(window_start, last_day)
    ]
    makeup = calendar.makeup_workdays(window_start, last_day)
    if makeup:
        days = "、".join(f"{d.day.month}月{d.day.day}日" for d in makeup)
        phrases.append(f"{days}调休上班计入")
    return phrases


def _fixed_phrase(fixed: FixedDue, end_of_day: EndOfDay) -> str:
    if fixed.source == "work_order":
        return f"按工单写明的时限（{fixed.reason}）：截止{_fmt_moment(fixed.due_at)}"
    by = f"{fixed.by}" if fixed.by else "管理员"
    return f"经{by}人工确定截止时间（理由：{fixed.reason}）：截止{_fmt_moment(fixed.due_at)}"


def _fmt_moment(moment: datetime) -> str:
    local_moment = moment.astimezone(BUSINESS_TZ)
    if local_moment.time() == time(0, 0):
        # Midnight is the end of the previous day, which is how people say a deadline.
        previous = local_moment.date() - timedelta(days=1)
        return f"{previous.isoformat()} 24:00"
    return local_moment.strftime("%Y-%m-%d %H:%M")


# -- legal receipt (2019 条例 art. 31) ---------------------------------------------------------------------

# How the application came (Ticket.received_via) → which moment is the legal receipt and why.
RECEIPT_RULES = {
    "当面": ("arrived", "当面提交的，以提交之日为收到申请之日"),
    "挂号信": ("signed", "以邮寄方式（挂号信等需签收的邮件）提交的，以行政机关签收之日为收到申请之日"),
    "邮寄": ("confirmed", "以平常信函等无需签收的邮寄方式提交的，以行政机关与申请人确认之日为收到申请之日"),
    "平信": ("confirmed", "以平常信函等无需签收的邮寄方式提交的，以行政机关与申请人确认之日为收到申请之日"),
    "网络": ("confirmed", "通过互联网渠道提交的，以双方确认之日为收到申请之日"),
    "传真": ("confirmed", "通过传真提交的，以双方确认之日为收到申请之日"),
}


def legal_receipt_at(
    received_via: str | None,
    *,
    arrived_at: datetime,
    signed_at: datetime | None = None,
    confirmed_at: datetime | None = None,
) -> tuple[datetime, str]:
    """Return the legal receipt moment of a disclosure application and the art. 31 rule applied.

    The arrival time stays on the ticket as it was; this is the moment the reply period starts from.
    Until the confirmation or signature is recorded, the arrival stands in (the agency should confirm an
    ordinary letter the day it arrives), and the basis says so.
    """
    step, basis = RECEIPT_RULES.get(received_via or "", ("arrived", "以到达之日为收到申请之日"))
    chosen = {"arrived": arrived_at, "signed": signed_at, "confirmed": confirmed_at}[step]
    if chosen is None:
        return arrived_at, f"{basis}（尚未记录{'签收' if step == 'signed' else '确认'}时间，暂以到达时间计）"
    return chosen, basis


# -- rule checks for actions ---------------------------------------------------------------------------


def check_extension(policy: Policy, existing: Sequence[Extension], length: int) -> None:
    """Refuse an extension the rule does not allow (a second one, or a longer one)."""
    if length <= 0:
        raise ValidationError("延长期限必须大于0", fields={"length": str(length)})
    if policy.max_extensions == 0:
        raise Conflict(f"{policy.label}期限依规不可延长")
    if len(existing) >= policy.max_extensions:
        raise Conflict(f"{policy.label}期限已延长过{len(existing)}次，依规只能延长{policy.max_extensions}次")
    if length > policy.max_extension_length:
        raise Conflict(
            f"延长{policy.describe_length(length)}超过上限：依规最长延长{policy.describe_length(policy.max_extension_length)}"
        )


def state_at(due_at: datetime | None, *, is_paused: bool, now: datetime) -> str:
    """Return running/paused/breached for an open deadline at ``now``."""
    if is_paused:
        return PAUSED
    if due_at is not None and now >= due_at:
        return BREACHED
    return RUNNING


# -- services on Deadline rows -------------------------------------------------------------------------
#
# Each takes a Session and `now`, flushes, never commits, bumps Deadline.version on every change and
# records a TicketEvent through `tracker.tickets.history.record_event`.

# Keys an intake adapter may put in Ticket.extra for the deadlines a 12345 work order carries.
WORK_ORDER_DUE_KEYS = {SIGN: ("sign_due_at", "签收时限"), REPLY: ("reply_due_at", "办结时限")}


def default_end_of_day() -> EndOfDay:
    """Return the configured end of the last day (TRACKER_END_OF_DAY, the setting `Settings.end_of_day`)."""
    return EndOfDay.parse(os.environ.get("TRACKER_END_OF_DAY") or "24:00")


def policies_for(session: Session, stamp: Stamp | None = None) -> tuple[Policy, ...]:
    """Return the built-in policies plus the administrators' active overrides (kept per process until
    the reference stamp changes; tracker.reference)."""
    return reference.cached(
        stamp or reference.current_stamp(session), "policies", lambda: _read_policies(session)
    )


def _read_policies(session: Session) -> tuple[Policy, ...]:
    overrides = session.scalars(select(DeadlinePolicyOverride).where(DeadlinePolicyOverride.is_active)).all()
    return (*DEFAULT_POLICIES, *(_policy_from_override(row) for row in overrides))


def _policy_from_override(row: Any) -> Policy:
    return Policy(
        code=row.code,
        version=f"admin-{row.id}",
        channel=row.channel,
        kind=row.kind,
        unit=row.unit,
        length=row.length,
        effective_from=row.effective_from,
        effective_to=row.effective_to,
        legal_basis=row.legal_basis or f"管理员调整：{row.reason}",
        request_type=row.request_type,
        urgency=row.urgency,
        max_extensions=row.max_extensions,
        max_extension_length=row.max_extension_length,
        is_pausable=row.is_pausable,
        pauses_reply=row.pauses_reply,
        start_event=next((p.start_event for p in DEFAULT_POLICIES if p.code == row.code), "收到"),
        is_override=True,
    )


def add_policy_override(
    session: Session,
    *,
    code: str,
    unit: str,
    length: int,
    effective_from: date,
    reason: str,
    now: datetime,
    effective_to: date | None = None,
    request_type: str | None = None,
    urgency: str | None = None,
    max_extensions: int | None = None,
    max_extension_length: int | None = None,
    pauses_reply: bool | None = None,
    created_by_id: int | None = None,
) -> Any:
    """Record an administrator's local rule replacing the default ``code`` from ``effective_from``."""
    if not reason.strip():
        raise ValidationError("调整期限规则必须说明理由", fields={"reason": "必填"})
    base = next((p for p in DEFAULT_POLICIES if p.code == code), None)
    if base is None:
        raise NotFound(f"没有这条期限规则：{code}")
    Policy(
        code=code,
        version="check",
        channel=base.channel,
        kind=base.kind,
        unit=unit,
        length=length,
        effective_from=effective_from,
    )  # validates unit and length
    row = DeadlinePolicyOverride(
        code=code,
        channel=base.channel,
        kind=base.kind,
        request_type=request_type,
        urgency=urgency,
        unit=unit,
        length=length,
        max_extensions=base.max_extensions if max_extensions is None else max_extensions,
        max_extension_length=base.max_extension_length
        if max_extension_length is None
        else max_extension_length,
        is_pausable=base.is_pausable,
        pauses_reply=base.pauses_reply if pauses_reply is None else pauses_reply,
        effective_from=effective_from,
        effective_to=effective_to,
        legal_basis="",
        reason=reason,
        created_by_id=created_by_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _received_on(ticket: Ticket) -> date:
    return ticket.received_at.astimezone(BUSINESS_TZ).date()


def _policy_for_ticket(policies: Sequence[Policy], ticket: Ticket, kind: str) -> Policy | None:
    return select_policy(
        policies,
        channel=ticket.channel,
        kind=kind,
        received_on=_received_on(ticket),
        request_type=ticket.request_type,
        urgency=ticket.urgency,
    )


def deadline_input(deadline: Deadline, policy: Policy) -> DeadlineInput:
    override = deadline.override or {}
    return DeadlineInput(
        policy=policy,
        starts_at=deadline.starts_on,
        pauses=tuple(Pause.from_json(p) for p in deadline.pauses or ()),
        extensions=tuple(Extension.from_json(e) for e in deadline.extensions or ()),
        fixed_due=FixedDue.from_json(override) if override.get("due_at") else None,
        start_note=override.get("start_note", ""),
    )


def get_deadline(ticket: Ticket, kind: str) -> Deadline:
    for deadline in ticket.deadlines:
        if deadline.kind == kind:
            return deadline
    raise NotFound(f"工单{ticket.number}没有“{KIND_LABELS.get(kind, kind)}”期限")


def _open_deadline(ticket: Ticket, kind: str) -> Deadline:
    deadline = get_deadline(ticket, kind)
    if deadline.state not in OPEN_STATES:
        raise Conflict(f"“{deadline.label}”期限已结束（{deadline.state}），不能再修改")
    return deadline


def _refresh(
    session: Session,
    deadline: Deadline,
    *,
    now: datetime,
    actor: Any,
    event_kind: str,
    data: dict[str, Any] | None = None,
    policies: Sequence[Policy] | None = None,
    calendar: WorkCalendar | None = None,
    end_of_day: EndOfDay | None = None,
    only_if_changed: bool = False,
) -> bool:
    """Recompute one deadline; unless nothing changed and ``only_if_changed``, bump version and record it."""
    policy = find_policy(
        policies if policies is not None else policies_for(session),
        deadline.policy_code,
        deadline.policy_version,
    )
    calendar = calendar if calendar is not None else load_calendar(session)
    inputs = deadline_input(deadline, policy)
    try:
        result = compute_due(inputs, calendar, end_of_day=end_of_day or default_end_of_day())
        due_at, explanation, is_paused = result.due_at, result.explanation, result.is_paused
    except CalendarYearMissing as missing:
        # Never guess: the deadline stays open without a due time and is recomputed when the year is loaded.
        start = _start_phrase(inputs, deadline.starts_on.astimezone(BUSINESS_TZ))
        due_at, is_paused = None, any(p.ended_at is None for p in inputs.pauses)
        explanation = f"{start}；{missing.message}，暂无法计算截止时间，导入后自动重新计算"
    state = (
        deadline.state
        if deadline.state in (MET, CANCELLED)
        else state_at(due_at, is_paused=is_paused, now=now)
    )
    before = (deadline.due_at, deadline.explanation, deadline.state)
    if only_if_changed and before == (due_at, explanation, state):
        return False
    deadline.due_at = due_at
    if deadline.kind == REPLY:
        deadline.ticket.reply_due_at = due_at  # the report's copy (tracker.reports.facts)
    deadline.explanation = explanation
    if state == BREACHED and deadline.breached_at is None:
        deadline.breached_at = now
    elif state != BREACHED:
        # A later due time (extension, newly loaded year) lifts the breach; the events keep the history.
        deadline.breached_at = None
    deadline.state = state
    deadline.next_check_at = due_at if state in (RUNNING, BREACHED) else None
    deadline.version = (deadline.version or 0) + 1
    session.flush()
    record_event(
        session,
        deadline.ticket,
        event_kind,
        actor=actor,
        now=now,
        data={
            "deadline": deadline.kind,
            "label": deadline.label,
            "due_at_before": _iso(before[0]),
            "due_at": _iso(due_at),
            "state": state,
            "version": deadline.version,
            "policy": f"{deadline.policy_code}@{deadline.policy_version}",
            "explanation": explanation,
            **(data or {}),
        },
    )
    return True


def _create(
    session: Session,
    ticket: Ticket,
    policy: Policy,
    *,
    starts_at: datetime,
    now: datetime,
    actor: Any,
    override: dict[str, Any] | None = None,
    calendar: WorkCalendar | None = None,
    policies: Sequence[Policy] | None = None,
) -> Deadline:
    deadline = Deadline(
        ticket=ticket,
        kind=policy.kind,
        label=policy.label,
        policy_code=policy.code,
        policy_version=policy.version,
        starts_on=starts_at,
        state=RUNNING,
        pauses=[],
        extensions=[],
        override=override,
        version=0,
        explanation="",
    )
    session.add(deadline)
    session.flush()
    _refresh(
        session,
        deadline,
        now=now,
        actor=actor,
        event_kind="deadline.opened",
        calendar=calendar,
        policies=policies,
    )
    return deadline


def open_deadlines(
    session: Session,
    ticket: Ticket,
    *,
    now: datetime,
    actor: Any = None,
    calendar: WorkCalendar | None = None,
) -> list[Deadline]:
    """Create the ticket's initial deadlines for its channel (idempotent: existing kinds are kept).

    A 12345 work order's own 签收时限/办结时限 (Ticket.extra) win over the default policies.
    """
    policies = policies_for(session)
    existing = {d.kind for d in ticket.deadlines}
    created = []
    for kind in INITIAL_KINDS.get(ticket.channel, (REPLY,)):
        if kind in existing:
            continue
        policy = _policy_for_ticket(policies, ticket, kind)
        if policy is None:
            continue
        override = _work_order_due(ticket, kind)
        created.append(
            _create(
                session,
                ticket,
                policy,
                starts_at=ticket.received_at,
                now=now,
                actor=actor,
                override=override,
                calendar=calendar,
                policies=policies,
            )
        )
    return created


def _work_order_due(ticket: Ticket, kind: str) -> dict[str, Any] | None:
    return work_order_due(ticket.extra, kind)


def work_order_due(extra: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    """The override a work order's own 签收时限/办结时限 (kept in Ticket.extra) sets on a deadline, if any."""
    for key in WORK_ORDER_DUE_KEYS.get(kind, ()):
        raw = (extra or {}).get(key)
        if raw:
            moment = datetime.fromisoformat(str(raw).replace("/", "-"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=BUSINESS_TZ)  # platforms write local time
            return FixedDue(moment.astimezone(UTC), f"工单{key}", source="work_order").as_json()
    return None


def recompute_deadline(
    session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any, reason: str
) -> Deadline:
    """Recompute one deadline after something it depends on changed (always recorded)."""
    deadline = get_deadline(ticket, kind)
    _refresh(
        session, deadline, now=now, actor=actor, event_kind="deadline.recomputed", data={"reason": reason}
    )
    return deadline


def recompute_open_deadlines(session: Session, *, now: datetime, actor: Any, reason: str) -> int:
    """Recompute every open deadline; record an event on each one whose due time or explanation moved.

    Called after a calendar load: a newly loaded year gives a due time to deadlines that crossed into it
    and moves those whose days changed. Returns how many deadlines changed.
    """
    calendar = load_calendar(session)
    policies = policies_for(session)
    changed = 0
    for deadline in session.scalars(
        select(Deadline).where(Deadline.state.in_(OPEN_STATES)).order_by(Deadline.id)
    ):
        if _refresh(
            session,
            deadline,
            now=now,
            actor=actor,
            event_kind="deadline.recomputed",
            data={"reason": reason},
            calendar=calendar,
            policies=policies,
            only_if_changed=True,
        ):
            changed += 1
    return changed


def pause_deadline(
    session: Session, ticket: Ticket, kind: str = REPLY, *, reason: str, now: datetime, actor: Any
) -> Deadline:
    """Stop the clock from today on (the pause's days are not counted) until `resume_deadline`."""
    deadline = _open_deadline(ticket, kind)
    policy = find_policy(policies_for(session), deadline.policy_code, deadline.policy_version)
    if not policy.is_pausable:
        raise Conflict(f"“{deadline.label}”期限依规不能暂停")
    if any(p.get("ended_at") is None for p in deadline.pauses or ()):
        raise Conflict(f"“{deadline.label}”期限已在暂停中")
    deadline.pauses = [*(deadline.pauses or []), Pause(now, None, reason).as_json()]
    _refresh(session, deadline, now=now, actor=actor, event_kind="deadline.paused", data={"reason": reason})
    return deadline


def resume_deadline(
    session: Session, ticket: Ticket, kind: str = REPLY, *, now: datetime, actor: Any
) -> Deadline:
    deadline = _open_deadline(ticket, kind)
    pauses = [dict(p) for p in deadline.pauses or ()]
    open_pauses = [p for p in pauses if p.get("ended_at") is None]
    if not open_pauses:
        raise Conflict(f"“{deadline.label}”期限没有在暂停")
    open_pauses[-1]["ended_at"] = _iso(now)
    deadline.pauses = pauses
    _refresh(
        session,
        deadline,
        now=now,
        actor=actor,
        event_kind="deadline.resumed",
        data={"reason": open_pauses[-1].get("reason", "")},
    )
    return deadline


def start_consultation(session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any) -> Deadline:
    """Open a consultation deadline (第三方 / 其他机关 / 缴费) and pause the reply clock if the rule says so."""
    if kind not in PAUSE_REASONS:
        raise ValidationError(f"未知的征求意见类型 {kind!r}", fields={"kind": kind})
    if any(d.kind == kind for d in ticket.deadlines):
        raise Conflict(f"“{KIND_LABELS[kind]}”已经开始过")
    policies = policies_for(session)
    policy = _policy_for_ticket(policies, ticket, kind)
    if policy is None:
        raise Conflict(f"该工单适用的规则中没有“{KIND_LABELS[kind]}”期限")
    deadline = _create(session, ticket, policy, starts_at=now, now=now, actor=actor, policies=policies)
    if policy.pauses_reply:
        pause_deadline(session, ticket, REPLY, reason=PAUSE_REASONS[kind], now=now, actor=actor)
    return deadline


def finish_consultation(
    session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any
) -> Deadline:
    """Close a consultation (answer received, or its time ran out) and restart the reply clock."""
    deadline = mark_deadline_met(session, ticket, kind, now=now, actor=actor)
    reply = get_deadline(ticket, REPLY)
    if any(p.get("ended_at") is None and p.get("reason") == PAUSE_REASONS[kind] for p in reply.pauses or ()):
        resume_deadline(session, ticket, REPLY, now=now, actor=actor)
    return deadline


def extend_deadline(
    session: Session,
    ticket: Ticket,
    kind: str = REPLY,
    *,
    length: int,
    approver: str,
    reason: str,
    now: datetime,
    actor: Any,
    applicant_notice: str = "",
) -> Deadline:
    """Grant the one extension the rule allows, recording the approver, the reason and the notice."""
    if not approver.strip() or not reason.strip():
        raise ValidationError("延期必须记录批准人和理由", fields={"approver": "必填", "reason": "必填"})
    deadline = _open_deadline(ticket, kind)
    policy = find_policy(policies_for(session), deadline.policy_code, deadline.policy_version)
    existing = [Extension.from_json(e) for e in deadline.extensions or ()]
    check_extension(policy, existing, length)
    extension = Extension(length, approver, reason, now, applicant_notice)
    deadline.extensions = [*(deadline.extensions or []), extension.as_json()]
    _refresh(
        session, deadline, now=now, actor=actor, event_kind="deadline.extended", data=extension.as_json()
    )
    return deadline


def override_deadline(
    session: Session,
    ticket: Ticket,
    kind: str,
    *,
    due_at: datetime,
    reason: str,
    now: datetime,
    actor: Any,
    by: str = "",
) -> Deadline:
    """Set a due time by hand (art. 35 "reasonable later date", or a correction), with a recorded reason."""
    if not reason.strip():
        raise ValidationError("人工调整期限必须说明理由", fields={"reason": "必填"})
    if due_at.tzinfo is None:
        raise ValidationError("截止时间缺少时区", fields={"due_at": "缺少时区"})
    deadline = _open_deadline(ticket, kind)
    override = dict(deadline.override or {})
    override.update(FixedDue(due_at.astimezone(UTC), reason, "manual", by).as_json())
    deadline.override = override
    _refresh(
        session, deadline, now=now, actor=actor, event_kind="deadline.overridden", data={"reason": reason}
    )
    return deadline


def request_correction(
    session: Session, ticket: Ticket, *, now: datetime, actor: Any, correction_due_at: datetime | None = None
) -> Deadline:
    """Issue the one 补正 notice: meet 补正告知, give the applicant a deadline, stop the reply clock.

    The reply period restarts from the corrected application (`restart_after_correction`).
    """
    if any(d.kind == CORRECTION for d in ticket.deadlines):
        raise Conflict("补正告知只能发出一次")
    if any(d.kind == CORRECTION_NOTICE for d in ticket.deadlines):
        mark_deadline_met(session, ticket, CORRECTION_NOTICE, now=now, actor=actor)
    policies = policies_for(session)
    policy = _policy_for_ticket(policies, ticket, CORRECTION)
    if policy is None:
        raise Conflict("该工单适用的规则中没有补正程序")
    override = None
    if correction_due_at is not None:
        override = FixedDue(correction_due_at.astimezone(UTC), "补正通知写明的补正期限", "manual").as_json()
    deadline = _create(
        session, ticket, policy, starts_at=now, now=now, actor=actor, override=override, policies=policies
    )
    pause_deadline(session, ticket, REPLY, reason="等待申请人补正", now=now, actor=actor)
    return deadline


def restart_after_correction(
    session: Session, ticket: Ticket, *, corrected_received_at: datetime, now: datetime, actor: Any
) -> Deadline:
    """Restart the reply period from the day the corrected application was received (art. 30)."""
    if any(d.kind == CORRECTION and d.state in OPEN_STATES for d in ticket.deadlines):
        mark_deadline_met(session, ticket, CORRECTION, now=corrected_received_at, actor=actor)
    reply = _open_deadline(ticket, REPLY)
    reply.starts_on = corrected_received_at
    reply.pauses = []
    reply.override = {
        **{k: v for k, v in (reply.override or {}).items() if k != "start_note"},
        "start_note": "收到补正后的申请（答复期限重新起算）",
    }
    _refresh(
        session,
        reply,
        now=now,
        actor=actor,
        event_kind="deadline.restarted",
        data={"corrected_received_at": _iso(corrected_received_at)},
    )
    return reply


def is_correction_overdue(ticket: Ticket, now: datetime) -> bool:
    """Whether the applicant's correction deadline passed uncorrected (the ticket may close as 逾期不补正)."""
    for deadline in ticket.deadlines:
        if deadline.kind == CORRECTION and deadline.state in OPEN_STATES:
            return deadline.due_at is not None and now >= deadline.due_at
    return False


def mark_deadline_met(session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any) -> Deadline:
    deadline = _open_deadline(ticket, kind)
    was_late = deadline.due_at is not None and now > deadline.due_at
    deadline.state = MET
    deadline.met_at = now
    deadline.next_check_at = None
    deadline.version = (deadline.version or 0) + 1
    session.flush()
    record_event(
        session,
        ticket,
        "deadline.met",
        actor=actor,
        now=now,
        data={"deadline": kind, "label": deadline.label, "version": deadline.version, "is_late": was_late},
    )
    return deadline


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValidationError(f"时间缺少时区：{text}")
    return moment


__all__ = [
    "CALENDAR_DAYS",
    "CLOCK_HOURS",
    "DEFAULT_POLICIES",
    "KIND_LABELS",
    "REGULATION_2019_EFFECTIVE",
    "WORKING_DAYS",
    "CalendarYearMissing",
    "DeadlineInput",
    "DueResult",
    "EndOfDay",
    "Extension",
    "FixedDue",
    "Pause",
    "Policy",
    "add_policy_override",
    "check_extension",
    "compute_due",
    "extend_deadline",
    "find_policy",
    "finish_consultation",
    "legal_receipt_at",
    "mark_deadline_met",
    "open_deadlines",
    "override_deadline",
    "pause_deadline",
    "policies_for",
    "recompute_deadline",
    "recompute_open_deadlines",
    "request_correction",
    "restart_after_correction",
    "resume_deadline",
    "select_policy",
    "start_consultation",
    "state_at",
]


def cancel_open_deadlines(
    session: Session,
    ticket: Ticket,
    *,
    now: datetime,
    actor: Any,
    reason: str,
    kinds: Iterable[str] | None = None,
) -> list[Deadline]:
    """End the ticket's open deadlines that no longer apply (closed, merged, withdrawn, returned …)."""
    wanted = set(kinds) if kinds is not None else None
    cancelled = []
    for deadline in ticket.deadlines:
        if deadline.state not in OPEN_STATES or (wanted is not None and deadline.kind not in wanted):
            continue
        deadline.state = CANCELLED
        deadline.next_check_at = None
        deadline.version = (deadline.version or 0) + 1
        session.flush()
        record_event(
            session,
            ticket,
            "deadline.cancelled",
            actor=actor,
            now=now,
            data={
                "deadline": deadline.kind,
                "label": deadline.label,
                "reason": reason,
                "version": deadline.version,
            },
        )
        cancelled.append(deadline)
    return cancelled


def meet_if_open(
    session: Session, ticket: Ticket, kind: str, *, now: datetime, actor: Any
) -> Deadline | None:
    """Mark a deadline met if the ticket has it open; a no-op otherwise (e.g. 签收 already met)."""
    for deadline in ticket.deadlines:
        if deadline.kind == kind and deadline.state in OPEN_STATES:
            return mark_deadline_met(session, ticket, kind, now=now, actor=actor)
    return None
