"""The 12345 handling-unit assessment's definitions and weights, configurable per city (issue 19, item 8).

Cities rank their units every month on the same handful of rates but differ in detail: which period an
order counts in, whether 基本满意 counts fully, whether a 重复件 counts once, how heavy each rate weighs.
This module holds those choices as data — the defaults below, documented with their sources in
docs/assessment.md — and reads a city's overrides from ``<instance>/assessment.json``. The SQL that
applies them is tracker.reports.assessment; nothing else decides what a rate means.

A period is a month (``2026-11``), a quarter (``2026-Q4``) or a year (``2026``), in Asia/Shanghai.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from tracker.clock import BUSINESS_TZ
from tracker.errors import ValidationError

CONFIG_FILE = "assessment.json"

# The rates, in the order the JSON, the page and the XLSX list them: key → (label, higher is better).
RATES: dict[str, tuple[str, bool]] = {
    "sign_on_time": ("签收及时率", True),
    "close_on_time": ("办结及时率", True),
    "response": ("响应率", True),
    "resolution": ("解决率", True),
    "satisfaction": ("满意率", True),
    "sent_back": ("回退率", False),
    "redone": ("重办率", False),
}
SUPERVISED_LABEL = "督办件数"

# What each part of a rate counts, for the drill-down page's headings.
PART_LABELS: dict[str, tuple[str, str]] = {
    "sign_on_time": ("按时签收的工单", "本期派单且有签收时限的工单"),
    "close_on_time": ("按期办结（答复）的工单", "办结时限在本期到期的工单"),
    "response": ("回访确认已联系的工单", "本期回访的工单"),
    "resolution": ("回访表示已解决的工单", "本期回访的工单"),
    "satisfaction": ("回访满意或基本满意的工单", "本期回访的工单"),
    "sent_back": ("退单申请被平台同意的工单", "本期派单的工单"),
    "redone": ("曾被重办的工单", "本期办结的工单"),
    "supervised": ("本期收到督办 / 催办的工单", "本期收到督办 / 催办的工单"),
}

# Default weights of the score (points out of 100). The reference names the rates cities score (Yulin:
# volume, satisfaction, on-time 签收, 回退率, 重办率, on-time 办结) but publishes no weights; these are
# ours, chosen so the three rates the citizen answers (三率) weigh half — a city replaces them.
DEFAULT_WEIGHTS: dict[str, float] = {
    "sign_on_time": 10,
    "close_on_time": 25,
    "response": 10,
    "resolution": 20,
    "satisfaction": 20,
    "sent_back": 10,
    "redone": 5,
}

CLOSE_BASES = ("due", "closed")  # 办结及时率: orders due in the period, or closed (办结) in it
REVISIT_BASES = ("latest", "every")  # one call-back per order (its last in the period), or every call


@dataclass(frozen=True)
class AssessmentRules:
    """The city's definitions. `source` says where they came from (defaults or the file's path)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    basically_satisfied_weight: float = 1.0
    close_basis: str = "due"
    revisit_basis: str = "latest"
    count_repeats_once: bool = True
    minimum_sample: int = 30
    supervision_penalty: float = 0.0  # points off the score per 督办 / 催办 received
    channels: tuple[str, ...] = ("hotline",)
    source: str = "默认口径（docs/assessment.md）"

    def as_dict(self) -> dict[str, Any]:
        return {
            "weights": dict(self.weights),
            "basically_satisfied_weight": self.basically_satisfied_weight,
            "close_basis": self.close_basis,
            "revisit_basis": self.revisit_basis,
            "count_repeats_once": self.count_repeats_once,
            "minimum_sample": self.minimum_sample,
            "supervision_penalty": self.supervision_penalty,
            "channels": list(self.channels),
            "source": self.source,
        }


DEFAULT_RULES = AssessmentRules()


def _number(data: dict, key: str, low: float, high: float, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ValidationError(f"考核口径 {key} 应为 {low}–{high} 的数", fields={key: "取值无效"})
    return float(value)


def _choice(data: dict, key: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ValidationError(f"考核口径 {key} 应为 {' / '.join(choices)}", fields={key: "取值无效"})
    return value


def rules_from_dict(data: dict[str, Any], *, source: str) -> AssessmentRules:
    """Validate a city's overrides (every key optional) into rules; unknown keys are refused, not ignored."""
    if not isinstance(data, dict):
        raise ValidationError("考核口径文件应为 JSON 对象", fields={"assessment": "格式无效"})
    known = set(DEFAULT_RULES.as_dict()) - {"source"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValidationError(
            f"考核口径有未知的项：{'、'.join(unknown)}", fields={k: "未知" for k in unknown}
        )
    weights = dict(DEFAULT_WEIGHTS)
    given = data.get("weights", {})
    if not isinstance(given, dict) or set(given) - set(RATES):
        raise ValidationError("weights 只能列出各项比率的权重", fields={"weights": "未知的比率"})
    for key in given:
        weights[key] = _number(given, key, 0, 100, 0)
    if not any(weights.values()):
        raise ValidationError("权重不能全为 0", fields={"weights": "全为 0"})
    channels = data.get("channels", list(DEFAULT_RULES.channels))
    if not isinstance(channels, list) or not channels or not all(isinstance(c, str) for c in channels):
        raise ValidationError("channels 应为渠道列表", fields={"channels": "取值无效"})
    repeats = data.get("count_repeats_once", True)
    if not isinstance(repeats, bool):
        raise ValidationError(
            "count_repeats_once 应为 true / false", fields={"count_repeats_once": "取值无效"}
        )
    return AssessmentRules(
        weights=weights,
        basically_satisfied_weight=_number(data, "basically_satisfied_weight", 0, 1, 1.0),
        close_basis=_choice(data, "close_basis", CLOSE_BASES, "due"),
        revisit_basis=_choice(data, "revisit_basis", REVISIT_BASES, "latest"),
        count_repeats_once=repeats,
        minimum_sample=int(_number(data, "minimum_sample", 0, 100000, 30)),
        supervision_penalty=_number(data, "supervision_penalty", 0, 100, 0.0),
        channels=tuple(channels),
        source=source,
    )


def load_rules(instance_dir: Path | None) -> AssessmentRules:
    """The city's rules: ``<instance>/assessment.json`` when present, else the defaults."""
    if instance_dir is None:
        return DEFAULT_RULES
    path = Path(instance_dir) / CONFIG_FILE
    if not path.exists():
        return DEFAULT_RULES
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValidationError(
            f"考核口径文件 {path} 无法读取：{exc}", fields={"assessment": "格式无效"}
        ) from exc
    return rules_from_dict(data, source=str(path))


def with_overrides(rules: AssessmentRules, **changes: Any) -> AssessmentRules:
    return replace(rules, **changes)


# -- periods ----------------------------------------------------------------------------------------------

_PERIOD = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|Q([1-4])))?$")


@dataclass(frozen=True)
class Period:
    """A month, quarter or year: `key` as written (2026-11, 2026-Q4, 2026), [start_at, end_at) in UTC."""

    key: str
    first: date
    after: date  # the first day after the period

    @property
    def start_at(self) -> datetime:
        return _midnight(self.first)

    @property
    def end_at(self) -> datetime:
        return _midnight(self.after)

    @property
    def label(self) -> str:
        year = self.first.year
        if len(self.key) == 4:
            return f"{year}年度"
        if "Q" in self.key:
            return f"{year}年第{self.key[-1]}季度"
        return f"{year}年{self.first.month}月"

    def previous(self) -> Period:
        year = self.first.year
        if len(self.key) == 4:
            return parse_period(str(year - 1))
        if "Q" in self.key:
            quarter = int(self.key[-1])
            return parse_period(f"{year - 1}-Q4" if quarter == 1 else f"{year}-Q{quarter - 1}")
        month = self.first.month
        return parse_period(f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}")


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), BUSINESS_TZ).astimezone(UTC)


def parse_period(text: str) -> Period:
    """`2026-11`, `2026-Q4` or `2026`; anything else is a 400 naming the field."""
    match = _PERIOD.match((text or "").strip())
    if not match or not 2000 <= int(match.group(1)) <= 2100:
        raise ValidationError(
            f"考核期间 {text!r} 无效，应为 2026-11、2026-Q4 或 2026", fields={"period": "格式无效"}
        )
    year, month, quarter = int(match.group(1)), match.group(2), match.group(3)
    if month:
        first = date(year, int(month), 1)
        after = date(year + (first.month == 12), first.month % 12 + 1, 1)
    elif quarter:
        first = date(year, 3 * int(quarter) - 2, 1)
        after = date(year + (quarter == "4"), (3 * int(quarter)) % 12 + 1, 1)
    else:
        first, after = date(year, 1, 1), date(year + 1, 1, 1)
    return Period(match.group(0), first, after)


def month_before(day: date) -> Period:
    """The month before the one `day` falls in (the beat task prepares it)."""
    return parse_period(f"{day.year}-{day.month:02d}").previous()
