"""The 12345 handling-unit assessment (issue 19, item 8; docs/assessment.md).

URL table:
    GET /reports/assessment            ?period=2026-11|2026-Q4|2026&department=CODE — ranking, charts, trend
    GET /reports/assessment/download   ?period=&department=&format=xlsx|json
    GET /reports/assessment/drill      ?period=&department=&figure=&part=num|den[&person=<user id>]

Who sees what is `tracker.reports.permissions.assessment_department`, asked before any input is read: the
office and auditors every unit; a 科室负责人 their own unit (ranked among all), the bureau's totals and
their unit's people; a 承办人 nothing.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext
from sqlalchemy import select

from tracker.clock import BUSINESS_TZ, local, utcnow
from tracker.errors import NotFound, ValidationError
from tracker.inputs import int_arg
from tracker.people.models import AuditEntry, Department, User
from tracker.reports import permissions
from tracker.reports.assessment import PARTS, SOURCE_OF, build_assessment, drill_for, people_assessment
from tracker.reports.assessment_rules import (
    PART_LABELS,
    RATES,
    SUPERVISED_LABEL,
    load_rules,
    month_before,
    parse_period,
)
from tracker.reports.assessment_xlsx import XLSX_MIME, assessment_filename, assessment_xlsx
from tracker.tickets.status import STATUS_LABELS
from web import charts
from web.database import db, settings
from web.security import clock_now, current_user, login_required

bp = Blueprint("assessment", __name__, url_prefix="/reports/assessment")
DOWNLOAD_FORMATS = ("xlsx", "json")


def _scope():
    """(user, unit code or None, period): access first, then the input."""
    user = current_user()
    department = permissions.assessment_department(user, request.args.get("department") or None)
    raw = request.args.get("period") or month_before(local(clock_now()).date()).key
    return user, department, parse_period(raw)


def _people(user: User, department: str | None, period, rules) -> list[dict] | None:
    """A unit's people, for one unit only (a 科室负责人's own, or the one the office chose)."""
    if department is None:
        return None
    return people_assessment(db(), period, rules, department_code=department)


@bp.route("")
@login_required
def page():
    user, department, period = _scope()
    rules = load_rules(settings().instance_dir)
    data = build_assessment(db(), period, rules, department_code=department)
    people = _people(user, department, period, rules)
    bureau = data["bureau"]
    rate_chart = charts.percent_bars(
        [
            (gettext(label), bureau["rates"][key]["rate"], _caption(bureau["rates"][key]), higher_is_better)
            for key, (label, higher_is_better) in RATES.items()
        ],
        title=gettext("全局各项比率"),
    )
    ranked = [u for u in data["units"] if u["score"] is not None][:15]
    score_chart = charts.percent_bars(
        [
            (u["name"], u["score"] / 100, f"#{u['rank']}" if u["rank"] else gettext("不排名"), True)
            for u in ranked
        ],
        title=gettext("综合得分"),
        empty=gettext("暂无数据"),
    )
    departments = (
        list(db().scalars(select(Department).where(Department.is_active).order_by(Department.code)))
        if user.role in permissions.READ_ANY_ROLES
        else [user.department]
    )
    return render_template(
        "reports/assessment.html",
        data=data,
        period=period,
        department=department,
        departments=departments,
        people=people,
        rates=RATES,
        rate_chart=rate_chart,
        score_chart=score_chart,
        sees_bureau_drill=user.role in permissions.READ_ANY_ROLES,
        supervised_label=SUPERVISED_LABEL,
    )


def _caption(entry: dict) -> str:
    return f"{entry['num']} / {entry['den']}"


@bp.route("/download")
@login_required
def download():
    user, department, period = _scope()
    fmt = request.args.get("format", "xlsx")
    if fmt not in DOWNLOAD_FORMATS:
        raise ValidationError(f"不支持的格式 {fmt!r}", fields={"format": "应为 xlsx 或 json"})
    rules = load_rules(settings().instance_dir)
    data = build_assessment(db(), period, rules, department_code=department)
    people = _people(user, department, period, rules)
    if fmt == "json":
        if people is not None:
            data["people"] = people
        body, mime = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"), "application/json"
    else:
        name = data["units"][0]["name"] if department and data["units"] else ""
        body, mime = assessment_xlsx(data, people=people, unit_name=name), XLSX_MIME
    db().add(
        AuditEntry(
            at=utcnow(),
            user_id=user.id,
            action="report.export",
            object_type="assessment",
            object_id=f"{period.key}:{department or '*'}",
            ip=request.remote_addr,
            detail={"format": fmt},
        )
    )
    db().commit()
    response = Response(body, mimetype=mime)
    response.headers["Content-Disposition"] = (
        f"attachment; filename*=UTF-8''{quote(assessment_filename(data, fmt))}"
    )
    return response


@bp.route("/drill")
@login_required
def drill():
    user, department, period = _scope()
    figure = request.args.get("figure", "")
    part = request.args.get("part", "den")
    if figure not in SOURCE_OF:
        raise ValidationError(f"未知的考核指标 {figure!r}", fields={"figure": "未知"})
    if part not in PARTS:
        raise ValidationError("part 应为 num 或 den", fields={"part": "取值无效"})
    person_id = int_arg(request.args, "person", low=1, high=2**31 - 1)
    person = None
    if person_id is not None:
        person = db().get(User, person_id)
        # A person is drilled within a unit the caller may see: the office must name the unit too.
        if person is None or department is None or person.department.code != department:
            raise NotFound("该人员不在可查看的部门中")
    rules = load_rules(settings().instance_dir)
    result = drill_for(
        db(),
        period,
        rules,
        user,
        figure=figure,
        part=part,
        department_code=department,
        user_id=person_id,
    )
    unit = db().scalar(select(Department).where(Department.code == department)) if department else None
    label = (
        RATES[figure][0] if figure in RATES else (SUPERVISED_LABEL if figure == "supervised" else "受理量")
    )
    what = PART_LABELS.get(figure, ("本期派单的工单", "本期派单的工单"))[0 if part == "num" else 1]
    return render_template(
        "reports/assessment_drill.html",
        result=result,
        period=period,
        department=department,
        unit=unit,
        person=person,
        label=label,
        what=what if figure != "received" else "本期派单的工单",
        part=part,
        tz=BUSINESS_TZ,
        statuses=STATUS_LABELS,
    )
