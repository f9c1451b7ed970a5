"""The deadline policies as versioned data: units, kinds, states, each channel's rules with their legal
bases (`DEFAULT_POLICIES`), the administrators' overrides read with them (`policies_for`), and how the
policy in force on a receipt day is chosen (`select_policy`).

Over 300 lines on purpose: `DEFAULT_POLICIES` is one table, read as the statute is (rules.md §1–§4), with a
legal basis beside each row; splitting it would scatter one channel's rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import reference
from tracker.deadlines.models import DeadlinePolicyOverride
from tracker.errors import NotFound, ValidationError
from tracker.reference import Stamp

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
REDO = (
    "redo"  # a 12345 order handled again after an unsatisfied or unresolved 回访 (tracker/workorders/redo.py)
)
# Periods of the 12345 work-order cycle (issue 19) that are not a ticket's own deadline rows: a co-handling
# unit's reply to the lead unit (its child order's reply deadline is set from it), a 督办's answer.
COHANDLING = "cohandling"
SUPERVISION = "supervision"
KIND_LABELS = {
    SIGN: "签收",
    CORRECTION_NOTICE: "补正告知",
    CORRECTION: "申请人补正",
    REPLY: "答复",
    THIRD_PARTY: "第三方意见",
    OTHER_AGENCY: "其他机关意见",
    FEE_PAYMENT: "缴费",
    REDO: "重办",
    COHANDLING: "协办答复",
    SUPERVISION: "督办答复",
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
            start_event="派单",  # counted from the order's 派单 time, or its 受理 (`engine.period_start`)
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
        start_event="派单",  # counted from the order's 派单 time, or its 受理 (`engine.period_start`)
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
        start_event="派单",  # counted from the order's 派单 time, or its 受理 (`engine.period_start`)
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
        start_event="派单",  # counted from the order's 派单 time, or its 受理 (`engine.period_start`)
        legal_basis="12345热线紧急工单签收（默认值）",
    ),
    Policy(
        # 重办: opened by tracker.workorders.redo, counted from the redo (not from 派单), chosen by the rule in
        # force on the redo day. 5 working days is a default to be checked against the city's own 考核办法
        # (docs/workorders.md, "回访与重办"); administrators change it as a policy override.
        code="hotline.redo",
        version="gd-2020",
        channel="hotline",
        kind=REDO,
        unit=WORKING_DAYS,
        length=5,
        effective_from=PRACTICE_FROM,
        max_extensions=1,
        max_extension_length=5,
        start_event="重办",
        legal_basis="12345热线重办时限（默认值，可由管理员调整）",
    ),
    # 12345 协办: the co-handling unit answers the lead unit within 5 working days of 加派 (common municipal
    # practice, e.g. 接诉即办 rules giving 协办单位 a shorter period than the lead's; a platform's own
    # 协办时限 wins). Administrators change it with a policy override (code hotline.cohandling).
    Policy(
        code="hotline.cohandling",
        version="practice",
        channel="hotline",
        kind=COHANDLING,
        unit=WORKING_DAYS,
        length=5,
        effective_from=PRACTICE_FROM,
        start_event="加派",
        legal_basis="12345热线协办单位答复时限（常见地方做法：加派后5个工作日内向主办单位反馈，可由管理员调整）",
    ),
    # 12345 督办/催办: the unit answers a 督办 within 2 working days (an urgent order's within 24 hours) unless
    # the 督办 names its own 督办时限. Local practice; administrators change it (codes hotline.supervision*).
    Policy(
        code="hotline.supervision",
        version="practice",
        channel="hotline",
        kind=SUPERVISION,
        unit=WORKING_DAYS,
        length=2,
        effective_from=PRACTICE_FROM,
        start_event="督办",
        legal_basis="12345热线督办件答复时限（常见地方做法：督办后2个工作日内反馈，可由管理员调整）",
    ),
    Policy(
        code="hotline.supervision.urgent",
        version="practice",
        channel="hotline",
        kind=SUPERVISION,
        unit=CLOCK_HOURS,
        length=24,
        urgency="紧急",
        effective_from=PRACTICE_FROM,
        start_event="督办",
        legal_basis="12345热线紧急工单督办答复时限（常见地方做法，可由管理员调整）",
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


# -- the policies in force here: the defaults and the administrators' overrides --------------------------


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
