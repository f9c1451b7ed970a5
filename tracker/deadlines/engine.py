"""The statutory deadline engine: due times, pauses, extensions and their plain-Chinese explanation.

Pure functions (`compute_due`, `explain`, `legal_receipt_at`, `check_extension`, `state_at`) that take the
policy (tracker.deadlines.policies), the calendar and the time (``now``) as arguments and touch no database
— the legal arithmetic, unit-tested by tables. tracker.deadlines.service applies them to `Deadline` rows.

Counting rules (rules.md §1): the start day is not counted (民法典 art. 201); working days follow the
State Council's schedule including 调休 (`tracker.calendar.days`); a calendar-day period that ends on a rest day
rolls to the next working day (art. 203); the last day ends at a configurable time of day, default 24:00
Asia/Shanghai. A pause excludes every day from the day it starts to the day it ends, both included —
a consultation letter sent on 3 March and answered on 10 March takes 3–10 March out of the count.

Over 600 lines on purpose: the due time, pauses, extensions and the explanation that names each rule share
one set of counting helpers, and a lawyer reads them together.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from tracker.calendar.days import WorkCalendar, format_day, format_span
from tracker.clock import BUSINESS_TZ
from tracker.deadlines.policies import (
    BREACHED,
    CLOCK_HOURS,
    PAUSED,
    REPLY,
    RUNNING,
    SIGN,
    WORKING_DAYS,
    Policy,
)
from tracker.errors import Conflict, ValidationError

# -- inputs and results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """The clock stood still from ``started_at``; ``ended_at`` None means it still does."""

    started_at: datetime
    ended_at: datetime | None
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {
            "started_at": iso_utc(self.started_at),
            "ended_at": iso_utc(self.ended_at),
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Pause:
        return cls(parse_aware(data["started_at"]), parse_aware(data.get("ended_at")), data.get("reason", ""))


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
            "granted_at": iso_utc(self.granted_at),
            "applicant_notice": self.applicant_notice,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Extension:
        return cls(
            int(data["length"]),
            data.get("approver", ""),
            data.get("reason", ""),
            parse_aware(data["granted_at"]),
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
        return {"due_at": iso_utc(self.due_at), "reason": self.reason, "source": self.source, "by": self.by}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FixedDue:
        return cls(
            parse_aware(data["due_at"]),
            data.get("reason", ""),
            data.get("source", "manual"),
            data.get("by", ""),
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
    parts = [start_phrase(deadline, start_local)]

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


def start_phrase(deadline: DeadlineInput, start_local: datetime) -> str:
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

# How the application came (Ticket.received_via) → which moment is the legal receipt, and the rule of art. 31
# that says so. The intake surfaces (portal, staff entry, import, API) offer these ways; anything else
# (a conversion from another channel, 其他) counts from the confirmation if one is recorded, else arrival.
SIGNED, CONFIRMED, ARRIVED = "signed", "confirmed", "arrived"
_BY_POST = "申请人以邮寄方式提交的，以行政机关签收之日为收到申请之日"
_ORDINARY_LETTER = "以平常信函等无需签收的邮寄方式提交的，政府信息公开工作机构应当于收到申请的当日与申请人确认，确认之日为收到申请之日"
_ONLINE = "通过互联网渠道或者政府信息公开工作机构的传真提交的，以双方确认之日为收到申请之日"
RECEIPT_RULES: dict[str, tuple[str, str]] = {
    "当面": (ARRIVED, "申请人当面提交的，以提交之日为收到申请之日"),
    # Any post that is signed for: registered letters, EMS, couriers — "邮寄" without more is this rule.
    "邮寄": (SIGNED, _BY_POST),
    "挂号信": (SIGNED, _BY_POST),
    "快递": (SIGNED, _BY_POST),
    "平信": (CONFIRMED, _ORDINARY_LETTER),
    "平常信函": (CONFIRMED, _ORDINARY_LETTER),
    "网络": (CONFIRMED, _ONLINE),
    "电子邮件": (CONFIRMED, _ONLINE),
    "传真": (CONFIRMED, _ONLINE),
}
RECEIPT_ARTICLE = "《政府信息公开条例》第三十一条"
_STEP_WORDS = {SIGNED: "签收", CONFIRMED: "确认"}


@dataclass(frozen=True)
class Receipt:
    """The legal receipt of an application: the moment, the rule applied and what it was derived from."""

    received_at: datetime
    rule: str  # ARRIVED | SIGNED | CONFIRMED
    basis: str  # the words of art. 31 that apply
    arrived_at: datetime
    signed_at: datetime | None = None
    confirmed_at: datetime | None = None

    @property
    def is_pending(self) -> bool:
        """The signature or confirmation the rule needs is not recorded: the arrival stands in."""
        return self.rule != ARRIVED and self._step_at is None

    @property
    def _step_at(self) -> datetime | None:
        return {SIGNED: self.signed_at, CONFIRMED: self.confirmed_at}.get(self.rule)

    def as_json(self) -> dict[str, Any]:
        """What the ticket keeps (Ticket.extra["receipt"]): the deadline's explanation is written from it."""
        return {
            "rule": self.rule,
            "arrived_at": iso_utc(self.arrived_at),
            "signed_at": iso_utc(self.signed_at),
            "confirmed_at": iso_utc(self.confirmed_at),
        }


def legal_receipt(
    received_via: str | None,
    *,
    arrived_at: datetime,
    signed_at: datetime | None = None,
    confirmed_at: datetime | None = None,
) -> Receipt:
    """The legal receipt of a disclosure application under 2019 条例 art. 31 — the one derivation.

    当面 → the day handed in (its arrival); 邮寄 and any post signed for → the day the agency signed;
    平常信函 → the day the office confirmed with the applicant; 网络, 电子邮件, 传真 → the day both sides
    confirmed (the portal confirms on submission; staff record the confirmation of an e-mail or a fax).
    Until the signature or confirmation is recorded the arrival stands in — never later than the law's
    date, so a deadline is never given more time than the law allows — and the explanation says so.
    `TicketDraft` applies it to every application, whichever door it came through.
    """
    via = (received_via or "").strip()
    if via in RECEIPT_RULES:
        rule, basis = RECEIPT_RULES[via]
    elif confirmed_at is not None:
        rule, basis = CONFIRMED, "经其他渠道转来或以其他方式提交的，以确认之日为收到申请之日"
    else:
        rule, basis = ARRIVED, "以申请到达之日为收到申请之日"
    step = {SIGNED: signed_at, CONFIRMED: confirmed_at}.get(rule)
    received = step if step is not None else arrived_at
    return Receipt(received, rule, basis, arrived_at, signed_at, confirmed_at)


def legal_receipt_at(
    received_via: str | None,
    *,
    arrived_at: datetime,
    signed_at: datetime | None = None,
    confirmed_at: datetime | None = None,
) -> tuple[datetime, str]:
    """(moment, basis) of `legal_receipt`; the basis notes a signature or confirmation not yet recorded."""
    receipt = legal_receipt(
        received_via, arrived_at=arrived_at, signed_at=signed_at, confirmed_at=confirmed_at
    )
    if receipt.is_pending:
        word = _STEP_WORDS[receipt.rule]
        return receipt.received_at, f"{receipt.basis}（尚未记录{word}时间，暂以到达时间计）"
    return receipt.received_at, receipt.basis


def receipt_note(received_via: str | None, extra: dict[str, Any] | None) -> str:
    """The start of a reply period in plain Chinese: which rule of art. 31 gave the receipt date, from what.

    E.g. "收到申请（以邮寄方式提交，3月2日到达、3月3日签收：申请人以邮寄方式提交的，以行政机关签收之日为收到
    申请之日，《政府信息公开条例》第三十一条）".
    """
    data = (extra or {}).get("receipt") or {}
    arrived = parse_aware(data.get("arrived_at"))
    if arrived is None:
        return ""  # a ticket from before the rule was recorded: the policy's own words
    receipt = legal_receipt(
        received_via,
        arrived_at=arrived,
        signed_at=parse_aware(data.get("signed_at")),
        confirmed_at=parse_aware(data.get("confirmed_at")),
    )
    day = _month_day(receipt.arrived_at)
    if received_via == "当面":
        via, facts = "", f"{day}当面提交"
    else:
        via = f"{received_via}，" if (received_via or "").startswith("由") else f"以{received_via}方式提交，"
        via = "" if received_via in (None, "", "其他") else via
        if receipt.rule == ARRIVED:
            facts = f"{day}到达"
        elif receipt.is_pending:
            facts = f"{day}到达，尚未记录{_STEP_WORDS[receipt.rule]}时间，暂以到达之日计"
        else:
            facts = f"{day}到达、{_month_day(receipt.received_at)}{_STEP_WORDS[receipt.rule]}"
    return f"收到申请（{via}{facts}：{receipt.basis}，{RECEIPT_ARTICLE}）"


def _month_day(moment: datetime) -> str:
    local_day = moment.astimezone(BUSINESS_TZ).date()
    return f"{local_day.month}月{local_day.day}日"


# A 12345 order's 派单时间 as the intake keeps it (Ticket.extra, local ISO time with its offset).
DISPATCHED_KEYS = ("dispatched_at", "派单时间")


def _extra_moment(extra: dict[str, Any] | None, keys: Sequence[str]) -> datetime | None:
    for key in keys:
        raw = (extra or {}).get(key)
        if raw:
            moment = datetime.fromisoformat(str(raw).replace("/", "-"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=BUSINESS_TZ)  # platforms write local time
            return moment.astimezone(UTC)
    return None


def period_start(
    channel: str,
    kind: str,
    *,
    received_at: datetime,
    received_via: str | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[datetime, str]:
    """Where a new ticket's `kind` period starts, and the start event as its explanation names it.

    The one definition, read by `tracker.deadlines.planner.DeadlinePlanner.plan_ticket` (every new ticket):

    * a 12345 order counts from its 派单 when the platform gives the time — the department cannot act on
      an order before it is dispatched to it — and from its 受理 otherwise; the explanation names the event
      the count really starts from;
    * a disclosure application counts from its legal receipt (`received_at`, 2019 条例 art. 31, derived by
      `legal_receipt_at` at intake), and the explanation says which rule of art. 31 gave that date.

    Returns (start, note); an empty note leaves the policy's own `start_event`.
    """
    if channel == "hotline":
        dispatched = _extra_moment(extra, DISPATCHED_KEYS)
        if dispatched is not None and dispatched >= received_at:
            return dispatched, "派单"
        return received_at, "受理工单（工单未写明派单时间）"
    if channel == "disclosure" and kind == REPLY:
        return received_at, receipt_note(received_via, extra)
    return received_at, ""


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


def iso_utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def parse_aware(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValidationError(f"时间缺少时区：{text}")
    return moment


# Keys an intake adapter may put in Ticket.extra for the deadlines a 12345 work order carries.
WORK_ORDER_DUE_KEYS = {SIGN: ("sign_due_at", "签收时限"), REPLY: ("reply_due_at", "办结时限")}


def default_end_of_day() -> EndOfDay:
    """Return the configured end of the last day (TRACKER_END_OF_DAY, the setting `Settings.end_of_day`)."""
    return EndOfDay.parse(os.environ.get("TRACKER_END_OF_DAY") or "24:00")


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
