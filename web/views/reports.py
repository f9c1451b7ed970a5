"""The annual report: preview, cross-checks, downloads, drill-down to tickets, and the registers.

URL table:
    GET  /reports/annual                   report page for ?year=&department= (preview of every section)
    GET  /reports/annual/download          ?year=&department=&format=xlsx|docx|json|csv|html[&force=1]
    GET  /reports/drill                    ?year=&department=&ref=… the tickets behind one number
    GET  /reports/report.css               the report's print stylesheet
    GET  /reports/registers                the proactive-disclosure register of a year (+ form, import)
    POST /reports/registers                set one figure
    POST /reports/registers/import         import a CSV/XLSX file of figures
    GET  /reports/cases                    the review/litigation register (+ form, import)
    POST /reports/cases                    create or update a case
    POST /reports/cases/import             import a CSV/XLSX file of cases
    POST /reports/texts                    save the edited text of section 一/五/六
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from tracker.clock import BUSINESS_TZ, local, utcnow
from tracker.errors import ValidationError
from tracker.inputs import date_arg, int_arg
from tracker.people.models import AuditEntry, Department
from tracker.reports import permissions
from tracker.reports import registers as register_service
from tracker.reports.annual import build_annual_report, narrative, section_titles
from tracker.reports.drilldown import drill
from tracker.reports.exporters import EXPORT_FORMATS, export
from tracker.reports.html import SECTION_KEYS, interaction_html, tables_html
from tracker.reports.registers_spec import ITEMS, MEASURES, NARRATIVE_SECTIONS, REVIEW_KINDS, REVIEW_RESULTS
from tracker.reports.scope import CHANNEL_REPORT_LABELS, period_scope
from tracker.tickets.models import Ticket
from tracker.tickets.status import STATUS_LABELS
from web.database import db
from web.security import current_user, login_required

bp = Blueprint("reports", __name__, url_prefix="/reports")
MIN_YEAR, MAX_YEAR = 2000, 2100
# A register's figure is stored as NUMERIC(14, 4): at most 10 digits before the point.
MAX_FIGURE = Decimal(10) ** 10
MAX_FIGURE_CHARS = 40


def _redirect_year() -> int:
    """The year to go back to after an import: the form's, when it is a valid one."""
    try:
        return int_arg(request.form, "year", low=MIN_YEAR, high=MAX_YEAR) or _year()
    except ValidationError:
        return _year()


def _year() -> int:
    default = local(utcnow()).year - 1
    year = int_arg(request.args, "year", low=MIN_YEAR, high=MAX_YEAR)
    return default if year is None else year


def _scope_args():
    user = current_user()
    year = _year()
    department = permissions.report_department(user, request.args.get("department") or None)
    return user, year, department


@bp.route("/annual")
@login_required
def annual():
    user, year, department = _scope_args()
    report = build_annual_report(db(), year, department_code=department, now=utcnow())

    def link(ref: str) -> str:
        if ref.startswith("g:"):
            return url_for("reports.registers", year=year) if user.role in permissions.READ_ANY_ROLES else "#"
        return url_for("reports.drilldown", year=year, department=department or "", ref=ref)

    by_section: dict[str, list] = {}
    for table in report.tables:
        by_section.setdefault(SECTION_KEYS[table.section], []).append(table)
    departments = (
        list(db().scalars(select(Department).order_by(Department.id)))
        if user.role in permissions.READ_ANY_ROLES
        else [user.department]
    )
    return render_template(
        "reports/annual.html",
        report=report,
        year=year,
        department=department,
        departments=departments,
        titles=section_titles(report.format),
        paragraphs=narrative(report),
        interaction=interaction_html(report, link),
        tables_by_section={key: tables_html(tables, link) for key, tables in by_section.items()},
        formats=EXPORT_FORMATS,
        can_force=permissions.can_force_export(user),
        can_edit=user.role in permissions.REGISTER_WRITE_ROLES,
        narrative_sections=NARRATIVE_SECTIONS,
    )


@bp.route("/annual/download")
@login_required
def download():
    user, year, department = _scope_args()
    fmt = request.args.get("format", "xlsx")
    force = request.args.get("force") == "1"
    if force and not permissions.can_force_export(user):
        force = False
    report = build_annual_report(db(), year, department_code=department, now=utcnow())
    body, mime, name = export(report, fmt, force=force)
    db().add(
        AuditEntry(
            at=utcnow(),
            user_id=user.id,
            action="report.export",
            object_type="annual_report",
            object_id=f"{year}:{department or '*'}",
            ip=request.remote_addr,
            detail={"format": fmt, "forced": force, "checks_passed": report.is_valid},
        )
    )
    db().commit()
    response = Response(body, mimetype=mime)
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


@bp.route("/drill")
@login_required
def drilldown():
    user, year, department = _scope_args()
    ref = request.args.get("ref", "")
    scope = period_scope(db(), year, department_code=department)
    result = drill(db(), scope, ref, user)
    return render_template(
        "reports/drill.html",
        result=result,
        year=year,
        department=department,
        scope=scope,
        tz=BUSINESS_TZ,
        channels=CHANNEL_REPORT_LABELS,
        statuses=STATUS_LABELS,
        kinds=REVIEW_KINDS,
        results=REVIEW_RESULTS,
    )


@bp.route("/report.css")
def stylesheet():
    response = Response(render_template("reports/report.css"), mimetype="text/css")
    response.cache_control.max_age = 3600
    return response


# -- registers -----------------------------------------------------------------------------------------


@bp.route("/registers")
@login_required
def registers():
    user = current_user()
    permissions.require_register_read(user)
    year = _year()
    return render_template(
        "reports/registers.html",
        year=year,
        figures=register_service.list_figures(db(), year),
        departments=list(db().scalars(select(Department).order_by(Department.id))),
        items=ITEMS,
        measures=MEASURES,
        can_edit=user.role in permissions.REGISTER_WRITE_ROLES,
    )


def _form_year() -> int:
    year = int_arg(request.form, "year", low=MIN_YEAR, high=MAX_YEAR)
    if year is None:
        raise ValidationError("年度必填", fields={"year": f"应为 {MIN_YEAR}–{MAX_YEAR}"})
    return year


def _department_from_form() -> Department:
    code = request.form.get("department", "")
    department = db().scalar(select(Department).where(Department.code == code))
    if department is None:
        raise ValidationError(f"部门“{code}”不存在", fields={"department": "不存在"})
    return department


@bp.route("/registers", methods=["POST"])
@login_required
def set_register_figure():
    user = current_user()
    permissions.require_register_write(user)
    year = _form_year()
    raw_value = request.form.get("value", "").strip()
    try:
        value = Decimal(raw_value) if len(raw_value) <= MAX_FIGURE_CHARS else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or abs(value) >= MAX_FIGURE:
        raise ValidationError("数值须为数字", fields={"value": f"应为小于 {MAX_FIGURE} 的数字"})
    register_service.set_figure(
        db(),
        year=year,
        department=_department_from_form(),
        item=request.form.get("item", ""),
        measure=request.form.get("measure", ""),
        value=value,
        note=request.form.get("note") or None,
        now=utcnow(),
        actor=user,
    )
    db().commit()
    flash("已保存", "ok")
    return redirect(url_for("reports.registers", year=year))


def _uploaded_rows():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("请选择要导入的文件", fields={"file": "必填"})
    return register_service.read_table_file(upload.read(), upload.filename)


@bp.route("/registers/import", methods=["POST"])
@login_required
def import_register():
    user = current_user()
    permissions.require_register_write(user)
    result = register_service.import_figures(db(), _uploaded_rows(), now=utcnow(), actor=user)
    db().commit()
    flash(result.summary("主动公开登记"), "ok")
    return redirect(url_for("reports.registers", year=_redirect_year()))


@bp.route("/cases")
@login_required
def cases():
    user = current_user()
    permissions.require_register_read(user)
    year = _year()
    scope = period_scope(db(), year)
    from tracker.reports.register_figures import review_case_query

    return render_template(
        "reports/cases.html",
        year=year,
        cases=list(db().scalars(review_case_query(scope))),
        departments=list(db().scalars(select(Department).order_by(Department.id))),
        kinds=REVIEW_KINDS,
        results=REVIEW_RESULTS,
        can_edit=user.role in permissions.REGISTER_WRITE_ROLES,
    )


def _date(name: str, *, required: bool) -> date | None:
    day = date_arg(request.form, name)
    if day is None and required:
        raise ValidationError("日期必填", fields={name: "必填"})
    return day


@bp.route("/cases", methods=["POST"])
@login_required
def save_case():
    user = current_user()
    permissions.require_register_write(user)
    ticket = None
    number = (request.form.get("ticket") or "").strip()
    if number:
        ticket = db().scalar(select(Ticket).where(Ticket.number == number))
        if ticket is None:
            raise ValidationError(f"工单“{number}”不存在", fields={"ticket": "不存在"})
    filed_on = _date("filed_on", required=True)
    register_service.save_case(
        db(),
        case_number=request.form.get("case_number", ""),
        kind=request.form.get("kind", ""),
        result=request.form.get("result", ""),
        filed_on=filed_on,
        decided_on=_date("decided_on", required=False),
        department=_department_from_form(),
        ticket=ticket,
        note=request.form.get("note") or None,
        now=utcnow(),
    )
    db().commit()
    flash("已保存", "ok")
    return redirect(url_for("reports.cases", year=filed_on.year))


@bp.route("/cases/import", methods=["POST"])
@login_required
def import_cases():
    user = current_user()
    permissions.require_register_write(user)
    result = register_service.import_cases(db(), _uploaded_rows(), now=utcnow(), actor=user)
    db().commit()
    flash(result.summary("复议诉讼案件"), "ok")
    return redirect(url_for("reports.cases", year=_redirect_year()))


@bp.route("/texts", methods=["POST"])
@login_required
def save_text():
    user = current_user()
    permissions.require_register_write(user)
    year = _form_year()
    code = request.form.get("department") or None
    department = (
        db().scalar(select(Department).where(Department.code == code))
        if code
        else db().scalar(select(Department).where(Department.parent_id.is_(None)).order_by(Department.id))
    )
    if department is None:
        raise ValidationError("部门不存在", fields={"department": "不存在"})
    register_service.set_report_text(
        db(),
        year=year,
        department=department,
        section=request.form.get("section", ""),
        body=request.form.get("body", ""),
        now=utcnow(),
        actor=user,
    )
    db().commit()
    flash("已保存", "ok")
    return redirect(url_for("reports.annual", year=year, department=code or ""))
