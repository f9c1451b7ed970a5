"""`tracker report …`: the annual report, period figures, and the registers behind sections 二 and 四."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tracker.config import Settings
from tracker.reports.exporters import EXPORT_FORMATS

TEXT_FORMATS = ("json", "csv", "html")


@click.group("report")
def report() -> None:
    """The year-end annual report (政府信息公开工作年度报告) and its registers."""


@report.command("annual")
@click.option("--year", type=int, required=True, help="report year, e.g. 2026")
@click.option("--department", "department_code", default=None, help="部门代码 (with its sub-departments)")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--force", is_flag=True, help="export even when the cross-checks fail")
@click.option(
    "--satisfied", default="非常满意,满意,基本满意", show_default=True, help="levels counted as satisfied"
)
@click.pass_obj
def annual_cmd(settings: Settings, year, department_code, fmt, out, force, satisfied) -> None:
    """Produce the year's report as xlsx, docx, json, csv or html (stdout for text formats without --out)."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.reports.annual import build_annual_report
    from tracker.reports.exporters import export

    if out is None and fmt not in TEXT_FORMATS:
        raise click.UsageError(f"--format {fmt} 须用 --out 指定输出文件")
    with session_scope(settings.database_url) as session:
        built = build_annual_report(
            session,
            year,
            department_code=department_code,
            satisfied_levels=[s.strip() for s in satisfied.split(",") if s.strip()],
            now=utcnow(),
        )
        for failure in built.failures:
            numbers = "、".join(number for _id, number in failure.tickets)
            click.echo(
                f"校验未通过：{failure.message}" + (f"（工单：{numbers}）" if numbers else ""), err=True
            )
        body, _mime, _name = export(built, fmt, force=force)
    if out is None:
        text = body.decode("utf-8").lstrip("\ufeff")
        click.echo(text, nl=not text.endswith("\n"))
    else:
        out.write_bytes(body)
        click.echo(f"已导出 {out}（{len(body)} 字节）", err=True)


@report.command("assessment")
@click.option("--period", required=True, help="2026-11 (month), 2026-Q4 (quarter) or 2026 (year)")
@click.option(
    "--department", "department_code", default=None, help="部门代码: that unit only (rank among all)"
)
@click.option("--format", "fmt", type=click.Choice(("json", "xlsx")), default="json", show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--people", is_flag=True, help="with --department: add the unit's people (not ranked)")
@click.pass_obj
def assessment_cmd(settings: Settings, period, department_code, fmt, out, people) -> None:
    """The 12345 handling-unit assessment (docs/assessment.md): rates, score, ranking and trend."""
    from tracker.db import session_scope
    from tracker.errors import TrackerError
    from tracker.reports.assessment import build_assessment, people_assessment
    from tracker.reports.assessment_rules import load_rules, parse_period
    from tracker.reports.assessment_xlsx import assessment_xlsx

    if people and not department_code:
        raise click.UsageError("--people 须与 --department 一起使用")
    if fmt == "xlsx" and out is None:
        raise click.UsageError("--format xlsx 须用 --out 指定输出文件")
    try:
        parsed = parse_period(period)
        rules = load_rules(settings.instance_dir)
        with session_scope(settings.database_url) as session:
            data = build_assessment(session, parsed, rules, department_code=department_code)
            staff = (
                people_assessment(session, parsed, rules, department_code=department_code) if people else None
            )
    except TrackerError as exc:
        raise click.ClickException(str(exc)) from exc
    if staff is not None:
        data["people"] = staff
    if fmt == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    else:
        name = data["units"][0]["name"] if department_code and data["units"] else ""
        body = assessment_xlsx(data, people=staff, unit_name=name)
    if out is None:
        click.echo(body.decode("utf-8"))
    else:
        out.write_bytes(body)
        click.echo(f"已导出 {out}（{len(body)} 字节）", err=True)


@report.command("figures")
@click.option("--year", type=int, required=True)
@click.option("--quarter", type=int, default=None)
@click.option("--month", type=int, default=None)
@click.option("--department", "department_code", default=None)
@click.pass_obj
def figures_cmd(settings: Settings, year, quarter, month, department_code) -> None:
    """Interaction figures of a year, quarter or month, as JSON."""
    from tracker.db import session_scope
    from tracker.reports.annual import build_annual_report, interaction_dict
    from tracker.reports.scope import period_scope

    with session_scope(settings.database_url) as session:
        scope = period_scope(session, year, department_code=department_code, quarter=quarter, month=month)
        built = build_annual_report(session, year, scope=scope)
        data = {
            "period": scope.label,
            "interaction": interaction_dict(built),
            "top_topics": [{"topic": t, "count": n} for t, n in built.topics],
        }
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


@report.command("check")
@click.option("--year", type=int, required=True)
@click.option("--department", "department_code", default=None)
@click.pass_obj
def check_cmd(settings: Settings, year, department_code) -> None:
    """Run the cross-checks of section 三; exit 1 when they fail, listing the tickets involved."""
    from tracker.db import session_scope
    from tracker.reports.annual import build_annual_report

    with session_scope(settings.database_url) as session:
        built = build_annual_report(session, year, department_code=department_code)
        for warning in built.warnings:  # shown, never a failure
            click.echo(f"! {warning.rule} · {warning.message}")
        if built.is_valid:
            click.echo(f"{year}年度年报勾稽关系校验通过。")
            return
        for failure in built.failures:
            numbers = "、".join(number for _id, number in failure.tickets)
            click.echo(f"✗ {failure.rule} · {failure.message}" + (f"（工单：{numbers}）" if numbers else ""))
    sys.exit(1)


@report.group("register")
def register() -> None:
    """The proactive-disclosure register (section 二, published items by outlet, fees)."""


@register.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def register_import(settings: Settings, file: Path) -> None:
    """Import figures from CSV/XLSX with columns 年度, 部门代码, 项目, 指标, 数值[, 备注]."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.reports.registers import import_figures, read_table_file

    rows = read_table_file(file.read_bytes(), file.name)
    with session_scope(settings.database_url) as session:
        result = import_figures(session, rows, now=utcnow())
    click.echo(result.summary("主动公开登记"))


@register.command("set")
@click.option("--year", type=int, required=True)
@click.option("--department", "department_code", required=True)
@click.option("--item", required=True, help="项目 (code or label, e.g. normative / 行政规范性文件)")
@click.option("--measure", required=True, help="指标 (code or label, e.g. issued / 本年制发件数)")
@click.option("--value", required=True)
@click.pass_obj
def register_set(settings: Settings, year, department_code, item, measure, value) -> None:
    """Set one figure of the register."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.reports.registers import import_figures

    row = {"年度": str(year), "部门代码": department_code, "项目": item, "指标": measure, "数值": value}
    with session_scope(settings.database_url) as session:
        result = import_figures(session, [row], now=utcnow())
    click.echo(result.summary("主动公开登记"))


@register.command("list")
@click.option("--year", type=int, required=True)
@click.pass_obj
def register_list(settings: Settings, year) -> None:
    """Print the register of a year as CSV."""
    from tracker.db import session_scope
    from tracker.reports.registers import list_figures
    from tracker.reports.registers_spec import ITEMS, MEASURES

    with session_scope(settings.database_url) as session:
        click.echo("年度,部门代码,项目,指标,数值")
        for row in list_figures(session, year):
            click.echo(
                f"{row.year},{row.department.code},{ITEMS[row.item]},{MEASURES[row.measure]},{row.value.normalize()}"
            )


@report.group("cases")
def cases() -> None:
    """The register of administrative review and litigation cases (section 四)."""


@cases.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def cases_import(settings: Settings, file: Path) -> None:
    """Import cases from CSV/XLSX: 案号, 类型, 结果, 立案日期, 审结日期, 部门代码, 工单编号, 备注."""
    from tracker.clock import utcnow
    from tracker.db import session_scope
    from tracker.reports.registers import import_cases, read_table_file

    rows = read_table_file(file.read_bytes(), file.name)
    with session_scope(settings.database_url) as session:
        result = import_cases(session, rows, now=utcnow())
    click.echo(result.summary("复议诉讼案件"))
