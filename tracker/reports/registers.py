"""The annual report's registers: proactive-disclosure figures, review/litigation cases, section texts.

Imports validate every row first and write nothing when any row is bad: the error names the row, the
field and the reason. Services flush, never commit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import NotFound, ValidationError
from tracker.intake.formats import FileFormatError, bounded_rows
from tracker.people.models import AuditEntry, Department, User
from tracker.reports.models import RegisterFigure, ReportText, ReviewCase
from tracker.reports.registers_spec import (
    ITEMS,
    MAX_PORTAL_LABEL,
    MEASURES,
    NARRATIVE_SECTIONS,
    PORTAL_LABEL,
    REPORT_SETTINGS,
    REVIEW_KINDS,
    REVIEW_RESULTS,
    item_code,
    kind_code,
    measure_code,
    result_code,
)
from tracker.tickets.models import Ticket

# Column names an import file may use (Chinese headers or the codes).
FIGURE_COLUMNS = {
    "year": ("年度", "year"),
    "department": ("部门代码", "部门", "department"),
    "item": ("项目", "item"),
    "measure": ("指标", "measure"),
    "value": ("数值", "value"),
    "note": ("备注", "note"),
}
CASE_COLUMNS = {
    "case_number": ("案号", "case_number"),
    "kind": ("类型", "kind"),
    "result": ("结果", "result"),
    "filed_on": ("立案日期", "收到日期", "filed_on"),
    "decided_on": ("审结日期", "decided_on"),
    "department": ("部门代码", "部门", "department"),
    "ticket": ("工单编号", "ticket"),
    "note": ("备注", "note"),
}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0

    def summary(self, what: str) -> str:
        return f"{what}：新增 {self.created} 条，更新 {self.updated} 条"


# -- reading files ------------------------------------------------------------------------------------


def read_table_file(data: bytes, filename: str) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, UTF-8 with BOM or GB18030) or XLSX file, as dicts keyed by the header row."""
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise ValidationError(f"无法读取 Excel 文件：{exc}", fields={"file": "格式错误"}) from None
        try:
            rows = [
                ["" if v is None else str(v).strip() for v in row]
                for row in bounded_rows(wb.active.iter_rows(values_only=True))
            ]
        except FileFormatError as exc:
            raise ValidationError(str(exc), fields={"file": "超过上限"}) from None
        finally:
            wb.close()
    elif suffix in (".csv", ".txt"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ValidationError("无法识别文件编码（应为 UTF-8 或 GB18030）", fields={"file": "编码错误"})
        try:
            rows = [[v.strip() for v in row] for row in bounded_rows(csv.reader(io.StringIO(text)))]
        except FileFormatError as exc:
            raise ValidationError(str(exc), fields={"file": "超过上限"}) from None
    else:
        raise ValidationError("只支持 CSV 或 XLSX 文件", fields={"file": "格式不支持"})
    rows = [row for row in rows if any(row)]
    if not rows:
        raise ValidationError("文件为空", fields={"file": "无数据"})
    header = rows[0]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def _field(row: Mapping[str, str], names: Iterable[str]) -> str:
    for name in names:
        if name in row and row[name] is not None:
            return str(row[name]).strip()
    return ""


def _department_by_code(session: Session) -> dict[str, Department]:
    return {d.code: d for d in session.scalars(select(Department))}


def _parse_date(text: str) -> date:
    text = text.strip().replace("/", "-").replace(".", "-")
    if " " in text:
        text = text.split(" ", 1)[0]
    return date.fromisoformat(text)


def _raise(errors: list[tuple[int, str, str]]) -> None:
    if errors:
        message = "；".join(f"第{row}行「{field}」：{reason}" for row, field, reason in errors[:20])
        if len(errors) > 20:
            message += f"；另有 {len(errors) - 20} 处错误"
        raise ValidationError(
            f"导入失败，未写入任何数据。{message}", fields={f"row{r}.{f}": m for r, f, m in errors}
        )


# -- the proactive-disclosure register -------------------------------------------------------------------


def set_figure(
    session: Session,
    *,
    year: int,
    department: Department,
    item: str,
    measure: str,
    value: Decimal,
    now: datetime,
    actor: User | None = None,
    note: str | None = None,
) -> tuple[RegisterFigure, bool]:
    if item not in ITEMS:
        raise ValidationError(f"未知项目 {item!r}", fields={"item": "未知项目"})
    if measure not in MEASURES:
        raise ValidationError(f"未知指标 {measure!r}", fields={"measure": "未知指标"})
    row = session.scalar(
        select(RegisterFigure).where(
            RegisterFigure.year == year,
            RegisterFigure.department_id == department.id,
            RegisterFigure.item == item,
            RegisterFigure.measure == measure,
        )
    )
    created = row is None
    if row is None:
        row = RegisterFigure(year=year, department_id=department.id, item=item, measure=measure)
        session.add(row)
    row.value = value
    row.note = note
    row.updated_at = now
    row.updated_by_id = actor.id if actor else None
    session.flush()
    return row, created


def import_figures(
    session: Session, rows: list[Mapping[str, str]], *, now: datetime, actor: User | None = None
) -> ImportResult:
    """Import register figures (年度, 部门代码, 项目, 指标, 数值[, 备注]); all rows or none."""
    departments = _department_by_code(session)
    errors: list[tuple[int, str, str]] = []
    parsed: list[dict[str, Any]] = []
    seen: dict[tuple, int] = {}
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        year_text = _field(row, FIGURE_COLUMNS["year"])
        dept_text = _field(row, FIGURE_COLUMNS["department"])
        item = item_code(_field(row, FIGURE_COLUMNS["item"]))
        measure = measure_code(_field(row, FIGURE_COLUMNS["measure"]))
        value_text = _field(row, FIGURE_COLUMNS["value"]).replace(",", "")
        try:
            year = int(year_text)
            if not 2000 <= year <= 2100:
                raise ValueError
        except ValueError:
            errors.append((number, "年度", f"应为四位年份，实际为“{year_text}”"))
            year = None
        if dept_text not in departments:
            errors.append((number, "部门代码", f"部门“{dept_text}”不存在"))
        if item is None:
            errors.append((number, "项目", f"未知项目“{_field(row, FIGURE_COLUMNS['item'])}”"))
        if measure is None:
            errors.append((number, "指标", f"未知指标“{_field(row, FIGURE_COLUMNS['measure'])}”"))
        try:
            value = Decimal(value_text)
            if not value.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            errors.append((number, "数值", f"应为数字，实际为“{value_text}”"))
            value = None
        key = (year, dept_text, item, measure)
        if None not in key and key in seen:
            errors.append((number, "项目", f"与第{seen[key]}行重复"))
        seen[key] = number
        parsed.append(
            {
                "year": year,
                "department": dept_text,
                "item": item,
                "measure": measure,
                "value": value,
                "note": _field(row, FIGURE_COLUMNS["note"]) or None,
            }
        )
    _raise(errors)
    result = ImportResult()
    for entry in parsed:
        _row, created = set_figure(
            session,
            year=entry["year"],
            department=departments[entry["department"]],
            item=entry["item"],
            measure=entry["measure"],
            value=entry["value"],
            note=entry["note"],
            now=now,
            actor=actor,
        )
        if created:
            result.created += 1
        else:
            result.updated += 1
    _audit(session, actor, "register.import", "register_figures", result, now)
    return result


def _audit(
    session: Session, actor: User | None, action: str, object_type: str, result: ImportResult, now
) -> None:
    session.add(
        AuditEntry(
            at=now,
            user_id=actor.id if actor else None,
            action=action,
            object_type=object_type,
            detail={"created": result.created, "updated": result.updated},
        )
    )
    session.flush()


def list_figures(
    session: Session, year: int, department_ids: Iterable[int] | None = None
) -> list[RegisterFigure]:
    query = select(RegisterFigure).where(RegisterFigure.year == year)
    if department_ids is not None:
        query = query.where(RegisterFigure.department_id.in_(list(department_ids)))
    return list(
        session.scalars(
            query.order_by(RegisterFigure.department_id, RegisterFigure.item, RegisterFigure.measure)
        )
    )


# -- review and litigation cases ----------------------------------------------------------------------


def save_case(
    session: Session,
    *,
    case_number: str,
    kind: str,
    result: str,
    filed_on: date,
    department: Department,
    now: datetime,
    decided_on: date | None = None,
    ticket: Ticket | None = None,
    note: str | None = None,
) -> tuple[ReviewCase, bool]:
    """Create or update the case with this number."""
    errors = {}
    if not case_number.strip():
        errors["case_number"] = "案号必填"
    if kind not in REVIEW_KINDS:
        errors["kind"] = f"应为 {'/'.join(REVIEW_KINDS.values())} 之一"
    if result not in REVIEW_RESULTS:
        errors["result"] = f"应为 {'/'.join(REVIEW_RESULTS.values())} 之一"
    if decided_on is not None and decided_on < filed_on:
        errors["decided_on"] = "审结日期早于立案日期"
    if result != "pending" and decided_on is None:
        errors["decided_on"] = "已有结果的案件须填写审结日期"
    if ticket is not None and ticket.channel != "disclosure":
        errors["ticket"] = "只能关联依申请公开工单"
    if errors:
        raise ValidationError("；".join(errors.values()), fields=errors)
    case = session.scalar(select(ReviewCase).where(ReviewCase.case_number == case_number.strip()))
    created = case is None
    if case is None:
        case = ReviewCase(case_number=case_number.strip(), created_at=now)
        session.add(case)
    case.kind, case.result, case.filed_on, case.decided_on = kind, result, filed_on, decided_on
    case.department_id = department.id
    case.ticket_id = ticket.id if ticket else None
    case.note = note
    case.updated_at = now
    session.flush()
    return case, created


def import_cases(
    session: Session, rows: list[Mapping[str, str]], *, now: datetime, actor: User | None = None
) -> ImportResult:
    """Import cases (案号, 类型, 结果, 立案日期, 审结日期, 部门代码, 工单编号, 备注); all rows or none."""
    departments = _department_by_code(session)
    errors: list[tuple[int, str, str]] = []
    parsed = []
    for number, row in enumerate(rows, start=2):
        case_number = _field(row, CASE_COLUMNS["case_number"])
        kind = kind_code(_field(row, CASE_COLUMNS["kind"]))
        result = result_code(_field(row, CASE_COLUMNS["result"]) or "尚未审结")
        dept_text = _field(row, CASE_COLUMNS["department"])
        ticket_number = _field(row, CASE_COLUMNS["ticket"])
        if not case_number:
            errors.append((number, "案号", "必填"))
        if kind is None:
            errors.append(
                (
                    number,
                    "类型",
                    f"应为 复议/未经复议直接起诉/复议后起诉，实际为“{_field(row, CASE_COLUMNS['kind'])}”",
                )
            )
        if result is None:
            errors.append(
                (
                    number,
                    "结果",
                    f"应为 维持/纠正/其他/尚未审结，实际为“{_field(row, CASE_COLUMNS['result'])}”",
                )
            )
        filed_on = decided_on = None
        try:
            filed_on = _parse_date(_field(row, CASE_COLUMNS["filed_on"]))
        except ValueError:
            errors.append(
                (
                    number,
                    "立案日期",
                    f"日期格式应为 YYYY-MM-DD，实际为“{_field(row, CASE_COLUMNS['filed_on'])}”",
                )
            )
        decided_text = _field(row, CASE_COLUMNS["decided_on"])
        if decided_text:
            try:
                decided_on = _parse_date(decided_text)
            except ValueError:
                errors.append((number, "审结日期", f"日期格式应为 YYYY-MM-DD，实际为“{decided_text}”"))
        if result not in (None, "pending") and not decided_text:
            errors.append((number, "审结日期", "已有结果的案件须填写审结日期"))
        if filed_on and decided_on and decided_on < filed_on:
            errors.append((number, "审结日期", "早于立案日期"))
        if dept_text not in departments:
            errors.append((number, "部门代码", f"部门“{dept_text}”不存在"))
        ticket = None
        if ticket_number:
            ticket = session.scalar(select(Ticket).where(Ticket.number == ticket_number))
            if ticket is None:
                errors.append((number, "工单编号", f"工单“{ticket_number}”不存在"))
            elif ticket.channel != "disclosure":
                errors.append((number, "工单编号", "只能关联依申请公开工单"))
        parsed.append(
            (
                case_number,
                kind,
                result,
                filed_on,
                decided_on,
                dept_text,
                ticket,
                _field(row, CASE_COLUMNS["note"]) or None,
            )
        )
    _raise(errors)
    result_count = ImportResult()
    for case_number, kind, result, filed_on, decided_on, dept_text, ticket, note in parsed:
        _case, created = save_case(
            session,
            case_number=case_number,
            kind=kind,
            result=result,
            filed_on=filed_on,
            decided_on=decided_on,
            department=departments[dept_text],
            ticket=ticket,
            note=note,
            now=now,
        )
        if created:
            result_count.created += 1
        else:
            result_count.updated += 1
    _audit(session, actor, "review_cases.import", "review_cases", result_count, now)
    return result_count


def get_case(session: Session, case_id: int) -> ReviewCase:
    case = session.get(ReviewCase, case_id)
    if case is None:
        raise NotFound(f"案件 {case_id} 不存在")
    return case


# -- narrative texts ----------------------------------------------------------------------------------


def set_report_text(
    session: Session,
    *,
    year: int,
    department: Department,
    section: str,
    body: str,
    now: datetime,
    actor: User | None = None,
) -> ReportText:
    if section not in NARRATIVE_SECTIONS and section not in REPORT_SETTINGS:
        raise ValidationError(f"未知章节 {section!r}", fields={"section": "未知章节"})
    if section == PORTAL_LABEL:
        body = body.strip()
        if not body or len(body) > MAX_PORTAL_LABEL or any(ch in body for ch in "\r\n\t"):
            raise ValidationError(
                f"网站称谓应为1–{MAX_PORTAL_LABEL}个字的一行文字，如“局网站”“门户网站”",
                fields={"body": "取值无效"},
            )
    row = session.scalar(
        select(ReportText).where(
            ReportText.year == year, ReportText.department_id == department.id, ReportText.section == section
        )
    )
    if row is None:
        row = ReportText(year=year, department_id=department.id, section=section)
        session.add(row)
    row.body = body
    row.updated_at = now
    row.updated_by_id = actor.id if actor else None
    session.flush()
    return row
