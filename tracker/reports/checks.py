"""The cross-checks of section 三 that must hold before a report is exported.

* for every column: 一 + 二 = 三（七） + 四;
* 三（七） = the sum of the result rows;
* for every row: 总计 = the sum of the six applicant columns.

And one warning, which does not block an export: the register's 全年发布（报送）各类信息 against the sum of
its outlets. They may differ for good reasons (the seed report: 229 报送 vs 105 + 56 + 67 = 228 published,
an item reported upward without being published by an outlet, or one item in two outlets), so the office is
asked to check and say why — a note on the total's register figure — and the warning then stands down.

Each failure names the rule, the row or column, both sides, and the tickets involved, so staff can open
them and fix the data (an application closed without an outcome, one without an applicant type, one
reopened after it was closed in an earlier year …). Exports refuse a failing report unless forced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import ValidationError
from tracker.reports.disclosure import DisclosureCounts, disclosure_ticket_ids
from tracker.reports.formats import (
    TOTAL,
)
from tracker.reports.models import RegisterFigure
from tracker.reports.rows import OUTCOMES, UNMAPPED, row_label
from tracker.reports.scope import Scope
from tracker.tickets.channels import APPLICANT_TYPES
from tracker.tickets.models import Ticket

RULE_BALANCE = "一+二=三（七）+四"
RULE_RESULTS = "三（七）=各办理结果之和"
RULE_TOTAL = "总计=各申请人列之和"
RULE_PUBLISHED = "全年发布=各渠道之和"
OUTLET_ITEMS = ("outlet_portal", "outlet_public_point", "outlet_media")


@dataclass
class CheckFailure:
    rule: str
    where: str  # the column or row the rule failed for
    left: int
    right: int
    message: str
    tickets: list[tuple[int, str]] = field(default_factory=list)  # (id, number)


class ReportCheckFailed(ValidationError):
    """The report's cross-checks fail; exporting needs `force`."""

    code = "report_check_failed"

    def __init__(self, failures: list[CheckFailure]):
        lines = [f.message for f in failures]
        super().__init__("年报勾稽关系校验未通过：" + "；".join(lines), fields={"checks": "；".join(lines)})
        self.failures = failures


def _numbers(session: Session, ids: set[int]) -> list[tuple[int, str]]:
    if not ids:
        return []
    rows = session.execute(
        select(Ticket.id, Ticket.number).where(Ticket.id.in_(sorted(ids))).order_by(Ticket.id)
    )
    return [(ticket_id, number) for ticket_id, number in rows]


def _ids(session: Session, scope: Scope, row: str, applicant: str | None) -> set[int]:
    return set(session.scalars(disclosure_ticket_ids(session, scope, row, applicant)))


def run_checks(session: Session, scope: Scope, counts: DisclosureCounts) -> list[CheckFailure]:
    failures: list[CheckFailure] = []

    # 一 + 二 = 三（七） + 四, per applicant column and for 总计.
    for applicant in (*APPLICANT_TYPES, None):
        column = applicant or TOTAL

        def value(row: str, applicant=applicant) -> int:
            return counts.total(row) if applicant is None else counts.get(row, applicant)

        left = value("new") + value("carried_in")
        right = value("finished") + value("carried_out")
        if left != right:
            key = applicant if applicant is not None else None
            left_ids = _ids(session, scope, "new", key) | _ids(session, scope, "carried_in", key)
            right_ids = _ids(session, scope, "finished", key) | _ids(session, scope, "carried_out", key)
            failures.append(
                CheckFailure(
                    RULE_BALANCE,
                    column,
                    left,
                    right,
                    f"「{column}」列：一+二={left}，三（七）+四={right}，不相等"
                    "（涉及的申请在本年既非新收/结转却有办结，或办结后又重新办理）",
                    _numbers(session, left_ids ^ right_ids),
                )
            )

    # 三（七） = the sum of the result rows: an application finished without a known outcome breaks it.
    unmapped_total = counts.total(UNMAPPED)
    if unmapped_total:
        finished = counts.total("finished")
        failures.append(
            CheckFailure(
                RULE_RESULTS,
                TOTAL,
                finished,
                finished - unmapped_total,
                f"三（七）总计={finished}，各办理结果之和={finished - unmapped_total}："
                f"{unmapped_total}件申请已办结但未选择答复结果",
                _numbers(session, _ids(session, scope, UNMAPPED, None)),
            )
        )

    # 总计 = the sum of the applicant columns: an application without a known applicant type breaks it.
    rows = ["new", "carried_in", *(o.code for o in OUTCOMES), "finished", "carried_out"]
    for row in rows:
        total, columns = counts.total(row), counts.column_sum(row)
        if total != columns:
            label = row_label(row)
            failures.append(
                CheckFailure(
                    RULE_TOTAL,
                    label,
                    total,
                    columns,
                    f"「{label}」行：总计={total}，各申请人列之和={columns}（申请人类型缺失或无效）",
                    _numbers(session, _ids(session, scope, row, "")),
                )
            )
    return failures


@dataclass
class CheckWarning:
    rule: str
    left: Decimal
    right: Decimal
    message: str


def register_warnings(
    session: Session, scope: Scope, registers: dict[tuple[str, str], Decimal], outlet_labels: dict[str, str]
) -> list[CheckWarning]:
    """The register's year total against its outlets: a warning unless a note on the total explains it."""
    total = registers.get(("published_all", "items"))
    outlets = [registers.get((item, "items")) for item in OUTLET_ITEMS]
    if total is None or all(v is None for v in outlets):
        return []  # nothing to compare: the report sums the outlets itself when the total is missing
    outlet_sum = sum((v or Decimal(0)) for v in outlets)
    if total == outlet_sum:
        return []
    notes = select(RegisterFigure.note).where(
        RegisterFigure.year == scope.year,
        RegisterFigure.item == "published_all",
        RegisterFigure.measure == "items",
        RegisterFigure.note.is_not(None),
        RegisterFigure.note != "",
    )
    if scope.department_ids is not None:
        notes = notes.where(RegisterFigure.department_id.in_(scope.department_ids))
    if session.scalar(notes.limit(1)):
        return []
    parts = "+".join(
        f"{outlet_labels[item]}{_plain(v or 0)}" for item, v in zip(OUTLET_ITEMS, outlets, strict=True)
    )
    return [
        CheckWarning(
            RULE_PUBLISHED,
            total,
            outlet_sum,
            f"登记簿中全年发布（报送）各类信息{_plain(total)}条，与各渠道之和{parts}={_plain(outlet_sum)}条不一致"
            f"（相差{_plain(abs(total - outlet_sum))}条）：请核对，或在“全年发布（报送）各类信息”一项的备注中说明原因",
        )
    ]


def _plain(value) -> str:
    value = Decimal(value)
    return str(int(value)) if value == value.to_integral_value() else str(value.normalize())
